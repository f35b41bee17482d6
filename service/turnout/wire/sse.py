"""Server-sent events: splitting a byte stream into events, reading an event, writing one.

The splitter looks for an event's end only in bytes it has not looked at yet and appends to one
buffer, so one large event costs time linear in its size, however it is chunked.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

import msgspec

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

_EVENT_END: Final = re.compile(rb"\r?\n\r?\n")
_LONGEST_END: Final = 4
_ENCODER: Final = msgspec.json.Encoder()
DATA: Final = b"data:"
EVENT: Final = b"event:"
DONE: Final = b"[DONE]"


class EventTooLarge(Exception):
    """An event is longer than the relay's bound."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"an SSE event over {limit} bytes")
        self.limit = limit


async def split_events(
    chunks: AsyncIterator[bytes], max_bytes: int = 2**63
) -> AsyncIterator[list[bytes]]:
    """The complete events of each chunk (without their blank line), as soon as each ends.

    Bytes after the last complete event, when the stream ends, come as a last event.

    Raises:
        EventTooLarge: an event, complete or not, is over ``max_bytes``.
    """
    pending = bytearray()
    async for chunk in chunks:
        scan_from = max(0, len(pending) - _LONGEST_END + 1)
        pending += chunk
        found: list[bytes] = []
        start = 0
        for end in _EVENT_END.finditer(pending, scan_from):
            if end.start() >= start:
                found.append(bytes(pending[start : end.start()]))
                start = end.end()
        if len(pending) - start > max_bytes or any(len(event) > max_bytes for event in found):
            raise EventTooLarge(max_bytes)
        if found:
            del pending[:start]
            yield found
    if pending.strip():
        yield [bytes(pending)]


def event_data(event: bytes) -> bytes | None:
    """The data of an event (its ``data:`` lines joined), or None when it has none."""
    lines = [line[len(DATA) :].strip() for line in event.splitlines() if line.startswith(DATA)]
    return b"\n".join(lines) if lines else None


def event_name(event: bytes) -> bytes | None:
    """The event's ``event:`` name, if it has one."""
    for line in event.splitlines():
        if line.startswith(EVENT):
            return line[len(EVENT) :].strip()
    return None


def named_event(name: str, data: object) -> bytes:
    """An event with a name and JSON data, as the Responses and Messages APIs write them."""
    return b"event: " + name.encode() + b"\ndata: " + _ENCODER.encode(data) + b"\n\n"
