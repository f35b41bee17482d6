"""A tool loop stays on the model that made the call, on every API surface.

The first turn goes to ``beta/b-large`` by name and gets a tool call back. The turn that brings
the tool's result says ``model: auto`` and "hello", which the rules send to the ``chat`` route,
whose first capable model is ``alpha/a-small``: it stays on ``beta/b-large`` all the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from turnout.demo.upstream import SimulatedUpstream

KEY = {"authorization": "Bearer loop-client"}
CHAT_TOOLS = [
    {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
]
RESPONSES_TOOLS = [{"type": "function", "name": "weather", "parameters": {"type": "object"}}]
MESSAGES_TOOLS = [{"name": "weather", "input_schema": {"type": "object"}}]


def post(
    url: str, path: str, body: dict[str, Any], headers: dict[str, str] = KEY
) -> httpx.Response:
    answer = httpx.post(url + path, json=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer


def test_without_a_tool_result_hello_goes_to_the_chat_route(
    router_url: str, beta: SimulatedUpstream
) -> None:
    answer = post(
        router_url,
        "/v1/chat/completions",
        {"model": "auto", "messages": [{"role": "user", "content": "hello"}], "tools": CHAT_TOOLS},
    )
    assert answer.headers["x-turnout-model"] == "alpha/a-small"


def test_chat_completions_tool_loop(router_url: str, beta: SimulatedUpstream) -> None:
    hello = {"role": "user", "content": "hello"}
    first = post(
        router_url,
        "/v1/chat/completions",
        {"model": "beta/b-large", "messages": [hello], "tools": CHAT_TOOLS},
    ).json()
    call = first["choices"][0]["message"]["tool_calls"][0]
    result = {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}
    turn = [hello, first["choices"][0]["message"], result]
    follow = post(
        router_url, "/v1/chat/completions", {"model": "auto", "messages": turn, "tools": CHAT_TOOLS}
    )
    assert (follow.headers["x-turnout-model"], follow.headers["x-turnout-tier"]) == (
        "beta/b-large",
        "session",
    )
    other = post(
        router_url,
        "/v1/chat/completions",
        {"model": "auto", "messages": turn, "tools": CHAT_TOOLS},
        headers={"authorization": "Bearer someone-else"},
    )
    assert (
        other.headers["x-turnout-model"] == "alpha/a-small"
    )  # another client's call ids are not its
    named = post(router_url, "/v1/chat/completions", {"model": "alpha/a-large", "messages": turn})
    assert named.headers["x-turnout-model"] == "alpha/a-large"  # a model the client names wins


def test_chat_completions_tool_loop_over_a_stream(router_url: str, beta: SimulatedUpstream) -> None:
    hello = {"role": "user", "content": "hello"}
    streamed = post(
        router_url,
        "/v1/chat/completions",
        {"model": "beta/b-large", "messages": [hello], "tools": CHAT_TOOLS, "stream": True},
    )
    assert '"tool_calls"' in streamed.text
    call_id = f"call_sim_{len(beta.received)}"
    assert call_id in streamed.text
    assistant = {
        "role": "assistant",
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "weather", "arguments": "{}"}}
        ],
    }
    result = {"role": "tool", "tool_call_id": call_id, "content": "sunny"}
    follow = post(
        router_url,
        "/v1/chat/completions",
        {"model": "auto", "messages": [hello, assistant, result], "tools": CHAT_TOOLS},
    )
    assert follow.headers["x-turnout-model"] == "beta/b-large"


def test_responses_tool_loop_with_the_history_sent_by_the_client(
    router_url: str, beta: SimulatedUpstream
) -> None:
    first = post(
        router_url,
        "/v1/responses",
        {"model": "beta/b-large", "input": "hello", "tools": RESPONSES_TOOLS, "store": False},
    ).json()
    call = first["output"][0]
    result = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
    follow = post(
        router_url,
        "/v1/responses",
        {
            "model": "auto",
            "input": [{"role": "user", "content": "hello"}, call, result],
            "tools": RESPONSES_TOOLS,
        },
    )
    assert (follow.headers["x-turnout-model"], follow.headers["x-turnout-tier"]) == (
        "beta/b-large",
        "session",
    )


def test_messages_tool_loop(router_url: str, beta: SimulatedUpstream) -> None:
    hello = {"role": "user", "content": "hello"}
    first = post(
        router_url,
        "/v1/messages",
        {"model": "beta/b-large", "max_tokens": 50, "messages": [hello], "tools": MESSAGES_TOOLS},
    ).json()
    use = first["content"][0]
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "ok"}],
    }
    follow = post(
        router_url,
        "/v1/messages",
        {
            "model": "auto",
            "max_tokens": 50,
            "messages": [hello, {"role": "assistant", "content": first["content"]}, result],
            "tools": MESSAGES_TOOLS,
        },
    )
    assert (follow.headers["x-turnout-model"], follow.headers["x-turnout-tier"]) == (
        "beta/b-large",
        "session",
    )
