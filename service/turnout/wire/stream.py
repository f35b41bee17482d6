"""Translating a Chat Completions stream into another API's events, chunk by chunk.

`ChatStream` reads each chunk's delta (text, refusal, tool-call fragments, finish reason and
usage), folds them into the `Answer` so far, and asks its subclass for the events each piece
becomes; `translate` drives it over an upstream's SSE stream.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import msgspec

from turnout.wire.completion import COMPLETION, Answer, Call
from turnout.wire.sse import DONE, event_data, split_events

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from turnout.wire.completion import Message


class ChatStream(ABC):
    """Reads Chat Completions chunks; a subclass writes each piece in its own API's events."""

    def __init__(self) -> None:
        self.answer = Answer()
        self._texts: list[str] = []
        self._by_index: dict[int, int] = {}

    def start(self) -> bytes:
        """The events that open the stream, before any chunk."""
        return b""

    @abstractmethod
    def text(self, delta: str) -> bytes:
        """The events of a piece of the answer's text."""
        ...

    @abstractmethod
    def refusal(self, delta: str) -> bytes:
        """The events of a piece of a refusal."""
        ...

    @abstractmethod
    def call(self, position: int, call: Call) -> bytes:
        """The events that open tool call number ``position`` of the answer."""
        ...

    @abstractmethod
    def arguments(self, position: int, delta: str) -> bytes:
        """The events of a piece of a tool call's arguments."""
        ...

    @abstractmethod
    def finish(self) -> bytes:
        """The events that close the stream, once the upstream's has ended."""
        ...

    def feed(self, data: bytes) -> bytes:
        """The events of one chunk (an SSE event's data); a chunk that is not JSON is skipped."""
        try:
            completion = COMPLETION.decode(data)
        except (msgspec.MsgspecError, RecursionError):
            return b""
        if completion.usage is not None:
            self.answer.usage = completion.usage
        if not completion.choices:
            return b""
        choice = completion.choices[0]
        out = b"" if choice.delta is None else self._delta(choice.delta)
        if choice.finish_reason is not None:
            self.answer.finish_reason = choice.finish_reason
        return out

    def close(self) -> bytes:
        """`finish`, once the answer's text is complete."""
        self.answer.text = "".join(self._texts)
        return self.finish()

    def _delta(self, delta: Message) -> bytes:
        out: list[bytes] = []
        if delta.content:
            self._texts.append(delta.content)
            out.append(self.text(delta.content))
        if delta.refusal:
            self.answer.refusal += delta.refusal
            out.append(self.refusal(delta.refusal))
        calls = self.answer.calls
        for fragment in delta.tool_calls or ():
            position = self._by_index.get(fragment.index)
            if position is None:
                position = self._by_index[fragment.index] = len(calls)
                function = fragment.function
                calls.append(Call(fragment.id or f"call_{position}", function.name or ""))
                out.append(self.call(position, calls[position]))
            arguments = fragment.function.arguments
            if arguments:
                calls[position].arguments += arguments
                out.append(self.arguments(position, arguments))
        return b"".join(out)


async def translate(
    chunks: AsyncIterator[bytes], stream: ChatStream, max_event_bytes: int
) -> AsyncIterator[bytes]:
    """An upstream's Chat Completions SSE ``chunks`` as ``stream``'s events.

    Raises:
        UpstreamError: from ``chunks``, when the connection breaks mid-stream.
        EventTooLarge: an upstream event is over ``max_event_bytes``.
    """
    yield stream.start()
    async for events in split_events(chunks, max_event_bytes):
        out: list[bytes] = []
        for event in events:
            data = event_data(event)
            if data is None or data == DONE:
                continue
            out.append(stream.feed(data))
        written = b"".join(out)
        if written:
            yield written
    yield stream.close()
