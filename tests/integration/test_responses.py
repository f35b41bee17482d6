"""``/v1/responses`` over loopback: translated to Chat Completions, or sent natively, and stored."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from tests.fakes.sse import named_events
from turnout.demo.upstream import Behaviour

if TYPE_CHECKING:
    from turnout.demo.upstream import SimulatedUpstream

WEATHER = [{"type": "function", "name": "weather", "parameters": {"type": "object"}}]


def test_a_string_input_is_translated_and_answered_as_a_response(
    router_url: str, alpha: SimulatedUpstream
) -> None:
    answer = httpx.post(
        f"{router_url}/v1/responses",
        json={
            "model": "code",
            "instructions": "Be brief.",
            "input": "write a python loop",
            "max_output_tokens": 64,
            "text": {
                "format": {"type": "json_schema", "name": "loop", "schema": {"type": "object"}}
            },
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "response"
    assert body["id"].startswith("resp_")
    assert (body["status"], body["model"]) == ("completed", "alpha/a-large")
    assert body["output"][0]["content"][0]["text"].startswith("[simulated alpha/a-large]")
    assert body["usage"]["input_tokens"] == 10
    assert body["instructions"] == "Be brief."
    sent = alpha.received[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "write a python loop"},
    ]
    assert sent.body["max_completion_tokens"] == 64
    assert sent.body["response_format"]["json_schema"]["name"] == "loop"
    assert answer.headers["x-turnout-route"] == "code"


def test_a_native_target_gets_the_body_as_sent_and_the_answer_gets_turnouts_id(
    router_url: str, alpha: SimulatedUpstream
) -> None:
    answer = httpx.post(
        f"{router_url}/v1/responses",
        json={"model": "native", "input": "hi", "reasoning": {"effort": "low"}},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "native/n-model"
    assert body["id"].startswith("resp_")
    assert not body["id"].startswith("resp_sim_")  # the upstream's id is replaced by turnout's
    sent = alpha.received[0]
    assert sent.path == "/v1/responses"
    assert sent.body == {
        "model": "n-model",
        "input": "hi",
        "reasoning": {"effort": "low"},
        "store": False,
    }
    assert "authorization" not in sent.headers  # the native provider has no key configured


@pytest.mark.parametrize("model", ["code", "native"])
def test_a_stream_is_responses_events_in_order_with_the_final_response(
    router_url: str, alpha: SimulatedUpstream, model: str
) -> None:
    answer = httpx.post(
        f"{router_url}/v1/responses",
        json={"model": model, "input": "hi", "stream": True},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    found = named_events(answer.text)
    kinds = [kind for kind, _ in found]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    ids = {data["response"]["id"] for kind, data in found if "response" in data}
    assert len(ids) == 1
    text = "".join(data["delta"] for kind, data in found if kind == "response.output_text.delta")
    final = found[-1][1]["response"]
    assert final["output"][0]["content"][0]["text"] == text
    assert final["model"] == answer.headers["x-turnout-model"]
    sequence = [data["sequence_number"] for _, data in found]
    assert sequence == sorted(sequence)
    stored = httpx.get(f"{router_url}/v1/responses/{final['id']}", timeout=10)
    assert stored.json()["output"] == final["output"]


def test_previous_response_id_carries_the_conversation_on_the_same_model(
    router_url: str, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    first = httpx.post(
        f"{router_url}/v1/responses",
        json={"model": "auto", "input": "hello", "tools": WEATHER},
        timeout=10,
    ).json()
    call = first["output"][0]
    assert call["type"] == "function_call"
    follow = httpx.post(
        f"{router_url}/v1/responses",
        json={
            "model": "auto",
            "previous_response_id": first["id"],
            "input": [
                {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
            ],
            "tools": WEATHER,
        },
        timeout=10,
    )
    assert follow.status_code == 200, follow.text
    assert follow.headers["x-turnout-tier"] == "session"
    assert follow.json()["model"] == first["model"]
    assert follow.json()["previous_response_id"] == first["id"]
    upstream = alpha if first["model"].startswith("alpha/") else beta
    messages = upstream.received[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["id"] == call["call_id"]
    assert messages[2] == {"role": "tool", "tool_call_id": call["call_id"], "content": "sunny"}
    assert "read the tool's result" in follow.json()["output"][0]["content"][0]["text"]


def test_stored_responses_are_per_client_and_can_be_deleted(
    router_url: str, alpha: SimulatedUpstream
) -> None:
    mine = {"authorization": "Bearer key-one"}
    made = httpx.post(
        f"{router_url}/v1/responses", json={"model": "code", "input": "x"}, headers=mine, timeout=10
    ).json()
    path = f"{router_url}/v1/responses/{made['id']}"
    assert httpx.get(path, headers=mine).json()["id"] == made["id"]
    other = httpx.get(path, headers={"authorization": "Bearer key-two"})
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "response_not_found"
    chained = httpx.post(
        f"{router_url}/v1/responses",
        json={"model": "code", "input": "y", "previous_response_id": made["id"]},
        headers={"authorization": "Bearer key-two"},
    )
    assert chained.status_code == 404
    deleted = httpx.delete(path, headers=mine)
    assert deleted.json() == {"id": made["id"], "object": "response", "deleted": True}
    assert httpx.get(path, headers=mine).status_code == 404


def test_store_false_keeps_nothing(router_url: str, alpha: SimulatedUpstream) -> None:
    made = httpx.post(
        f"{router_url}/v1/responses",
        json={"model": "code", "input": "x", "store": False},
        timeout=10,
    ).json()
    assert made["store"] is False
    assert httpx.get(f"{router_url}/v1/responses/{made['id']}").status_code == 404


def test_a_stream_that_breaks_ends_with_an_error_event(
    router_url: str, alpha: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("drop", chunks=2))
    answer = httpx.post(
        f"{router_url}/v1/responses",
        json={"model": "code", "input": "x", "stream": True},
        timeout=10,
    )
    kind, data = named_events(answer.text)[-1]
    assert kind == "error"
    assert data["code"] == "upstream_unavailable"
    assert data["sequence_number"] == len(named_events(answer.text)) - 1


def test_an_upstream_refusal_passes_back_in_openai_format(
    router_url: str, alpha: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("status", 400))
    answer = httpx.post(
        f"{router_url}/v1/responses", json={"model": "code", "input": "x"}, timeout=10
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "simulated 400 from alpha"
