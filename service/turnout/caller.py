"""Who is calling: the client (by a hash of its API key) and the conversation.

A client is told apart by the SHA-256 of the API key it sends (a bearer token, or ``x-api-key``
as Anthropic's SDKs send it); the key itself is never
kept, logged or compared. Clients listed in the config (``clients``, by key hash) carry a name,
a tier and a team; with ``auth.required`` no other key gets in (401). Clients without a key are
``anonymous``. A conversation is named by ``x-session-id`` (or the body's ``user``), scoped to
its client, so two tenants choosing the same id never share one.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from turnout.errors import AuthenticationFailed

if TYPE_CHECKING:
    from collections.abc import Iterable

    from turnout.config import ClientSettings, Settings

ANONYMOUS: Final = "anonymous"
SESSION_HEADER: Final = b"x-session-id"
API_KEY_HEADER: Final = b"x-api-key"
MAX_SESSION_CHARS: Final = 256


@dataclass(frozen=True, slots=True)
class Caller:
    """The client and, when it names one, the conversation."""

    key: str
    session: str | None = None
    client: ClientSettings | None = None
    headers: Iterable[tuple[bytes, bytes]] = ()
    """The request's headers as ASGI gives them (names lower case), for rules on headers."""

    def header(self, name: bytes) -> str | None:
        """The value of header ``name`` (lower case), if the request has it."""
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None

    @property
    def tier(self) -> str | None:
        """The configured client's tier, if any."""
        return None if self.client is None else self.client.tier

    def conversation(self, user: str | None) -> str | None:
        """The conversation, scoped to this client: its session, else the request's ``user``."""
        if self.session is not None:
            return f"{self.key}:session:{self.session}"
        if user is None:
            return None
        if len(user) > MAX_SESSION_CHARS:  # a bounded key, however long the body's ``user``
            user = "sha256:" + hashlib.sha256(user.encode()).hexdigest()
        return f"{self.key}:user:{user}"


def key_hash(token: bytes) -> str:
    """The SHA-256 of an API key, as ``clients[].key_sha256`` and ``turnout key hash`` write it."""
    return hashlib.sha256(token).hexdigest()


def _token(headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes | None, str | None]:
    """The API key and the session a request's ASGI headers (lower case) carry.

    A bearer token wins over ``x-api-key`` when a request has both.

    Raises:
        AuthenticationFailed: an ``authorization`` header that is not ``Bearer <key>``.
    """
    token = session = api_key = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, given = value.partition(b" ")
            if scheme.lower() != b"bearer" or not given.strip():
                raise AuthenticationFailed("authorization: expected 'Bearer <API key>'")
            token = given.strip()
        elif name == API_KEY_HEADER:
            api_key = value.strip() or None
        elif name == SESSION_HEADER:
            session = value.decode("latin-1").strip()[:MAX_SESSION_CHARS] or None
    return token or api_key, session


class Clients:
    """Identifies callers against the configured clients, and checks the admin key."""

    def __init__(self, settings: Settings) -> None:
        self._clients = {client.key_sha256: client for client in settings.clients}
        self._required = settings.auth.required
        self._admin = settings.auth.admin_key_sha256

    def identify(self, headers: Iterable[tuple[bytes, bytes]]) -> Caller:
        """The caller of a request.

        Raises:
            AuthenticationFailed: ``auth.required`` and the key is missing or unknown, or the
                ``authorization`` header is malformed.
        """
        token, session = _token(headers)
        key = ANONYMOUS if token is None else key_hash(token)
        client = self._clients.get(key)
        if client is None and self._required:
            raise AuthenticationFailed(
                "missing API key" if token is None else "invalid API key: not a known client"
            )
        return Caller(key, session, client, headers)

    def require_admin(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Let only the admin key through.

        Raises:
            AuthenticationFailed: no admin key is configured, or the request does not carry it.
        """
        if self._admin is None:
            raise AuthenticationFailed("admin endpoints are off: set auth.admin_key_sha256")
        if not self.is_admin(headers):
            raise AuthenticationFailed("invalid admin key")

    def is_admin(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        """Whether the request carries the admin key.

        Raises:
            AuthenticationFailed: the ``authorization`` header is malformed.
        """
        token, _ = _token(headers)
        if self._admin is None or token is None:
            return False
        return hmac.compare_digest(key_hash(token), self._admin)
