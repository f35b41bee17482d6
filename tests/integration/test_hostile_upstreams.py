"""Upstreams that misbehave: refused keys, huge or compressed bodies, huge events, endless streams.

Each answer is bounded in bytes and in time, and a provider's fault fails over to the next
candidate, before the first byte, on every API surface.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.fakes.server import router_over_upstreams
from tests.fakes.sse import named_events
from turnout.demo.upstream import Behaviour

if TYPE_CHECKING:
    from collections.abc import Iterator

    from turnout.demo.upstream import SimulatedUpstream

CONFIG = """
gateway:
  total_timeout_s: 1.5
  max_body_bytes: 1048576
  max_event_bytes: 65536
  retry: {{passes: 1}}
  breaker: {{enabled: {breaker}, failures: 2, min_requests: 100}}
providers:
  - name: first
    base_url: "{first}/v1"
    models: [{{id: m, input_per_mtok: 1, output_per_mtok: 1, context_window: 100000}}]
  - name: second
    base_url: "{second}/v1"
    models: [{{id: m, input_per_mtok: 1, output_per_mtok: 1, context_window: 100000}}]
routes:
  - {{name: general, targets: [first/m, second/m]}}
default_route: general
"""
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
MB = 1024 * 1024


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[list[SimulatedUpstream], httpx.Client]]:
    with router_over_upstreams(CONFIG, ("first", "second"), breaker="false") as found:
        yield found


@pytest.fixture
def pair(
    served: tuple[list[SimulatedUpstream], httpx.Client],
) -> tuple[SimulatedUpstream, SimulatedUpstream, httpx.Client]:
    (first, second), client = served
    first.reset()
    second.reset()
    return first, second, client


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_fails_over_and_its_body_never_reaches_the_client(
    pair: tuple[SimulatedUpstream, SimulatedUpstream, httpx.Client], status: int
) -> None:
    first, _, client = pair
    first.queue(Behaviour("status", status))
    answer = client.post("/v1/chat/completions", json=CHAT)
    assert answer.status_code == 200
    assert answer.headers["x-turnout-model"] == "second/m"
    assert answer.headers["x-turnout-attempts"] == "2"
    metrics = client.get("/metrics").text
    assert f'kind="status_{status}",model="m",provider="first"' in metrics


def test_refused_keys_everywhere_are_a_503_without_the_providers_words(
    pair: tuple[SimulatedUpstream, SimulatedUpstream, httpx.Client],
) -> None:
    first, second, client = pair
    first.queue(Behaviour("status", 401))
    second.queue(Behaviour("status", 403))
    answer = client.post("/v1/chat/completions", json=CHAT)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "all_providers_unavailable"
    assert "simulated" not in answer.text  # the upstreams' own error bodies say "simulated ..."
    assert answer.headers["x-turnout-route"] == "general"  # an error after the decision says it
    assert answer.headers["x-turnout-tier"] == "default"


def test_refused_keys_open_the_breaker() -> None:
    with router_over_upstreams(CONFIG, ("first", "second"), breaker="true") as found:
        (first, _), client = found
        first.queue(Behaviour("status", 401), Behaviour("status", 401))
        for _ in range(2):
            assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        answer = client.post("/v1/chat/completions", json=CHAT)
        assert answer.headers["x-turnout-circuit-open"] == "first/m"
        assert len(first.received) == 2


@pytest.mark.parametrize("fault", ["huge", "gzip"])
def test_a_json_body_over_the_bound_is_a_failed_attempt(
    pair: tuple[SimulatedUpstream, SimulatedUpstream, httpx.Client], fault: str
) -> None:
    first, _, client = pair
    first.queue(Behaviour(fault, size=64 * MB))  # type: ignore[arg-type] # a fault's name
    started = time.monotonic()
    answer = client.post("/v1/chat/completions", json=CHAT)
    assert answer.status_code == 200
    assert answer.headers["x-turnout-model"] == "second/m"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/messages"])
def test_an_sse_event_over_the_bound_ends_the_stream_with_an_error(
    pair: tuple[SimulatedUpstream, SimulatedUpstream, httpx.Client], path: str
) -> None:
    first, _, client = pair
    first.queue(Behaviour("gzip", size=8 * MB))
    body = {**CHAT, "max_tokens": 10, "stream": True}
    if path == "/v1/responses":
        body = {"model": "auto", "input": "hi", "stream": True}
    answer = client.post(path, json=body)
    assert answer.status_code == 200
    assert len(answer.content) < MB
    if path == "/v1/chat/completions":
        assert "over 65536 bytes" in answer.text
        assert answer.text.rstrip().endswith("}")
    else:
        kind, data = named_events(answer.text)[-1]
        assert kind == "error"
        assert "over 65536 bytes" in str(data)


def test_an_endless_stream_ends_at_the_total_timeout(
    pair: tuple[SimulatedUpstream, SimulatedUpstream, httpx.Client],
) -> None:
    first, _, client = pair
    first.queue(Behaviour("endless", chunk_delay_s=0.02))
    started = time.monotonic()
    answer = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    took = time.monotonic() - started
    assert answer.status_code == 200
    assert 1.0 < took < 4.0
    assert "more" in answer.text
    assert "upstream_timeout" in answer.text
    assert first.wait_for_stream_ends(1, timeout_s=5) == ["client_disconnected"]


def test_a_client_that_leaves_before_its_answer_stops_the_upstream_call(
    pair: tuple[SimulatedUpstream, SimulatedUpstream, httpx.Client],
) -> None:
    first, second, client = pair
    first.queue(Behaviour("status", 503, delay_s=0.8))  # then the router would try second
    with pytest.raises(httpx.ReadTimeout):
        client.post("/v1/chat/completions", json=CHAT, timeout=0.2)
    time.sleep(1.2)  # past the moment the failover would have reached second
    assert len(first.received) == 1
    assert second.received == []
    assert 'status="499"' in client.get("/metrics").text
