"""A Responses API answer: a response object with turnout's id and ``provider/model``.

It is built from a Chat Completions answer, or taken from a native one.

Every response gets an id of turnout's (``resp_...``), also a native target's: the upstream is
asked not to store it, and turnout keeps the conversation under its own id.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import msgspec

from turnout.wire.completion import COMPLETION, answer_of

if TYPE_CHECKING:
    from turnout.wire.completion import Answer, Call, Usage
    from turnout.wire.responses.request import ResponsesRequest

_ENCODER: Final = msgspec.json.Encoder()
_FIELDS: Final = msgspec.json.Decoder(dict[str, Any])
INCOMPLETE: Final = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    """A fresh id in OpenAI's shape (``resp_...``, ``msg_...``, ``fc_...``)."""
    return f"{prefix}_{secrets.token_hex(16)}"


@dataclass(frozen=True, slots=True)
class Shell:
    """What every form of one response shares: its id, model, time and the request's echo."""

    id: str
    model: str
    created_at: int
    echo: dict[str, Any]

    def own(self, native: dict[str, Any]) -> dict[str, Any]:
        """A native upstream's response object, as turnout's: its id, model and chaining."""
        echo = self.echo
        return {
            **native,
            "id": self.id,
            "model": self.model,
            "store": echo["store"],
            "previous_response_id": echo["previous_response_id"],
        }

    def body(
        self, status: str, output: list[dict[str, Any]], usage: Usage | None = None, **extra: Any
    ) -> dict[str, Any]:
        """The response object."""
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": self.model,
            "output": output,
            "usage": None if usage is None else _usage(usage),
            "error": None,
            "incomplete_details": None,
            **self.echo,
            **extra,
        }


def shell(request: ResponsesRequest, model: str, tools: list[Any]) -> Shell:
    """The shell of the response to ``request``, answered by ``model`` (``provider/model``)."""
    choice = request.tool_choice or "auto"
    text = request.text
    echo = {
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "metadata": request.metadata or {},
        "parallel_tool_calls": (
            True if request.parallel_tool_calls is None else request.parallel_tool_calls
        ),
        "previous_response_id": request.previous_response_id,
        "reasoning": {"effort": None, "summary": None}
        if request.reasoning is None
        else msgspec.to_builtins(request.reasoning),
        "store": request.store,
        "temperature": request.temperature,
        "text": {"format": {"type": "text"}}
        if text is None or text.format is None
        else {"format": msgspec.to_builtins(text.format)},
        "tool_choice": choice if isinstance(choice, str) else msgspec.to_builtins(choice),
        "tools": tools,
        "top_p": request.top_p,
        "truncation": request.truncation or "disabled",
        "user": request.user,
    }
    return Shell(new_id("resp"), model, int(time.time()), echo)


def message_item(item_id: str, text: str, refusal: str, status: str) -> dict[str, Any]:
    """An assistant message output item."""
    content: list[dict[str, Any]] = []
    if text or not refusal:
        content.append(output_text(text))
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def output_text(text: str) -> dict[str, Any]:
    """An ``output_text`` content part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def call_item(item_id: str, call: Call, status: str) -> dict[str, Any]:
    """A function call output item."""
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "status": status,
    }


def status_of(answer: Answer) -> tuple[str, dict[str, Any]]:
    """``completed`` or ``incomplete`` (with why), from the Chat answer's finish reason."""
    reason = INCOMPLETE.get(answer.finish_reason or "")
    if reason is None:
        return "completed", {}
    return "incomplete", {"incomplete_details": {"reason": reason}}


def from_completion(body: bytes, response: Shell) -> dict[str, Any]:
    """The response object of a Chat Completions answer (``body``).

    Raises:
        msgspec.MsgspecError: the body is not a chat completion.
    """
    answer = answer_of(COMPLETION.decode(body))
    output: list[dict[str, Any]] = []
    if answer.text or answer.refusal or not answer.calls:
        output.append(message_item(new_id("msg"), answer.text, answer.refusal, "completed"))
    output += [call_item(new_id("fc"), call, "completed") for call in answer.calls]
    status, extra = status_of(answer)
    return response.body(status, output, answer.usage, **extra)


def from_native(body: bytes, response: Shell) -> dict[str, Any]:
    """A native upstream's response object (``body``), as turnout's (`Shell.own`).

    Raises:
        msgspec.MsgspecError: the body is not a JSON object.
    """
    return response.own(_FIELDS.decode(body))


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def encode(response: dict[str, Any]) -> bytes:
    """A response object as JSON."""
    return _ENCODER.encode(response)
