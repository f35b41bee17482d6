"""Response shaping on the way back: the chosen ``provider/model`` goes into the body's ``model``.

JSON bodies and each SSE event are rewritten at the top level only (other fields stay raw bytes);
a body that is not a JSON object passes through untouched. SSE is relayed event by event, as soon
as each event is complete, without buffering the stream.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

import msgspec

from turnout.wire.chat import Fields, encode_with_model

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from turnout.gateway.upstream import UpstreamResponse

_FIELDS: Final = msgspec.json.Decoder(Fields)
_EVENT_END: Final = re.compile(rb"\r?\n\r?\n")
_DATA: Final = b"data:"


def rewrite_model(body: bytes, model: str) -> bytes:
    """``body`` with its top-level ``model`` set to ``model``; unchanged if it has none."""
    try:
        fields = _FIELDS.decode(body)
    except msgspec.MsgspecError:
        return body
    if "model" not in fields:
        return body
    return encode_with_model(fields, model)


def _rewrite_event(event: bytes, model: str) -> bytes:
    lines = event.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(_DATA):
            payload = line[len(_DATA) :].strip()
            if payload.startswith(b"{"):
                lines[i] = b"data: " + rewrite_model(payload, model)
    return b"\n".join(lines)


async def relay_sse(response: UpstreamResponse, model: str) -> AsyncIterator[bytes]:
    """Relay an upstream SSE response with ``model`` rewritten; always closes the response.

    Closing an unfinished response drops its connection, which is how a client's disconnect
    cancels the upstream request.

    Raises:
        UpstreamError: the upstream connection broke mid-stream.
    """
    try:
        async for events in _events(response.chunks(), model):
            yield events
    finally:
        response.close()


async def _events(chunks: AsyncIterator[bytes], model: str) -> AsyncIterator[bytes]:
    pending = b""
    async for chunk in chunks:
        pending += chunk
        out: list[bytes] = []
        start = 0
        for end in _EVENT_END.finditer(pending):
            out.append(_rewrite_event(pending[start : end.start()], model) + b"\n\n")
            start = end.end()
        if out:
            pending = pending[start:]
            yield b"".join(out)
    if pending:
        yield pending
