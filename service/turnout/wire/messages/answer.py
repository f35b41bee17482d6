"""A Messages API answer, from a Chat Completions one: the message object, or its stream events.

Text becomes a ``text`` block and each tool call a ``tool_use`` block, whose id keeps only the
characters Anthropic allows in one (``[A-Za-z0-9_-]``, others become ``_``), so that the client
can send it back to any target; arguments that are not a JSON object come as
``{"arguments": "<as written>"}``. Finish reasons map to ``stop_reason`` (``stop`` to
``end_turn``, ``length`` to ``max_tokens``, ``tool_calls`` to ``tool_use``, ``content_filter``
to ``refusal``). A stream is ``message_start``, a ``content_block_start``/``_delta``/``_stop``
run per block, ``message_delta`` (stop reason and usage) and ``message_stop``.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any, Final

import msgspec

from turnout.wire.completion import COMPLETION, answer_of
from turnout.wire.sse import event_data, event_name, named_event
from turnout.wire.stream import ChatStream

if TYPE_CHECKING:
    from turnout.wire.completion import Answer, Call, Usage

_ENCODER: Final = msgspec.json.Encoder()
_UNSAFE_ID: Final = re.compile(r"[^A-Za-z0-9_-]")
STOP_REASONS: Final = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def message_id() -> str:
    """A fresh id in Anthropic's shape."""
    return f"msg_{secrets.token_hex(12)}"


def tool_id(call_id: str) -> str:
    """A tool call id that every Messages target accepts."""
    return _UNSAFE_ID.sub("_", call_id)


def tool_input(arguments: str) -> dict[str, Any]:
    """A call's JSON arguments as the object ``tool_use.input`` must be."""
    if not arguments.strip():
        return {}
    try:
        parsed = msgspec.json.decode(arguments)
    except (msgspec.MsgspecError, RecursionError):
        return {"arguments": arguments}
    return parsed if isinstance(parsed, dict) else {"arguments": arguments}


def stop_reason(answer: Answer) -> str:
    """The Messages ``stop_reason`` of a Chat answer."""
    if answer.calls:
        return "tool_use"
    return STOP_REASONS.get(answer.finish_reason or "stop", "end_turn")


def usage(found: Usage | None) -> dict[str, int]:
    """Anthropic's ``usage``: prompt tokens read from the provider's cache are apart."""
    if found is None:
        return {"input_tokens": 0, "output_tokens": 0}
    return {
        "input_tokens": found.prompt_tokens - found.cached,
        "output_tokens": found.completion_tokens,
        "cache_read_input_tokens": found.cached,
        "cache_creation_input_tokens": 0,
    }


def _tool_block(call: Call, *, whole: bool) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": tool_id(call.id),
        "name": call.name,
        "input": tool_input(call.arguments) if whole else {},
    }


def from_completion(body: bytes, model: str) -> tuple[bytes, tuple[str, ...]]:
    """A Chat Completions answer's message object, and the ids of its ``tool_use`` blocks.

    ``model``: the answering ``provider/model``, which the message names.

    Raises:
        msgspec.MsgspecError: the body is not a chat completion.
    """
    answer = answer_of(COMPLETION.decode(body))
    text = answer.text or answer.refusal
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    blocks = [_tool_block(call, whole=True) for call in answer.calls]
    message = _ENCODER.encode(
        {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content + blocks,
            "stop_reason": stop_reason(answer),
            "stop_sequence": None,
            "usage": usage(answer.usage),
        }
    )
    return message, tuple(block["id"] for block in blocks)


class MessagesStream(ChatStream):
    """Writes a Chat Completions stream as Messages events."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self._model = model
        self._blocks = 0
        self._open: int | None = None  # the index of the block being written
        self._text_block: int | None = None
        self._call_blocks: dict[int, int] = {}

    def start(self) -> bytes:
        """``message_start``."""
        message: dict[str, Any] = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return named_event("message_start", {"type": "message_start", "message": message})

    def text(self, delta: str) -> bytes:
        """A ``text_delta``, in a text block that opens if none is."""
        out = b""
        index = self._text_block
        if index is None or self._open != index:
            out = self._begin({"type": "text", "text": ""})
            index = self._text_block = self._blocks - 1
        return out + self._block_delta(index, {"type": "text_delta", "text": delta})

    refusal = text

    def call(self, position: int, call: Call) -> bytes:
        """A ``tool_use`` block's start."""
        out = self._begin(_tool_block(call, whole=False))
        self._call_blocks[position] = self._blocks - 1
        return out

    def arguments(self, position: int, delta: str) -> bytes:
        """An ``input_json_delta``."""
        index = self._call_blocks[position]
        return self._block_delta(index, {"type": "input_json_delta", "partial_json": delta})

    def finish(self) -> bytes:
        """The last block's stop, ``message_delta`` and ``message_stop``."""
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(self.answer), "stop_sequence": None},
            "usage": usage(self.answer.usage),
        }
        return b"".join(
            (
                self._stop(),
                named_event("message_delta", delta),
                named_event("message_stop", {"type": "message_stop"}),
            )
        )

    def _begin(self, block: dict[str, Any]) -> bytes:
        out = self._stop()
        self._open = index = self._blocks
        self._blocks += 1
        start = {"type": "content_block_start", "index": index, "content_block": block}
        return out + named_event("content_block_start", start)

    def _block_delta(self, index: int, delta: dict[str, Any]) -> bytes:
        data = {"type": "content_block_delta", "index": index, "delta": delta}
        return named_event("content_block_delta", data)

    def _stop(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open = self._open, None
        return named_event("content_block_stop", {"type": "content_block_stop", "index": index})


class _Block(msgspec.Struct, frozen=True):
    type: str = ""
    id: str | None = None


class _Message(msgspec.Struct, frozen=True):
    content: list[_Block] = []


class _Event(msgspec.Struct, frozen=True):
    content_block: _Block | None = None


_MESSAGE: Final = msgspec.json.Decoder(_Message)
_EVENT: Final = msgspec.json.Decoder(_Event)
_FIELDS: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
_OBJECT: Final = msgspec.json.Decoder(dict[str, Any])


def native_calls(body: bytes) -> tuple[str, ...]:
    """The ids of the ``tool_use`` blocks of a native Messages answer."""
    try:
        message = _MESSAGE.decode(body)
    except (msgspec.MsgspecError, RecursionError):
        return ()
    return tuple(block.id for block in message.content if block.type == "tool_use" and block.id)


class NativeMessages:
    """Rewrites a native Messages stream's ``message_start`` to the chosen model.

    It also reads the ids of the stream's ``tool_use`` blocks.
    """

    def __init__(self, model: str) -> None:
        self._model = model
        self.calls: list[str] = []

    def rewrite(self, event: bytes) -> bytes:
        """One event, rewritten when it is ``message_start``."""
        name = event_name(event)
        if name == b"content_block_start":
            self._read_call(event_data(event) or b"")
        if name != b"message_start":
            return event
        try:
            fields = _FIELDS.decode(event_data(event) or b"")
            message = _OBJECT.decode(fields["message"])
        except (msgspec.MsgspecError, KeyError, RecursionError):
            return event
        message["model"] = self._model
        fields["message"] = msgspec.Raw(_ENCODER.encode(message))
        return b"event: message_start\ndata: " + _ENCODER.encode(fields)

    def _read_call(self, data: bytes) -> None:
        try:
            block = _EVENT.decode(data).content_block
        except (msgspec.MsgspecError, RecursionError):
            return
        if block is not None and block.type == "tool_use" and block.id:
            self.calls.append(block.id)
