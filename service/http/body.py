"""Decodes a chat-completions body: only what routing needs, typed, plus the raw fields to forward.

The body is read twice by msgspec, both cheap: once as ``dict[str, Raw]`` (top-level keys with
their undecoded JSON, so unknown fields are forwarded byte for byte and only ``model`` is
rewritten), and once into `ChatRequest`, which ignores every field routing does not use.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeVar

import msgspec

from service.errors import InvalidRequest
from service.validation import describe

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ContentPart(msgspec.Struct, frozen=True):
    """One part of a multi-part message; other keys (``image_url``, ...) are ignored here."""

    type: str
    text: str | None = None


class Message(msgspec.Struct, frozen=True):
    """One chat message, as far as routing cares."""

    role: Role
    content: str | list[ContentPart] | None = None


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

T = TypeVar("T")
_FIELDS: Final = msgspec.json.Decoder(Fields)
_REQUEST: Final = msgspec.json.Decoder(ChatRequest)
_ENCODER: Final = msgspec.json.Encoder()


class Feedback(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /v1/feedback``: how good the answer of a decision was."""

    decision_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    score: Annotated[float, msgspec.Meta(ge=0, le=1)]


_FEEDBACK: Final = msgspec.json.Decoder(Feedback)


def decode_chat(body: bytes) -> tuple[Fields, ChatRequest]:
    """Decode a chat completions body.

    Raises:
        InvalidRequest: not UTF-8 JSON, not an object, or a routing field with the wrong type.
    """
    fields = decode_body(_FIELDS, body)
    request = decode_body(_REQUEST, body)
    if not request.model:
        raise InvalidRequest("model: must not be empty", param="model")
    return fields, request


def decode_feedback(body: bytes) -> Feedback:
    """Decode a feedback body.

    Raises:
        InvalidRequest: not UTF-8 JSON, or not a decision id and a score in [0, 1].
    """
    return decode_body(_FEEDBACK, body)


def decode_body(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """Decode a request body with ``decoder``; every problem is a 400 naming its key.

    Raises:
        InvalidRequest: not UTF-8 JSON, or not of the decoder's type.
    """
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        path, reason = describe(exc)
        where = f"{path}: " if path else "request body: "
        raise InvalidRequest(where + reason, param=path or None) from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"request body is not valid UTF-8: {exc.reason}") from exc


def encode_with_model(fields: Fields, model: str) -> bytes:
    """Re-encode the body with ``model`` replaced; every other field is copied as raw bytes."""
    return _ENCODER.encode({**fields, "model": msgspec.Raw(_ENCODER.encode(model))})
