"""The Chat Completions wire model: what routing reads of a body, plus its raw fields to forward.

The body is read twice by msgspec, both cheap: once as ``dict[str, Raw]`` (top-level keys with
their undecoded JSON, so unknown fields are forwarded byte for byte and only ``model`` is
rewritten), and once into `ChatRequest`, which ignores every field routing does not use.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from turnout.errors import InvalidRequest
from turnout.wire.body import decode_body

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
NEEDS_CONTENT: Final = frozenset({"system", "developer", "user", "tool"})
"""Roles whose messages must have content (an assistant's may hold only tool calls)."""


class ContentPart(msgspec.Struct, frozen=True):
    """One part of a multi-part message; other keys (``image_url``, ...) are ignored here."""

    type: str
    text: str | None = None


class Message(msgspec.Struct, frozen=True):
    """One chat message, as far as routing cares."""

    role: Role
    content: str | list[ContentPart] | None = None
    tool_call_id: str | None = None


class ResponseFormat(msgspec.Struct, frozen=True):
    """``response_format``: only its type matters for routing (JSON mode needs a capable model)."""

    type: str


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of a chat-completions request that routing reads."""

    model: str = "auto"
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    stream: bool | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    tools: list[msgspec.Raw] | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None

    @property
    def output_limit(self) -> int | None:
        """The most tokens the client lets the model write, if it said."""
        return self.max_completion_tokens or self.max_tokens


Fields = dict[str, msgspec.Raw]

_FIELDS: Final = msgspec.json.Decoder(Fields)
_REQUEST: Final = msgspec.json.Decoder(ChatRequest)
_ENCODER: Final = msgspec.json.Encoder()


def decode_chat(body: bytes) -> tuple[Fields, ChatRequest]:
    """Decode a chat completions body.

    Raises:
        InvalidRequest: not UTF-8 JSON, not an object, or a routing field with the wrong type.
    """
    fields = decode_body(_FIELDS, body)
    request = decode_body(_REQUEST, body)
    if not request.model:
        raise InvalidRequest("model: must not be empty", param="model")
    for i, message in enumerate(request.messages):
        if message.content is None and message.role in NEEDS_CONTENT:
            key = f"messages[{i}].content"
            raise InvalidRequest(f"{key}: required for a {message.role} message", param=key)
    return fields, request


def answered_calls(messages: list[Message]) -> tuple[str, ...]:
    """The tool calls whose results end the conversation (its trailing ``tool`` messages)."""
    calls: list[str] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        if message.tool_call_id:
            calls.append(message.tool_call_id)
    return tuple(calls)


def encode_with_model(fields: Fields, model: str) -> bytes:
    """Re-encode the body with ``model`` replaced; every other field is copied as raw bytes."""
    return _ENCODER.encode({**fields, "model": msgspec.Raw(_ENCODER.encode(model))})
