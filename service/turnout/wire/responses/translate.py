"""A Responses request as the flow carries it: its Chat Completions translation and native body.

Earlier turns (from ``previous_response_id``) come first in both. A function call becomes an
assistant message's ``tool_calls`` entry (consecutive calls share one message, as Chat
Completions has them) with its ``call_id`` as the call's ``id``; its output becomes a ``tool``
message. Developer messages become system messages, which every Chat Completions endpoint
reads. The native body is the client's, with the earlier turns put in ``input``, and
``previous_response_id`` and ``store`` left to turnout, which keeps the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import msgspec

from turnout.wire.chat import decode_chat
from turnout.wire.request import Native, Request
from turnout.wire.responses.request import (
    FunctionCall,
    FunctionCallOutput,
    InputImage,
    InputText,
    MessageItem,
    OutputText,
    Reasoning,
    Refusal,
    answered_calls,
    decode_items,
    decode_responses,
)

if TYPE_CHECKING:
    from turnout.wire.chat import Fields
    from turnout.wire.responses.request import FunctionTool, Item, Part, ResponsesRequest

_ENCODER: Final = msgspec.json.Encoder()
_FALSE: Final = msgspec.Raw(b"false")
_FIELDS: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
_OURS: Final = frozenset({"previous_response_id", "store"})


@dataclass(frozen=True, slots=True)
class ResponsesCall:
    """A decoded Responses request: the flow's `Request`, and what its answer echoes."""

    request: Request
    body: ResponsesRequest
    tools: tuple[FunctionTool, ...]
    items: tuple[msgspec.Raw, ...]
    """Every input item of the conversation, earlier turns first, as JSON: what a stored
    response keeps for the next turn."""


def read_responses(body: bytes, history: tuple[msgspec.Raw, ...] = ()) -> ResponsesCall:
    """Decode a Responses body, after ``history`` (the earlier turns' items, as stored).

    Raises:
        InvalidRequest: see `turnout.wire.responses.request.decode_responses`.
    """
    request, items, tools = decode_responses(body)
    earlier = decode_items(list(history), "previous_response_id") if history else []
    given = request.input
    raws = (_user_message(given),) if isinstance(given, str) else tuple(given)
    chat = _chat_body(request, [*earlier, *items], tools)
    fields, decoded = decode_chat(_ENCODER.encode(chat))
    native = _native(body, history, raws)
    flow_request = Request(
        fields, decoded, Native("responses", native), answers_calls=answered_calls(items)
    )
    return ResponsesCall(flow_request, request, tuple(tools), (*history, *raws))


def _user_message(text: str) -> msgspec.Raw:
    return msgspec.Raw(_ENCODER.encode({"role": "user", "content": text}))


def _native(body: bytes, history: tuple[msgspec.Raw, ...], raws: tuple[msgspec.Raw, ...]) -> Fields:
    fields = {key: value for key, value in _FIELDS.decode(body).items() if key not in _OURS}
    fields["store"] = _FALSE
    if history:
        fields["input"] = msgspec.Raw(_ENCODER.encode([*map(_without_id, history), *raws]))
    return fields


def _without_id(raw: msgspec.Raw) -> msgspec.Raw:
    """A stored item without its id: the id is turnout's, which an upstream does not know."""
    item = msgspec.json.decode(raw)
    if isinstance(item, dict) and item.get("type") in {"message", "function_call", None}:
        item.pop("id", None)
    return msgspec.Raw(_ENCODER.encode(item))


def _chat_body(
    request: ResponsesRequest, items: list[Item], tools: list[FunctionTool]
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model, "messages": _messages(request, items)}
    if tools:
        body["tools"] = [_tool(tool) for tool in tools]
    choice = request.tool_choice
    if choice is not None:
        body["tool_choice"] = (
            choice
            if isinstance(choice, str)
            else {"type": "function", "function": {"name": choice.name}}
        )
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    optional = {
        "max_completion_tokens": request.max_output_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "parallel_tool_calls": request.parallel_tool_calls,
        "user": request.safety_identifier or request.user,
        "prompt_cache_key": request.prompt_cache_key,
        "service_tier": request.service_tier,
        "reasoning_effort": request.reasoning.effort if request.reasoning else None,
        "verbosity": request.text.verbosity if request.text else None,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if request.top_logprobs:
        body["logprobs"] = True
        body["top_logprobs"] = request.top_logprobs
    text_format = request.text.format if request.text else None
    if text_format is not None and text_format.type == "json_object":
        body["response_format"] = {"type": "json_object"}
    elif text_format is not None and text_format.type == "json_schema":
        schema: dict[str, Any] = {
            "name": text_format.name or "response",
            "schema": text_format.schema or {},
        }
        if text_format.strict is not None:
            schema["strict"] = text_format.strict
        if text_format.description:
            schema["description"] = text_format.description
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    return body


def _tool(tool: FunctionTool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _messages(request: ResponsesRequest, items: list[Item]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    calling: dict[str, Any] | None = None  # the assistant message the next call joins
    for item in items:
        if isinstance(item, FunctionCall):
            if calling is None:
                calling = {"role": "assistant", "content": None}
                messages.append(calling)
            function = {"name": item.name, "arguments": item.arguments}
            calling.setdefault("tool_calls", []).append(
                {"id": item.call_id, "type": "function", "function": function}
            )
            continue
        calling = None
        if isinstance(item, FunctionCallOutput):
            output = item.output if isinstance(item.output, str) else _text(item.output)
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": output})
        elif isinstance(item, MessageItem):
            message = _message(item)
            messages.append(message)
            calling = message if item.role == "assistant" else None
        elif not isinstance(item, Reasoning):
            raise AssertionError(f"unhandled item {item!r}")
    return messages


def _message(item: MessageItem) -> dict[str, Any]:
    role = "system" if item.role == "developer" else item.role
    content = item.content
    if isinstance(content, str):
        return {"role": role, "content": content}
    if role == "assistant" or all(
        isinstance(part, (InputText, OutputText, Refusal)) for part in content
    ):
        return {"role": role, "content": _text(content)}
    return {"role": role, "content": [_part(part) for part in content]}


def _part(part: Part) -> dict[str, Any]:
    if isinstance(part, InputImage):
        detail = "high" if part.detail == "original" else part.detail  # Chat has no "original"
        return {"type": "image_url", "image_url": {"url": part.image_url, "detail": detail}}
    return {"type": "text", "text": _text([part])}


def _text(parts: list[Part]) -> str:
    texts: list[str] = []
    for part in parts:
        if isinstance(part, (InputText, OutputText)):
            texts.append(part.text)
        elif isinstance(part, Refusal):
            texts.append(part.refusal)
    return "\n".join(texts)
