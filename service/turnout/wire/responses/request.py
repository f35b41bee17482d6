"""The Responses API's request (``POST /v1/responses``): decoded, checked, and put in Chat form.

What is supported: ``input`` as a string or as items (messages with ``input_text``,
``input_image``, ``output_text`` and ``refusal`` parts; ``function_call``;
``function_call_output``; ``reasoning``, which only targets that speak Responses can read and
which is left out of a Chat Completions translation), ``instructions``, function ``tools``,
``tool_choice``, ``parallel_tool_calls``, ``max_output_tokens``, ``temperature``, ``top_p``,
``text.format`` (text, JSON object, JSON schema), ``text.verbosity``, ``reasoning.effort``,
``stream``, ``store``, ``previous_response_id``, ``metadata``, ``user``, ``safety_identifier``,
``prompt_cache_key``, ``service_tier``, ``top_logprobs``, ``include`` and ``truncation`` (the
last two reach only native targets). Anything else is a 400 that names the parameter: built-in
tools (web search, file search, code interpreter, ...), background mode, stored prompts,
conversations, file inputs and unknown keys.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec

from turnout.errors import InvalidRequest
from turnout.wire.body import decode_body

Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
_ENCODER: Final = msgspec.json.Encoder()


class InputText(msgspec.Struct, frozen=True, tag="input_text", forbid_unknown_fields=True):
    """Text from the user (or the system)."""

    text: str


class InputImage(msgspec.Struct, frozen=True, tag="input_image", forbid_unknown_fields=True):
    """An image by URL or data URL."""

    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["auto", "low", "high", "original"] = "auto"


class OutputText(msgspec.Struct, frozen=True, tag="output_text"):
    """Text the model wrote (an earlier answer, sent back as input)."""

    text: str


class Refusal(msgspec.Struct, frozen=True, tag="refusal"):
    """A refusal the model wrote."""

    refusal: str


Part = InputText | InputImage | OutputText | Refusal


class MessageItem(msgspec.Struct, frozen=True, kw_only=True):
    """A message: from the user, the system (or developer), or an earlier answer."""

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Part]
    id: str | None = None
    status: str | None = None


class FunctionCall(msgspec.Struct, frozen=True, kw_only=True):
    """A function call the model made (sent back as input to carry on a tool loop)."""

    type: Literal["function_call"]
    call_id: Annotated[str, msgspec.Meta(min_length=1)]
    name: Annotated[str, msgspec.Meta(min_length=1)]
    arguments: str
    id: str | None = None
    status: str | None = None


class FunctionCallOutput(msgspec.Struct, frozen=True, kw_only=True):
    """The result of a function call, for the model to read."""

    type: Literal["function_call_output"]
    call_id: Annotated[str, msgspec.Meta(min_length=1)]
    output: str | list[Part]
    id: str | None = None
    status: str | None = None


class Reasoning(msgspec.Struct, frozen=True, kw_only=True):
    """A reasoning item of an earlier answer: opaque, and only a Responses target reads it."""

    type: Literal["reasoning"]


Item = MessageItem | FunctionCall | FunctionCallOutput | Reasoning
_ITEMS: Final[dict[str, type[Item]]] = {
    "message": MessageItem,
    "function_call": FunctionCall,
    "function_call_output": FunctionCallOutput,
    "reasoning": Reasoning,
}
_ITEM_DECODERS: Final = {name: msgspec.json.Decoder(kind) for name, kind in _ITEMS.items()}


class FunctionTool(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A function the model may call."""

    type: Literal["function"]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolChoiceFunction(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``tool_choice`` naming one function."""

    type: Literal["function"]
    name: str


class TextFormat(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``text.format``: plain text, a JSON object, or JSON that follows a schema."""

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class TextSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``text``: the answer's format and verbosity."""

    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``reasoning``: how hard a reasoning model thinks, and whether it summarizes."""

    effort: Effort | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None


class ResponsesRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A Responses API request body (the keys it may hold; see the module's docstring)."""

    model: str = "auto"
    input: str | list[msgspec.Raw]
    instructions: str | None = None
    tools: list[msgspec.Raw] = []
    tool_choice: Literal["auto", "none", "required"] | ToolChoiceFunction | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: Annotated[int, msgspec.Meta(ge=16)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    text: TextSettings | None = None
    reasoning: ReasoningSettings | None = None
    stream: bool = False
    store: bool = True
    previous_response_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    metadata: Annotated[dict[str, str], msgspec.Meta(max_length=16)] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    service_tier: str | None = None
    top_logprobs: Annotated[int, msgspec.Meta(ge=0, le=20)] | None = None
    include: list[str] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    background: bool | None = None
    conversation: msgspec.Raw | None = None
    prompt: msgspec.Raw | None = None
    max_tool_calls: int | None = None
    stream_options: msgspec.Raw | None = None


class _Typed(msgspec.Struct, frozen=True):
    """An item's or a tool's ``type`` and ``role``, read first to pick its decoder."""

    type: str | None = None
    role: str | None = None


_REQUEST: Final = msgspec.json.Decoder(ResponsesRequest)
_TYPED: Final = msgspec.json.Decoder(_Typed)
_TOOL: Final = msgspec.json.Decoder(FunctionTool)
_UNSUPPORTED: Final = (
    ("background", "background mode is not supported: send the request in the foreground"),
    ("conversation", "conversations are not supported: chain with previous_response_id"),
    ("prompt", "stored prompts are not supported: send the prompt's text in input"),
    ("max_tool_calls", "max_tool_calls is not supported"),
)


def decode_responses(body: bytes) -> tuple[ResponsesRequest, list[Item], list[FunctionTool]]:
    """Decode a Responses request: the body, its input items and its function tools.

    Raises:
        InvalidRequest: malformed, or asks for something turnout does not support (named).
    """
    request = decode_body(_REQUEST, body)
    if not request.model:
        raise InvalidRequest("model: must not be empty", param="model")
    for key, reason in _UNSUPPORTED:
        if getattr(request, key) not in (None, False):
            raise InvalidRequest(f"{key}: {reason}", param=key)
    return request, decode_items(request.input, "input"), _tools(request.tools)


def decode_items(given: str | list[msgspec.Raw], where: str) -> list[Item]:
    """``input`` (a string, or a list of items) as items.

    Raises:
        InvalidRequest: an item is malformed or of a type turnout does not support.
    """
    if isinstance(given, str):
        return [MessageItem(role="user", content=given)]
    if not given:
        raise InvalidRequest(f"{where}: must not be empty", param=where)
    items: list[Item] = []
    for i, raw in enumerate(given):
        at = f"{where}[{i}]"
        kind = decode_body(_TYPED, raw, at).type or "message"
        decoder = _ITEM_DECODERS.get(kind)
        if decoder is None:
            raise InvalidRequest(
                f"{at}.type: '{kind}' items are not supported (messages, function calls, their"
                " outputs and reasoning are)",
                param=f"{at}.type",
            )
        item = decode_body(decoder, raw, at)
        _check_parts(item, at)
        items.append(item)
    return items


def _check_parts(item: Item, at: str) -> None:
    content = item.content if isinstance(item, MessageItem) else None
    for j, part in enumerate(content if isinstance(content, list) else ()):
        if isinstance(part, InputImage) and not part.image_url:
            key = f"{at}.content[{j}]"
            reason = "file inputs are not supported" if part.file_id else "image_url is required"
            raise InvalidRequest(f"{key}: {reason}; send the image as image_url", param=key)


def _tools(raws: list[msgspec.Raw]) -> list[FunctionTool]:
    tools: list[FunctionTool] = []
    for i, raw in enumerate(raws):
        at = f"tools[{i}]"
        kind = decode_body(_TYPED, raw, at).type
        if kind != "function":
            raise InvalidRequest(
                f"{at}.type: built-in tool '{kind}' is not supported; only function tools are",
                param=f"{at}.type",
            )
        tools.append(decode_body(_TOOL, raw, at))
    return tools


def answered_calls(items: list[Item]) -> tuple[str, ...]:
    """The calls whose outputs end the input: the request continues their tool loop."""
    calls: list[str] = []
    for item in reversed(items):
        if not isinstance(item, FunctionCallOutput):
            break
        calls.append(item.call_id)
    return tuple(calls)
