"""The headers every response carries, errors included: ``x-request-id`` and the decision's.

The id is the client's, when it sent a sane one, or a new one. Responses on the Messages API
also carry it as ``request-id``, where Anthropic's SDKs read it. A request that failed after
its decision also carries the decision's ``x-turnout-*`` headers (`keep_headers`).
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from litestar.types import Message, Scope

HEADER: Final = "x-request-id"
_SANE: Final = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
_KEY: Final = "turnout.request_id"
_HEADERS: Final = "turnout.headers"


def request_id(scope: Scope) -> str:
    """The request's id, created once per request and kept in the ASGI scope's state."""
    state = scope.setdefault("state", {})
    found: str | None = state.get(_KEY)
    if found is None:
        sent = next(
            (value for name, value in scope.get("headers", ()) if name == b"x-request-id"), b""
        )
        found = sent.decode() if _SANE.match(sent) else f"req_{secrets.token_hex(12)}"
        state[_KEY] = found
    return found


def keep_headers(scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
    """Headers for the response to this request, whichever handler writes it (an error's)."""
    scope.setdefault("state", {})[_HEADERS] = headers


async def add_request_id(message: Message, scope: Scope) -> None:
    """Litestar ``before_send`` hook: stamp every response, errors and 404s included."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers", ()))
        headers += scope.get("state", {}).get(_HEADERS, ())
        value = request_id(scope).encode()
        headers.append((b"x-request-id", value))
        if scope.get("path", "").startswith("/v1/messages"):
            headers.append((b"request-id", value))
        message["headers"] = headers
