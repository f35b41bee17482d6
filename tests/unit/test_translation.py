"""Translations between the Responses and Messages APIs and Chat Completions, both ways."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from tests.fakes.sse import named_events
from turnout.errors import InvalidRequest
from turnout.wire.messages.answer import MessagesStream, NativeMessages, tool_id, tool_input
from turnout.wire.messages.answer import from_completion as message_of
from turnout.wire.messages.request import decode_messages
from turnout.wire.responses.answer import from_completion as response_of
from turnout.wire.responses.answer import shell
from turnout.wire.responses.events import NativeResponses, ResponsesStream
from turnout.wire.responses.translate import read_responses

if TYPE_CHECKING:
    from turnout.wire.stream import ChatStream

ENCODE = msgspec.json.encode


def chat_of(body: dict[str, Any]) -> dict[str, Any]:
    """The Chat Completions body a Responses body is translated to."""
    call = read_responses(ENCODE(body))
    return {key: msgspec.json.decode(value) for key, value in call.request.fields.items()}


def test_responses_items_become_chat_messages_with_calls_joined_and_outputs_as_tool_messages() -> (
    None
):
    chat = chat_of(
        {
            "model": "auto",
            "instructions": "Be brief.",
            "input": [
                {"role": "developer", "content": "Answer in French."},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "what is this?"},
                        {
                            "type": "input_image",
                            "image_url": "data:image/png;base64,AA",
                            "detail": "original",
                        },
                    ],
                },
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}],
                },
                {"type": "function_call", "call_id": "c1", "name": "look", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "zoom", "arguments": '{"x":1}'},
                {"type": "function_call_output", "call_id": "c1", "output": "a cat"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [{"type": "input_text", "text": "big"}],
                },
            ],
            "tool_choice": {"type": "function", "name": "look"},
            "text": {"format": {"type": "json_object"}, "verbosity": "low"},
            "reasoning": {"effort": "high"},
            "top_logprobs": 2,
        }
    )
    messages = chat["messages"]
    assert [m["role"] for m in messages] == [
        "system",
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
    ]
    assert messages[2]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AA", "detail": "high"},
    }
    assert messages[3]["content"] == "Let me look."
    assert [call["id"] for call in messages[3]["tool_calls"]] == ["c1", "c2"]
    assert messages[5] == {"role": "tool", "tool_call_id": "c2", "content": "big"}
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "look"}}
    assert chat["response_format"] == {"type": "json_object"}
    assert (chat["verbosity"], chat["reasoning_effort"]) == ("low", "high")
    assert (chat["logprobs"], chat["top_logprobs"]) == (True, 2)


def test_a_stored_history_comes_first_and_the_native_body_carries_it_without_ids() -> None:
    history = (
        msgspec.Raw(ENCODE({"role": "user", "content": "hi"})),
        msgspec.Raw(
            ENCODE({"type": "message", "id": "msg_1", "role": "assistant", "content": "hello"})
        ),
    )
    call = read_responses(
        ENCODE({"input": "again", "previous_response_id": "resp_1", "store": True}), history
    )
    native = call.request.native
    assert native is not None
    assert set(native.fields) == {"input", "store"}
    assert msgspec.json.decode(native.fields["input"]) == [
        {"role": "user", "content": "hi"},
        {"type": "message", "role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
    ]
    assert native.fields["store"] == msgspec.Raw(b"false")
    assert len(call.items) == 3


def test_responses_answers_from_chat_completions() -> None:
    call = read_responses(ENCODE({"input": "x", "tools": [{"type": "function", "name": "f"}]}))
    made = shell(call.body, "p/m", [])
    completion = {
        "choices": [
            {
                "message": {
                    "content": "partial",
                    "tool_calls": [{"id": "c9", "function": {"name": "f", "arguments": "{}"}}],
                },
                "finish_reason": "length",
            }
        ],
        "usage": {
            "prompt_tokens": 5,
            "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 2},
        },
    }
    response = response_of(ENCODE(completion), made)
    assert (response["status"], response["incomplete_details"]) == (
        "incomplete",
        {"reason": "max_output_tokens"},
    )
    assert [item["type"] for item in response["output"]] == ["message", "function_call"]
    assert response["output"][1]["call_id"] == "c9"
    assert response["usage"]["input_tokens_details"] == {"cached_tokens": 2}
    assert response["usage"]["total_tokens"] == 12
    refused = response_of(ENCODE({"choices": [{"message": {"refusal": "no"}}]}), made)
    assert refused["output"][0]["content"] == [{"type": "refusal", "refusal": "no"}]


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    return ENCODE({"choices": [{"delta": delta, "finish_reason": finish}], **extra})


CHUNKS = [
    chunk({"role": "assistant", "content": "Hel"}),
    chunk({"content": "lo"}),
    chunk(
        {
            "tool_calls": [
                {"index": 0, "id": "call.1:x", "function": {"name": "f", "arguments": '{"a"'}}
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
    chunk({}, "tool_calls"),
    ENCODE({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}),
    b"not json",
]


def run(stream: ChatStream) -> list[tuple[str, dict[str, Any]]]:
    out = stream.start() + b"".join(stream.feed(data) for data in CHUNKS) + stream.close()
    return named_events(out.decode())


def test_a_chat_stream_becomes_responses_events() -> None:
    call = read_responses(ENCODE({"input": "x"}))
    stream = ResponsesStream(shell(call.body, "p/m", []))
    found = run(stream)
    kinds = [kind for kind, _ in found]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [data["sequence_number"] for _, data in found] == list(range(len(found)))
    final = found[-1][1]["response"]
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["output"][1]["arguments"] == '{"a": 1}'
    assert final["usage"]["output_tokens"] == 4
    assert stream.final == final


def test_a_chat_stream_becomes_messages_events_with_safe_tool_ids() -> None:
    found = run(MessagesStream("p/m"))
    kinds = [kind for kind, _ in found]
    assert kinds == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert found[5][1]["content_block"] == {
        "type": "tool_use",
        "id": "call_1_x",
        "name": "f",
        "input": {},
    }
    assert found[9][1]["delta"]["stop_reason"] == "tool_use"
    assert found[9][1]["usage"]["output_tokens"] == 4


def test_messages_answers_from_chat_completions() -> None:
    completion = {
        "choices": [
            {
                "message": {
                    "content": "hi",
                    "tool_calls": [{"id": "a.b", "function": {"name": "f", "arguments": "[1]"}}],
                }
            }
        ]
    }
    body, calls = message_of(ENCODE(completion), "p/m")
    assert calls == ("a_b",)
    message = msgspec.json.decode(body)
    assert message["content"][1] == {
        "type": "tool_use",
        "id": "a_b",
        "name": "f",
        "input": {"arguments": "[1]"},
    }
    assert message["stop_reason"] == "tool_use"
    cut = msgspec.json.decode(
        message_of(
            ENCODE({"choices": [{"message": {"content": "x"}, "finish_reason": "length"}]}), "m"
        )[0]
    )
    assert cut["stop_reason"] == "max_tokens"
    assert (tool_id("toolu_01-A"), tool_input(""), tool_input("{bad")) == (
        "toolu_01-A",
        {},
        {"arguments": "{bad"},
    )


def test_messages_requests_become_chat_with_tool_choice_and_metadata() -> None:
    body = {
        "model": "auto",
        "max_tokens": 10,
        "system": "sys",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}],
            },
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "hm"}, {"type": "text", "text": "ok"}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "r"}],
                    }
                ],
            },
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "metadata": {"user_id": "u-1"},
    }
    _, request = decode_messages(ENCODE(body), (("anthropic-version", "2023-06-01"),))
    chat = {key: msgspec.json.decode(value) for key, value in request.fields.items()}
    assert [m["role"] for m in chat["messages"]] == ["system", "user", "assistant", "tool"]
    assert chat["messages"][1]["content"] == [
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    ]
    assert chat["messages"][2] == {"role": "assistant", "content": "ok"}
    assert (chat["tool_choice"], chat["parallel_tool_calls"], chat["user"]) == (
        "required",
        False,
        "u-1",
    )
    assert request.answers_calls == ("t1",)
    assert request.native is not None
    assert request.native.headers == (("anthropic-version", "2023-06-01"),)
    none = decode_messages(ENCODE({**body, "tool_choice": {"type": "tool", "name": "f"}}))[1]
    assert msgspec.json.decode(none.fields["tool_choice"]) == {
        "type": "function",
        "function": {"name": "f"},
    }


def test_native_streams_get_turnouts_model_and_id() -> None:
    call = read_responses(ENCODE({"input": "x", "store": False}))
    made = shell(call.body, "p/m", [])
    rewriter = NativeResponses(made)
    completed = {"type": "response.completed", "response": {"id": "up", "model": "m", "output": []}}
    event = b"event: response.completed\ndata: " + ENCODE(completed)
    rewritten = rewriter.rewrite(event)
    data = msgspec.json.decode(rewritten.split(b"data: ", 1)[1])
    assert (data["response"]["id"], data["response"]["model"], data["response"]["store"]) == (
        made.id,
        "p/m",
        False,
    )
    assert rewriter.final == data["response"]
    assert (
        rewriter.rewrite(b"event: response.output_text.delta\ndata: {}")
        == b"event: response.output_text.delta\ndata: {}"
    )
    messages = NativeMessages("p/m")
    start = messages.rewrite(
        b'event: message_start\ndata: {"type":"message_start","message":{"model":"m"}}'
    )
    assert b'"model":"p/m"' in start
    messages.rewrite(
        b'event: content_block_start\ndata: {"content_block":{"type":"tool_use","id":"toolu_1"}}'
    )
    assert messages.calls == ["toolu_1"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x", "conversation": "c"}, "conversation"),
        ({"input": "x", "max_tool_calls": 3}, "max_tool_calls"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input[0].content[0]",
        ),
    ],
)
def test_unsupported_responses_features_name_their_parameter(
    body: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        read_responses(ENCODE(body))
    assert caught.value.param == param
