"""What a simulated upstream answers, in each API it speaks: Chat Completions, Responses, Messages.

An answer is labelled simulated text, or, when the request offers tools and its last turn is not
a tool result, a call of its first tool (arguments ``{"city": "Paris"}``). Each API writes it
as a JSON body or as the SSE events that API streams. `SimulatedUpstream` picks the API by path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

_ENCODER: Final = msgspec.json.Encoder()
ARGUMENTS: Final = '{"city": "Paris"}'
Api = Literal["chat_completions", "responses", "messages"]


@dataclass(frozen=True)
class Answer:
    """A simulated answer of ``model``, in ``api``: text, or one tool call."""

    api: Api
    model: str
    text: str
    tool: str | None = None
    number: int = 0

    @property
    def call_id(self) -> str:
        """The call's id, in the API's own shape where it matters (here, one for all)."""
        return f"call_sim_{self.number}"

    def words(self) -> list[str]:
        """The text in stream-sized pieces, which join back into it."""
        words = self.text.split(" ")
        return [f"{word} " for word in words[:-1]] + words[-1:]


def _last(items: list[Any]) -> dict[str, Any]:
    last = items[-1] if items else {}
    return last if isinstance(last, dict) else {}


def answers_tool(api: Api, request: dict[str, Any]) -> bool:
    """Whether the request's last turn is a tool result."""
    if api == "chat_completions":
        return _last(request.get("messages") or []).get("role") == "tool"
    if api == "responses":
        given = request.get("input")
        return isinstance(given, list) and _last(given).get("type") == "function_call_output"
    content = _last(request.get("messages") or []).get("content")
    return isinstance(content, list) and any(
        isinstance(block, dict) and block.get("type") == "tool_result" for block in content
    )


def first_tool(api: Api, request: dict[str, Any]) -> str | None:
    """The name of the request's first tool, if it offers any."""
    tools = request.get("tools") or []
    if not tools or not isinstance(tools[0], dict):
        return None
    tool = tools[0].get("function", {}) if api == "chat_completions" else tools[0]
    name = tool.get("name") if isinstance(tool, dict) else None
    return str(name) if name else None


def body(answer: Answer, logprob: float | None = None) -> bytes:
    """The answer as a JSON body."""
    api, model = answer.api, answer.model
    if api == "responses":
        return _ENCODER.encode(_response(model, answer, "completed"))
    if api == "messages":
        return _ENCODER.encode(_message(model, answer, whole=True))
    return _ENCODER.encode(_completion(model, answer, logprob))


def events(answer: Answer, count: int | None = None) -> list[bytes]:
    """The answer's stream events but the last (``count`` text pieces at most)."""
    api, model = answer.api, answer.model
    words = answer.words()[:count]
    if api == "responses":
        return _response_events(model, answer, words)
    if api == "messages":
        return _message_events(model, answer, words)
    first = [_chunk(model, {"role": "assistant", "content": ""}, None)]
    if answer.tool is not None:
        call = {"index": 0, "id": answer.call_id, "type": "function"}
        start = {**call, "function": {"name": answer.tool, "arguments": ""}}
        half = len(ARGUMENTS) // 2
        pieces = (ARGUMENTS[:half], ARGUMENTS[half:])
        fragments = [{"index": 0, "function": {"arguments": piece}} for piece in pieces]
        return [
            *first,
            _chunk(model, {"tool_calls": [start]}, None),
            *(_chunk(model, {"tool_calls": [fragment]}, None) for fragment in fragments),
        ]
    return first + [_chunk(model, {"content": word}, None) for word in words]


def last_event(answer: Answer) -> bytes:
    """The event that ends a stream."""
    api, model = answer.api, answer.model
    if api == "responses":
        done = {
            "type": "response.completed",
            "sequence_number": len(_response_events(model, answer, answer.words())),
            "response": _response(model, answer, "completed"),
        }
        return _named("response.completed", done)
    if api == "messages":
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": _stop(answer), "stop_sequence": None},
            "usage": {"output_tokens": len(answer.words())},
        }
        return _named("message_delta", delta) + _named("message_stop", {"type": "message_stop"})
    finish = "tool_calls" if answer.tool else "stop"
    return _chunk(model, {}, finish) + b"data: [DONE]\n\n"


def _completion(model: str, answer: Answer, logprob: float | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    if answer.tool is not None:
        function = {"name": answer.tool, "arguments": ARGUMENTS}
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": answer.call_id, "type": "function", "function": function}],
        }
    logprobs = (
        {"content": [{"token": word, "logprob": logprob} for word in answer.text.split()]}
        if logprob is not None
        else None
    )
    return {
        "id": f"chatcmpl-sim-{answer.number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if answer.tool else "stop",
                "logprobs": logprobs,
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": len(answer.words()),
            "total_tokens": 10 + len(answer.words()),
        },
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> bytes:
    chunk = {
        "id": "chatcmpl-sim",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + _ENCODER.encode(chunk) + b"\n\n"


def _named(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _ENCODER.encode(data) + b"\n\n"


def _output(answer: Answer) -> list[dict[str, Any]]:
    if answer.tool is not None:
        return [
            {
                "type": "function_call",
                "id": f"fc_sim_{answer.number}",
                "call_id": answer.call_id,
                "name": answer.tool,
                "arguments": ARGUMENTS,
                "status": "completed",
            }
        ]
    text = {"type": "output_text", "text": answer.text, "annotations": []}
    return [
        {
            "type": "message",
            "id": f"msg_sim_{answer.number}",
            "status": "completed",
            "role": "assistant",
            "content": [text],
        }
    ]


def _response(model: str, answer: Answer, status: str) -> dict[str, Any]:
    words = len(answer.words())
    return {
        "id": f"resp_sim_{answer.number}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": _output(answer) if status == "completed" else [],
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": words,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 10 + words,
        },
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": None,
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
    }


def _response_events(model: str, answer: Answer, words: list[str]) -> list[bytes]:
    out: list[bytes] = []

    def add(kind: str, **data: Any) -> None:
        out.append(_named(kind, {"type": kind, "sequence_number": len(out), **data}))

    add("response.created", response=_response(model, answer, "in_progress"))
    item = _output(answer)[0]
    where = {"item_id": item["id"], "output_index": 0}
    if answer.tool is not None:
        added = {**item, "arguments": "", "status": "in_progress"}
        add("response.output_item.added", output_index=0, item=added)
        add("response.function_call_arguments.delta", **where, delta=ARGUMENTS)
    else:
        add("response.output_item.added", output_index=0, item={**item, "content": []})
        part = {"type": "output_text", "text": "", "annotations": []}
        add("response.content_part.added", **where, content_index=0, part=part)
        for word in words:
            add("response.output_text.delta", **where, content_index=0, delta=word)
    add("response.output_item.done", output_index=0, item=item)
    return out


def _stop(answer: Answer) -> str:
    return "tool_use" if answer.tool else "end_turn"


def _message(model: str, answer: Answer, *, whole: bool) -> dict[str, Any]:
    if answer.tool is not None:
        content: list[dict[str, Any]] = [
            {
                "type": "tool_use",
                "id": f"toolu_sim_{answer.number}",
                "name": answer.tool,
                "input": {"city": "Paris"},
            }
        ]
    else:
        content = [{"type": "text", "text": answer.text}]
    return {
        "id": f"msg_sim_{answer.number}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content if whole else [],
        "stop_reason": _stop(answer) if whole else None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": len(answer.words()) if whole else 1},
    }


def _message_events(model: str, answer: Answer, words: list[str]) -> list[bytes]:
    start = {"type": "message_start", "message": _message(model, answer, whole=False)}
    out = [_named("message_start", start), _named("ping", {"type": "ping"})]
    if answer.tool is not None:
        block = {
            "type": "tool_use",
            "id": f"toolu_sim_{answer.number}",
            "name": answer.tool,
            "input": {},
        }
        deltas = [{"type": "input_json_delta", "partial_json": ARGUMENTS}]
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": word} for word in words]
    out.append(
        _named(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        )
    )
    out += [
        _named("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        for delta in deltas
    ]
    out.append(_named("content_block_stop", {"type": "content_block_stop", "index": 0}))
    return out
