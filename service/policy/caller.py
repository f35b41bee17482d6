"""Who is calling: the client's key (hashed) and the conversation, read from request headers.

A client is told apart by a SHA-256 of the bearer token it sends (never the token itself);
clients without one are ``anonymous``. A conversation is named by ``x-session-id`` (or the body's
``user``), scoped to its client, so two tenants choosing the same id never share one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable

ANONYMOUS: Final = "anonymous"
SESSION_HEADER: Final = b"x-session-id"
MAX_SESSION_CHARS: Final = 256


@dataclass(frozen=True, slots=True)
class Caller:
    """The client and, when it names one, the conversation."""

    key: str
    session: str | None = None

    def conversation(self, user: str | None) -> str | None:
        """The conversation, scoped to this client: its session, else the request's ``user``."""
        if self.session is not None:
            return f"{self.key}:session:{self.session}"
        return None if user is None else f"{self.key}:user:{user}"


def client_key(authorization: bytes | None) -> str:
    """A client's identity: a hash of its bearer token, or ``anonymous``."""
    if not authorization:
        return ANONYMOUS
    token = authorization.removeprefix(b"Bearer ").strip()
    return hashlib.sha256(token).hexdigest()[:32]


def caller_of(headers: Iterable[tuple[bytes, bytes]]) -> Caller:
    """The caller an ASGI request's headers name (header names are lower case in ASGI)."""
    authorization = session = None
    for name, value in headers:
        if name == b"authorization":
            authorization = value
        elif name == SESSION_HEADER:
            session = value.decode("latin-1").strip()[:MAX_SESSION_CHARS] or None
    return Caller(client_key(authorization), session)
