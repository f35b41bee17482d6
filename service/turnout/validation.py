"""Turns msgspec's validation messages into a key path and a reason (config and request errors)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import msgspec

_LOCATED: Final = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_KEYED: Final = (
    (re.compile(r"^Object contains unknown field `(?P<key>[^`]+)`$"), "unknown key"),
    (re.compile(r"^Object missing required field `(?P<key>[^`]+)`$"), "required key missing"),
)


def describe(exc: msgspec.ValidationError) -> tuple[str, str]:
    """Split ``"Expected `int`, got `str` - at `$.a[0].b`"`` into ``("a[0].b", "expected ...")``.

    Unknown and missing keys are folded into the path, so the path always names the key at fault.
    An empty path means the document root.
    """
    match = _LOCATED.match(str(exc))
    what, path = (match["what"], (match["path"] or "").lstrip(".")) if match else (str(exc), "")
    for pattern, reason in _KEYED:
        found = pattern.match(what)
        if found:
            return (f"{path}.{found['key']}" if path else found["key"]), reason
    return path, what[:1].lower() + what[1:]
