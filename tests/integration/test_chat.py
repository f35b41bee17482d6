"""Chat completions through the served router to simulated upstreams over loopback."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import pytest

from turnout.demo.upstream import Behaviour

if TYPE_CHECKING:
    from turnout.demo.upstream import SimulatedUpstream


def chat(url: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=10, **kwargs)


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}


def test_json_is_forwarded_with_only_model_rewritten(
    router_url: str, alpha: SimulatedUpstream
) -> None:
    body = user("```python\nprint(1)\n```", temperature=0.3, vendor_extension={"keep": [1, 2]})
    response = chat(router_url, body)
    assert response.status_code == 200, response.text
    sent = alpha.received[0]
    assert sent.body["model"] == "a-large"
    assert sent.body["temperature"] == 0.3
    assert sent.body["vendor_extension"] == {"keep": [1, 2]}
    assert sent.body["messages"] == body["messages"]
    assert sent.headers["authorization"] == "Bearer sk-alpha-secret"
    assert sent.headers["x-alpha-version"] == "2"
    assert sent.headers["x-request-id"] == response.headers["x-request-id"]
    assert response.json()["model"] == "alpha/a-large"
    assert response.headers["x-turnout-route"] == "code"
    assert response.headers["x-turnout-model"] == "alpha/a-large"
    assert response.headers["x-turnout-tier"] == "rule"
    assert float(response.headers["x-turnout-decision-ms"]) >= 0


def test_provider_without_key_requirement_gets_no_auth_header(
    router_url: str, beta: SimulatedUpstream
) -> None:
    response = chat(router_url, user("hello there"))
    assert response.status_code == 200
    assert response.headers["x-turnout-route"] == "chat"
    assert "authorization" not in beta.received[0].headers


def test_stream_is_relayed_with_model_rewritten_in_every_event(
    router_url: str, alpha: SimulatedUpstream
) -> None:
    with httpx.stream(
        "POST", f"{router_url}/v1/chat/completions", json=user("```x```", stream=True), timeout=10
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-turnout-model"] == "alpha/a-large"
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    chunks = [msgspec.json.decode(event[6:]) for event in events[:-1]]
    assert len(chunks) > 3
    assert {chunk["model"] for chunk in chunks} == {"alpha/a-large"}
    assert alpha.wait_for_stream_ends(1, timeout_s=5) == ["completed"]  # recorded after [DONE]


def test_explicit_route_and_pinned_model(router_url: str, beta: SimulatedUpstream) -> None:
    routed = chat(router_url, {**user("anything"), "model": "code"})
    assert routed.headers["x-turnout-tier"] == "explicit"
    assert routed.headers["x-turnout-route"] == "code"
    pinned = chat(router_url, {**user("anything"), "model": "beta/b-small"})
    assert pinned.status_code == 200
    assert pinned.headers["x-turnout-model"] == "beta/b-small"
    assert pinned.headers["x-turnout-route"] == ""
    bare = chat(router_url, {**user("anything"), "model": "b-small"})
    assert bare.headers["x-turnout-model"] == "beta/b-small"
    assert [r.body["model"] for r in beta.received] == ["b-small", "b-small"]


def test_default_route_when_no_rule_matches(router_url: str, alpha: SimulatedUpstream) -> None:
    response = chat(router_url, user("what is the capital of peru"))
    assert response.headers["x-turnout-route"] == "general"
    assert response.headers["x-turnout-tier"] == "default"


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_fails_over_on_retryable_status(
    router_url: str, alpha: SimulatedUpstream, beta: SimulatedUpstream, status: int
) -> None:
    alpha.queue(Behaviour("status", status))
    response = chat(router_url, user("```go```"))
    assert response.status_code == 200
    assert response.headers["x-turnout-model"] == "beta/b-large"
    assert response.headers["x-turnout-attempts"] == "2"
    assert len(alpha.received) == len(beta.received) == 1


def test_fails_over_on_connection_refused(router_url: str, beta: SimulatedUpstream) -> None:
    response = chat(router_url, {**user("hi"), "model": "fallback"})
    assert response.status_code == 200
    assert response.headers["x-turnout-model"] == "beta/b-large"


def test_fails_over_on_read_timeout(
    router_url: str, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour(delay_s=1.5))
    response = chat(router_url, user("```rust```"))
    assert response.status_code == 200
    assert response.headers["x-turnout-model"] == "beta/b-large"


def test_stream_fails_over_before_first_byte(
    router_url: str, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("status", 503))
    response = chat(router_url, user("```c```", stream=True))
    assert response.status_code == 200
    assert response.headers["x-turnout-model"] == "beta/b-large"
    assert response.text.endswith("data: [DONE]\n\n")


def test_client_error_from_upstream_is_passed_back(
    router_url: str, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("status", 400))
    response = chat(router_url, user("```js```"))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "simulated 400 from alpha"
    assert beta.received == []


def test_all_candidates_failing_is_a_503_envelope(
    router_url: str, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("status", 500), Behaviour("status", 500))  # both passes
    beta.queue(Behaviour("status", 502), Behaviour("status", 502))
    response = chat(router_url, user("```sql```"))
    assert response.status_code == 503
    assert len(alpha.received) == len(beta.received) == 2
    error = response.json()["error"]
    assert error["code"] == "all_providers_unavailable"
    assert error["type"] == "server_error"
    assert "alpha/a-large answered 500" in error["message"]


def test_all_candidates_rate_limited_is_a_429_with_retry_after(
    router_url: str, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    # Both ask for longer than gateway.retry.max_backoff_s (5 s): no second pass.
    alpha.queue(Behaviour("status", 429, retry_after=7))
    beta.queue(Behaviour("status", 429, retry_after=6))
    response = chat(router_url, user("```ts```"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "6"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert len(alpha.received) == len(beta.received) == 1


def test_a_second_pass_waits_out_retry_after(
    router_url: str, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("status", 429, retry_after=0.4))
    beta.queue(Behaviour("status", 503))
    started = time.perf_counter()
    response = chat(router_url, user("```go```"))
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.4
    assert response.headers["x-turnout-model"] == "alpha/a-large"
    assert response.headers["x-turnout-attempts"] == "3"


def test_stream_broken_after_first_byte_ends_with_error_event(
    router_url: str, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("drop", chunks=2))
    response = chat(router_url, user("```py```", stream=True))
    assert response.status_code == 200
    events = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert msgspec.json.decode(events[-1][6:])["error"]["code"] == "upstream_unavailable"
    assert beta.received == []


def test_client_disconnect_cancels_the_upstream_stream(
    router_url: str, alpha: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour(chunk_delay_s=0.2))
    with httpx.stream(
        "POST", f"{router_url}/v1/chat/completions", json=user("```a```", stream=True), timeout=10
    ) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    # The router notices the disconnect and closes the upstream connection; the upstream sees it.
    assert alpha.wait_for_stream_ends(1, timeout_s=5) == ["client_disconnected"]


def test_unavailable_provider_is_a_clear_503(router_url: str) -> None:
    response = chat(router_url, {**user("x"), "model": "sealed"})
    assert response.status_code == 503
    assert "LOCKED_KEY" in response.json()["error"]["message"]


def test_vision_request_skips_models_without_vision(
    router_url: str, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    content = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    body = {"model": "pair", "messages": [{"role": "user", "content": content}]}
    response = chat(router_url, body)
    assert response.headers["x-turnout-model"] == "beta/b-large"
    assert alpha.received == []
