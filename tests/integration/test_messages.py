"""``/v1/messages`` over loopback: translated to Chat Completions, or sent natively."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.fakes.sse import named_events
from turnout.demo.upstream import Behaviour

if TYPE_CHECKING:
    from turnout.demo.upstream import SimulatedUpstream

WEATHER = [{"name": "weather", "description": "the weather", "input_schema": {"type": "object"}}]
HEADERS = {"x-api-key": "client-key", "anthropic-version": "2023-06-01"}


def message(**fields: Any) -> dict[str, Any]:
    body = {"model": "code", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    return {**body, **fields}


def test_a_message_is_translated_both_ways(router_url: str, alpha: SimulatedUpstream) -> None:
    answer = httpx.post(
        f"{router_url}/v1/messages",
        json=message(
            system=[{"type": "text", "text": "Be brief."}],
            stop_sequences=["END"],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
                        },
                    ],
                }
            ],
        ),
        headers=HEADERS,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["type"], body["role"], body["model"]) == ("message", "assistant", "alpha/a-large")
    assert body["stop_reason"] == "end_turn"
    assert body["content"][0]["text"].startswith("[simulated alpha/a-large]")
    assert body["usage"]["input_tokens"] == 10
    sent = alpha.received[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent.body["messages"][1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AAAA"},
    }
    assert sent.body["stop"] == ["END"]
    assert sent.headers["authorization"] == "Bearer sk-alpha-secret"


def test_a_native_target_gets_the_body_and_anthropic_headers(
    router_url: str, alpha: SimulatedUpstream
) -> None:
    sent_body = message(model="native", top_k=5)
    answer = httpx.post(
        f"{router_url}/v1/messages",
        json=sent_body,
        headers={**HEADERS, "anthropic-beta": "tools-2024-04-04"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "native/n-model"
    sent = alpha.received[0]
    assert sent.path == "/v1/messages"
    assert sent.body == {**sent_body, "model": "n-model"}
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "tools-2024-04-04"
    assert "x-api-key" not in sent.headers  # the client's key never goes upstream


@pytest.mark.parametrize("model", ["code", "native"])
def test_a_stream_is_anthropic_events(
    router_url: str, alpha: SimulatedUpstream, model: str
) -> None:
    answer = httpx.post(
        f"{router_url}/v1/messages",
        json=message(model=model, stream=True),
        headers=HEADERS,
        timeout=10,
    )
    assert answer.status_code == 200
    found = [(kind, data) for kind, data in named_events(answer.text) if kind != "ping"]
    kinds = [kind for kind, _ in found]
    assert kinds[0] == "message_start"
    assert kinds[1] == "content_block_start"
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert found[0][1]["message"]["model"] == answer.headers["x-turnout-model"]
    text = "".join(data["delta"]["text"] for kind, data in found if kind == "content_block_delta")
    assert text.startswith("[simulated alpha/")
    assert found[-2][1]["delta"]["stop_reason"] == "end_turn"


def test_a_tool_call_comes_back_as_tool_use_and_its_result_goes_up_as_a_tool_message(
    router_url: str, alpha: SimulatedUpstream
) -> None:
    first = httpx.post(
        f"{router_url}/v1/messages", json=message(tools=WEATHER), headers=HEADERS, timeout=10
    ).json()
    assert first["stop_reason"] == "tool_use"
    use = first["content"][0]
    assert (use["type"], use["name"], use["input"]) == ("tool_use", "weather", {"city": "Paris"})
    follow = httpx.post(
        f"{router_url}/v1/messages",
        json=message(
            model="auto",
            tools=WEATHER,
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": first["content"]},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": use["id"],
                            "content": "sunny",
                            "is_error": True,
                        },
                        {"type": "text", "text": "and tomorrow?"},
                    ],
                },
            ],
        ),
        headers=HEADERS,
        timeout=10,
    )
    assert follow.status_code == 200, follow.text
    assert follow.headers["x-turnout-tier"] == "session"
    assert follow.json()["model"] == first["model"]
    messages = alpha.received[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user"]
    assert messages[1]["tool_calls"][0]["function"] == {
        "name": "weather",
        "arguments": '{"city":"Paris"}',
    }
    assert messages[2] == {"role": "tool", "tool_call_id": use["id"], "content": "Error: sunny"}


def test_a_refusal_of_a_translated_request_comes_back_in_anthropic_format(
    router_url: str, alpha: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("status", 400))
    answer = httpx.post(f"{router_url}/v1/messages", json=message(), headers=HEADERS, timeout=10)
    assert answer.status_code == 400
    assert answer.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "simulated 400 from alpha"},
    }


def test_a_stream_that_breaks_ends_with_an_anthropic_error_event(
    router_url: str, alpha: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("drop", chunks=2))
    answer = httpx.post(
        f"{router_url}/v1/messages", json=message(stream=True), headers=HEADERS, timeout=10
    )
    kind, data = named_events(answer.text)[-1]
    assert kind == "error"
    assert data["type"] == "error"
    assert data["error"]["type"] == "api_error"


def test_count_tokens_is_the_routers_estimate(router_url: str) -> None:
    short = httpx.post(
        f"{router_url}/v1/messages/count_tokens", json=message(max_tokens=None), timeout=10
    )
    longer = httpx.post(
        f"{router_url}/v1/messages/count_tokens",
        json=message(
            max_tokens=None, tools=WEATHER, messages=[{"role": "user", "content": "x" * 400}]
        ),
        timeout=10,
    )
    assert short.status_code == 200, short.text
    assert 0 < short.json()["input_tokens"] < longer.json()["input_tokens"]
    assert longer.json()["input_tokens"] >= 100


def test_chat_completions_cannot_reach_a_provider_that_speaks_only_other_apis(
    router_url: str,
) -> None:
    answer = httpx.post(
        f"{router_url}/v1/chat/completions",
        json={"model": "native", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "no_capable_model"
