"""The front door: uvicorn's httptools protocol with bounds on what a client may hold open.

uvicorn bounds neither a request's header bytes nor the time its headers take, so one client
could send headers of any size, or one byte a second, and be kept forever. This protocol
refuses headers (request line included) over ``server.max_header_bytes`` with a 431, and closes
a connection whose request headers have not all arrived ``server.header_timeout_s`` after the
connection opened or the request's first byte came. Idle keep-alive connections are closed by
uvicorn's own ``timeout_keep_alive``; a slow body is bounded by ``server.body_timeout_s`` in
`turnout.http.surface`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    import asyncio

    from turnout.config import ServerSettings

logger = logging.getLogger(__name__)

TOO_LARGE: Final = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)
_TOO_LARGE_BODY: Final = (
    b'{"error": {"message": "request headers are over the limit", '
    b'"type": "invalid_request_error", "param": null, "code": "request_headers_too_large"}}'
)


class _HeadersTooLarge(Exception):
    """Raised from a parser callback to stop reading a request whose headers are too large.

    httptools turns it into a parse error, for which uvicorn calls `send_400_response`.
    """


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` with a header size limit and a header read timeout."""

    max_header_bytes: ClassVar[int] = 64 * 1024
    header_timeout_s: ClassVar[float] = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override] # uvicorn narrows it too
        """Start the clock on the first request's headers."""
        super().connection_made(transport)
        self._header_bytes = 0
        self._refusing = False
        self._header_timer: asyncio.TimerHandle | None = None
        self._wait_for_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._stop_header_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """The 400 of a malformed request; headers over the limit get a 431 instead."""
        if not self._refusing:
            super().send_400_response(msg)
            return
        self.transport.write(TOO_LARGE % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY))
        self.transport.close()

    def on_message_begin(self) -> None:
        """A new request: count its header bytes from zero."""
        super().on_message_begin()
        self._header_bytes = 0
        if self._header_timer is None:
            self._wait_for_headers()

    def on_url(self, url: bytes) -> None:
        """Count the request line."""
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count each header."""
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The headers came in time."""
        self._stop_header_timer()
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            self._refusing = True
            logger.warning("refused a request with over %d header bytes", self.max_header_bytes)
            raise _HeadersTooLarge

    def _wait_for_headers(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.cycle is None or self.cycle.response_complete:
            logger.info(
                "closed a connection whose request headers took over %gs", self.header_timeout_s
            )
            self.transport.close()


def bounded_protocol(settings: ServerSettings) -> type[BoundedHttpToolsProtocol]:
    """The protocol class for uvicorn, with ``settings``' bounds."""
    return type(
        "TurnoutHttpProtocol",
        (BoundedHttpToolsProtocol,),
        {
            "max_header_bytes": settings.max_header_bytes,
            "header_timeout_s": settings.header_timeout_s,
        },
    )
