"""Response shaping on the way back: the chosen ``provider/model`` goes into the body's ``model``.

JSON bodies and each SSE event are rewritten at the top level only (other fields stay raw bytes);
a body that is not a JSON object passes through untouched. SSE is relayed event by event, as soon
as each event is complete, without buffering the stream.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Final

import msgspec

from turnout.errors import UpstreamUnavailable
from turnout.wire.chat import Fields, encode_with_model
from turnout.wire.sse import DATA, EventTooLarge, split_events
from turnout.wire.stream import translate

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Iterator

    from turnout.gateway.upstream import UpstreamResponse
    from turnout.wire.stream import ChatStream

_FIELDS: Final = msgspec.json.Decoder(Fields)


def rewrite_model(body: bytes, model: str) -> bytes:
    """``body`` with its top-level ``model`` set to ``model``; unchanged if it has none."""
    try:
        fields = _FIELDS.decode(body)
    except (msgspec.MsgspecError, RecursionError):
        return body
    if "model" not in fields:
        return body
    return encode_with_model(fields, model)


def rewrite_event(event: bytes, model: str) -> bytes:
    """One SSE event with the top-level ``model`` of its JSON data lines set to ``model``."""
    lines = event.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(DATA):
            payload = line[len(DATA) :].strip()
            if payload.startswith(b"{"):
                lines[i] = b"data: " + rewrite_model(payload, model)
    return b"\n".join(lines)


async def relay_sse(
    response: UpstreamResponse, rewrite: Callable[[bytes], bytes]
) -> AsyncGenerator[bytes, None]:
    """Relay an upstream SSE response event by event, each through ``rewrite``; close it after.

    Closing an unfinished response drops its connection, which is how a client's disconnect
    cancels the upstream request.

    Raises:
        UpstreamError: the upstream connection broke mid-stream.
    """
    try:
        with _bounded(response):
            async for events in split_events(response.chunks(), response.max_event_bytes):
                yield b"".join(rewrite(event) + b"\n\n" for event in events)
    finally:
        response.close()


async def relay_translated(
    response: UpstreamResponse, stream: ChatStream
) -> AsyncGenerator[bytes, None]:
    """Relay an upstream Chat Completions stream as ``stream``'s API; always closes it.

    Raises:
        UpstreamError: the upstream connection broke mid-stream.
    """
    try:
        with _bounded(response):
            async for events in translate(response.chunks(), stream, response.max_event_bytes):
                yield events
    finally:
        response.close()


@contextlib.contextmanager
def _bounded(response: UpstreamResponse) -> Iterator[None]:
    """An event over the bound is the upstream's fault, as a broken connection is."""
    try:
        yield
    except EventTooLarge as exc:
        raise UpstreamUnavailable(f"{response.target}: {exc}", target=response.target) from exc
