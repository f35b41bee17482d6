"""Faults a simulated upstream can be told to commit, for tests of the router's bounds.

``huge``: a body (or, streaming, one SSE event) of ``size`` bytes; ``gzip``: the same, sent
gzip-compressed with ``content-encoding: gzip`` (a small body that inflates to ``size``);
``endless``: a stream whose events never end, one every ``chunk_delay_s``, until the client
goes away.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]

Fault = Literal["huge", "gzip", "endless"]
FAULTS: Final = frozenset({"huge", "gzip", "endless"})
PIECE: Final = 64 * 1024
CHUNK: Final = b'data: {"choices":[{"index":0,"delta":{"content":"more "}}]}\n\n'


def _payload(size: int, *, stream: bool) -> bytes:
    """``size`` bytes of one JSON object (an SSE event's data when streaming), not ended."""
    head = b'data: {"x":"' if stream else b'{"x":"'
    return head + b"a" * max(0, size - len(head) - 2) + b'"}'


def answer(fault: Fault, size: int, *, stream: bool) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and whole body of a ``huge`` or ``gzip`` answer."""
    kind = b"text/event-stream" if stream else b"application/json"
    headers = [(b"content-type", kind)]
    body = _payload(size, stream=stream)
    if fault == "gzip":
        body = gzip.compress(body, compresslevel=9)
        headers.append((b"content-encoding", b"gzip"))
    return headers, body


async def send_body(body: bytes, send: Send) -> None:
    """``body`` in pieces of `PIECE` bytes."""
    for start in range(0, len(body), PIECE):
        piece = body[start : start + PIECE]
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def endless(delay_s: float, receive: Receive, send: Send) -> None:
    """Send events every ``delay_s`` until the client goes away."""
    left = anyio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        left.set()

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        while not left.is_set():
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
            await anyio.sleep(delay_s)
        group.cancel_scope.cancel()
