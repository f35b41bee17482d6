"""The ``x-request-id`` of every response: the client's, when it sent a sane one, or a new one.

Responses on the Messages API also carry it as ``request-id``, where Anthropic's SDKs read it.
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


async def add_request_id(message: Message, scope: Scope) -> None:
    """Litestar ``before_send`` hook: stamp every response, errors and 404s included."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers", ()))
        value = request_id(scope).encode()
        headers.append((b"x-request-id", value))
        if scope.get("path", "").startswith("/v1/messages"):
            headers.append((b"request-id", value))
        message["headers"] = headers
