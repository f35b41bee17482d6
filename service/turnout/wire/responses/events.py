"""Responses API stream events: from a Chat Completions stream, or a native one rewritten.

A translated stream opens with ``response.created`` and ``response.in_progress``; the answer's
text comes as an assistant message item (``response.output_item.added``,
``response.content_part.added``, ``response.output_text.delta`` ... ``.done``) and each tool call
as a function call item (``response.function_call_arguments.delta`` ... ``.done``); it ends with
``response.completed``, or ``response.incomplete`` when the answer was cut short. Every event
has its ``sequence_number``. Either way, the final response object is kept for storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import msgspec

from turnout.wire.responses.answer import (
    call_item,
    message_item,
    new_id,
    output_text,
    status_of,
)
from turnout.wire.sse import event_data, event_name, named_event
from turnout.wire.stream import ChatStream

if TYPE_CHECKING:
    from turnout.wire.completion import Call
    from turnout.wire.responses.answer import Shell

_ENCODER: Final = msgspec.json.Encoder()
_FIELDS: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
_RESPONSE: Final = msgspec.json.Decoder(dict[str, Any])
_LIFECYCLE: Final = frozenset(
    {
        b"response.created",
        b"response.in_progress",
        b"response.completed",
        b"response.incomplete",
        b"response.failed",
        b"response.queued",
    }
)


class ResponsesStream(ChatStream):
    """Writes a Chat Completions stream as Responses events."""

    def __init__(self, response: Shell) -> None:
        super().__init__()
        self._response = response
        self.sequence = 0
        """The next event's ``sequence_number``."""
        self._output: list[dict[str, Any]] = []
        self._message: tuple[int, str, list[str]] | None = None  # index, id, texts
        self._calls: dict[int, tuple[int, str]] = {}  # call position: output index, item id
        self.final: dict[str, Any] | None = None
        """The response object, once the stream has ended."""

    def _event(self, kind: str, **data: Any) -> bytes:
        event = named_event(kind, {"type": kind, "sequence_number": self.sequence, **data})
        self.sequence += 1
        return event

    def start(self) -> bytes:
        """``response.created`` and ``response.in_progress``."""
        body = self._response.body("in_progress", [])
        return self._event("response.created", response=body) + self._event(
            "response.in_progress", response=body
        )

    def text(self, delta: str) -> bytes:
        """The message item's text delta (opening the item first)."""
        out = self._open_message()
        index, item_id, texts = self._message or (0, "", [])
        texts.append(delta)
        return out + self._event(
            "response.output_text.delta",
            item_id=item_id,
            output_index=index,
            content_index=0,
            delta=delta,
            logprobs=[],
        )

    def refusal(self, delta: str) -> bytes:
        """A refusal is told whole, in its item's ``done`` event."""
        return self._open_message()

    def call(self, position: int, call: Call) -> bytes:
        """A function call item; the message before it is done."""
        out = self._close_message()
        item_id, index = new_id("fc"), len(self._output)
        self._calls[position] = (index, item_id)
        item = call_item(item_id, call, "in_progress")
        self._output.append(item)
        return out + self._event("response.output_item.added", output_index=index, item=item)

    def arguments(self, position: int, delta: str) -> bytes:
        """A piece of a function call's arguments."""
        index, item_id = self._calls[position]
        return self._event(
            "response.function_call_arguments.delta",
            item_id=item_id,
            output_index=index,
            delta=delta,
        )

    def finish(self) -> bytes:
        """Every open item's ``done`` events, then the response's last event."""
        out = [self._close_message()]
        for position, (index, item_id) in self._calls.items():
            call = self.answer.calls[position]
            item = self._output[index] = call_item(item_id, call, "completed")
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item_id,
                    output_index=index,
                    name=call.name,
                    arguments=call.arguments,
                )
            )
            out.append(self._event("response.output_item.done", output_index=index, item=item))
        if not self._output:  # an empty answer is still one (empty) message
            out += [self._open_message(), self._close_message()]
        status, extra = status_of(self.answer)
        self.final = self._response.body(status, self._output, self.answer.usage, **extra)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._event(kind, response=self.final))
        return b"".join(out)

    def _open_message(self) -> bytes:
        if self._message is not None:
            return b""
        index, item_id = len(self._output), new_id("msg")
        self._message = (index, item_id, [])
        item = message_item(item_id, "", "", "in_progress")
        item["content"] = []
        self._output.append(item)
        return self._event(
            "response.output_item.added", output_index=index, item=item
        ) + self._event(
            "response.content_part.added",
            item_id=item_id,
            output_index=index,
            content_index=0,
            part=output_text(""),
        )

    def _close_message(self) -> bytes:
        if self._message is None:
            return b""
        index, item_id, texts = self._message
        self._message = None
        text = "".join(texts)
        refusal, self.answer.refusal = self.answer.refusal, ""
        item = self._output[index] = message_item(item_id, text, refusal, "completed")
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        return b"".join(
            (
                self._event("response.output_text.done", **where, text=text, logprobs=[]),
                self._event("response.content_part.done", **where, part=output_text(text)),
                self._event("response.output_item.done", output_index=index, item=item),
            )
        )


class NativeResponses:
    """Rewrites a native Responses stream's lifecycle events to turnout's id and model."""

    def __init__(self, response: Shell) -> None:
        self._response = response
        self.final: dict[str, Any] | None = None
        """The response object of the stream's last lifecycle event."""

    def rewrite(self, event: bytes) -> bytes:
        """One event, rewritten when it carries the response object."""
        name = event_name(event)
        if name is None or name not in _LIFECYCLE:
            return event
        data = event_data(event)
        try:
            fields = _FIELDS.decode(data or b"")
            response = _RESPONSE.decode(fields["response"])
        except (msgspec.MsgspecError, KeyError, RecursionError):
            return event
        response = self._response.own(response)
        if name in {b"response.completed", b"response.incomplete", b"response.failed"}:
            self.final = response
        fields["response"] = msgspec.Raw(_ENCODER.encode(response))
        return b"event: " + name + b"\ndata: " + _ENCODER.encode(fields)
