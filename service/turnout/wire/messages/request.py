"""Anthropic's Messages API request (``POST /v1/messages``): decoded, checked, in Chat form.

Supported: ``system`` (a string or text blocks), ``messages`` with ``text``, ``image`` (base64 or
URL), ``tool_use``, ``tool_result``, ``thinking`` and ``redacted_thinking`` blocks, custom
``tools``, ``tool_choice`` (auto, any, tool, none; ``disable_parallel_tool_use``),
``max_tokens``, ``stop_sequences``, ``temperature``, ``top_p``, ``metadata.user_id``,
``stream``, and ``top_k``, ``thinking`` and ``service_tier`` (which reach only targets that
speak Messages). Server tools (web search, code execution, ...), documents, MCP servers and
containers are a 400 that names the parameter.

In the Chat Completions translation a ``tool_use`` block becomes an assistant ``tool_calls``
entry with the same id, a ``tool_result`` block a ``tool`` message (before the rest of its
user turn; ``is_error`` results start with ``Error:``), and thinking blocks are left out, as
Chat Completions has no place for them.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec

from turnout.errors import InvalidRequest
from turnout.wire.body import decode_body
from turnout.wire.chat import decode_chat
from turnout.wire.request import Native, Request

_ENCODER: Final = msgspec.json.Encoder()
_FIELDS: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
FORWARDED_HEADERS: Final = ("anthropic-version", "anthropic-beta")


class Base64Source(msgspec.Struct, frozen=True, tag="base64"):
    """Image bytes in the request."""

    media_type: str
    data: str


class UrlSource(msgspec.Struct, frozen=True, tag="url"):
    """An image by URL."""

    url: str


class Text(msgspec.Struct, frozen=True, tag="text"):
    """A text block."""

    text: str


class Image(msgspec.Struct, frozen=True, tag="image"):
    """An image block."""

    source: Base64Source | UrlSource


class ToolUse(msgspec.Struct, frozen=True, tag="tool_use"):
    """A tool call the model made."""

    id: Annotated[str, msgspec.Meta(min_length=1)]
    name: Annotated[str, msgspec.Meta(min_length=1)]
    input: dict[str, Any]


class ToolResult(msgspec.Struct, frozen=True, tag="tool_result"):
    """The result of a tool call."""

    tool_use_id: Annotated[str, msgspec.Meta(min_length=1)]
    content: str | list[Text | Image] = ""
    is_error: bool = False


class Thinking(msgspec.Struct, frozen=True, tag="thinking"):
    """The model's visible reasoning of an earlier turn."""

    thinking: str
    signature: str | None = None


class RedactedThinking(msgspec.Struct, frozen=True, tag="redacted_thinking"):
    """Reasoning of an earlier turn, encrypted."""

    data: str


Block = Text | Image | ToolUse | ToolResult | Thinking | RedactedThinking


class Message(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One turn."""

    role: Literal["user", "assistant"]
    content: str | list[Block]


class Tool(msgspec.Struct, frozen=True, kw_only=True):
    """A custom tool (its ``type`` is absent or ``custom``; others are server tools)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    description: str | None = None
    input_schema: dict[str, Any]
    type: Literal["custom"] | None = None


class ToolChoice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the model must use the tools."""

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Metadata(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``metadata``: an opaque id of the end user."""

    user_id: str | None = None


class MessagesRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A Messages API request body.

    ``max_tokens`` is checked by `decode_messages`: ``count_tokens`` takes the body without it.
    """

    model: str = "auto"
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    system: str | list[Text] | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    top_k: Annotated[int, msgspec.Meta(ge=0)] | None = None
    tools: list[msgspec.Raw] = []
    tool_choice: ToolChoice | None = None
    metadata: Metadata | None = None
    thinking: dict[str, Any] | None = None
    service_tier: str | None = None


class _Typed(msgspec.Struct, frozen=True):
    type: str | None = None


_REQUEST: Final = msgspec.json.Decoder(MessagesRequest)
_TYPED: Final = msgspec.json.Decoder(_Typed)
_TOOL: Final = msgspec.json.Decoder(Tool)


def decode_messages(
    body: bytes, headers: tuple[tuple[str, str], ...] = (), *, counting: bool = False
) -> tuple[MessagesRequest, Request]:
    """Decode a Messages body: the request, and its form in the flow.

    ``headers``: the client's Anthropic headers, passed on to targets that speak Messages;
    ``counting``: a ``count_tokens`` body, which has no ``max_tokens``.

    Raises:
        InvalidRequest: malformed, or asks for something turnout does not support (named).
    """
    request = decode_body(_REQUEST, body)
    if not request.model:
        raise InvalidRequest("model: must not be empty", param="model")
    if request.max_tokens is None and not counting:
        raise InvalidRequest("max_tokens: required key missing", param="max_tokens")
    tools = [_tool(raw, i) for i, raw in enumerate(request.tools)]
    fields, chat = decode_chat(_ENCODER.encode(_chat_body(request, tools)))
    native = Native("messages", _FIELDS.decode(body), headers)
    return request, Request(fields, chat, native, answers_calls=answered_calls(request.messages))


def _tool(raw: msgspec.Raw, i: int) -> Tool:
    at = f"tools[{i}]"
    kind = decode_body(_TYPED, raw, at).type
    if kind not in (None, "custom"):
        raise InvalidRequest(
            f"{at}.type: server tool '{kind}' is not supported; only custom tools are",
            param=f"{at}.type",
        )
    return decode_body(_TOOL, raw, at)


def answered_calls(messages: list[Message]) -> tuple[str, ...]:
    """The tool calls whose results the last (user) turn carries."""
    last = messages[-1]
    if last.role != "user" or isinstance(last.content, str):
        return ()
    return tuple(block.tool_use_id for block in last.content if isinstance(block, ToolResult))


def _chat_body(request: MessagesRequest, tools: list[Tool]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    system = request.system
    if system:
        text = system if isinstance(system, str) else "\n".join(block.text for block in system)
        messages.append({"role": "system", "content": text})
    for message in request.messages:
        messages += _turn(message)
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.max_tokens is not None:
        body["max_completion_tokens"] = request.max_tokens
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description or "",
                    "parameters": tool.input_schema,
                },
            }
            for tool in tools
        ]
    body.update(_choice(request.tool_choice))
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    optional = {
        "stop": request.stop_sequences or None,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "user": request.metadata.user_id if request.metadata else None,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


def _choice(choice: ToolChoice | None) -> dict[str, Any]:
    if choice is None:
        return {}
    found: dict[str, Any] = {}
    if choice.type == "tool":
        if not choice.name:
            raise InvalidRequest("tool_choice.name: required for type 'tool'", param="tool_choice")
        found["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    else:
        found["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[choice.type]
    if choice.disable_parallel_tool_use:
        found["parallel_tool_calls"] = False
    return found


def _turn(message: Message) -> list[dict[str, Any]]:
    content = message.content
    if isinstance(content, str):
        return [{"role": message.role, "content": content}]
    if message.role == "assistant":
        return [_assistant(content)]
    out: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": block.tool_use_id, "content": _result(block)}
        for block in content
        if isinstance(block, ToolResult)
    ]
    parts = [_part(block) for block in content if isinstance(block, (Text, Image))]
    if parts:
        if all(part["type"] == "text" for part in parts):
            out.append({"role": "user", "content": "\n".join(part["text"] for part in parts)})
        else:
            out.append({"role": "user", "content": parts})
    return out


def _assistant(blocks: list[Block]) -> dict[str, Any]:
    texts = [block.text for block in blocks if isinstance(block, Text)]
    message: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts) or None}
    calls = [
        {
            "id": block.id,
            "type": "function",
            "function": {"name": block.name, "arguments": _ENCODER.encode(block.input).decode()},
        }
        for block in blocks
        if isinstance(block, ToolUse)
    ]
    if calls:
        message["tool_calls"] = calls
    return message


def _result(block: ToolResult) -> str:
    content = block.content
    text = (
        content
        if isinstance(content, str)
        else "\n".join(part.text for part in content if isinstance(part, Text))
    )
    return f"Error: {text}" if block.is_error else text


def _part(block: Text | Image) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"type": "text", "text": block.text}
    source = block.source
    url = (
        source.url
        if isinstance(source, UrlSource)
        else (f"data:{source.media_type};base64,{source.data}")
    )
    return {"type": "image_url", "image_url": {"url": url}}
