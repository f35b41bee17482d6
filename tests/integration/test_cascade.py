"""The cascade: cheap model first with logprobs, the premium one when the cheap one is unsure."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from tests.fakes.server import router_over_upstreams
from turnout.demo.upstream import Behaviour, SimulatedUpstream
from turnout.gateway.cascade import mean_logprob

if TYPE_CHECKING:
    from collections.abc import Iterator

CONFIG = """
gateway: {{retry: {{passes: 1}}, breaker: {{enabled: false}}}}
providers:
  - name: cheap
    base_url: {cheap}/v1
    models: [{{id: m, input_per_mtok: 0.1, output_per_mtok: 0.4, context_window: 8000}}]
  - name: premium
    base_url: {premium}/v1
    models: [{{id: m, input_per_mtok: 3, output_per_mtok: 15, context_window: 8000}}]
routes:
  - name: general
    targets: [cheap/m]
    cascade: {{enabled: true, premium: premium/m, min_mean_logprob: -0.5}}
default_route: general
"""
BODY = {"model": "auto", "messages": [{"role": "user", "content": "what is a monad?"}]}

Served = tuple[SimulatedUpstream, SimulatedUpstream, httpx.Client]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with router_over_upstreams(CONFIG, ("cheap", "premium")) as ((cheap, premium), client):
        yield cheap, premium, client


@pytest.fixture
def fresh(served: Served) -> Served:
    for upstream in served[:2]:
        upstream.reset()
    return served


def test_a_confident_cheap_answer_is_kept(fresh: Served) -> None:
    cheap, premium, client = fresh
    answer = client.post("/v1/chat/completions", json=BODY)
    assert answer.status_code == 200
    assert answer.headers["x-turnout-model"] == "cheap/m"
    assert answer.headers["x-turnout-cascade"] == "kept"
    assert cheap.received[0].body["logprobs"] is True  # asked for by the cascade
    assert premium.received == []
    assert mean_logprob(answer.content) == pytest.approx(-0.05)


def test_an_unsure_cheap_answer_is_escalated_to_premium(fresh: Served) -> None:
    cheap, premium, client = fresh
    cheap.queue(Behaviour(logprob=-2.0))
    answer = client.post("/v1/chat/completions", json=BODY)
    assert answer.status_code == 200
    assert answer.headers["x-turnout-model"] == "premium/m"
    assert answer.headers["x-turnout-cascade"] == "escalated"
    assert "[simulated premium/" in answer.json()["choices"][0]["message"]["content"]
    assert "logprobs" not in premium.received[0].body  # sent as the client wrote it
    metrics = client.get("/metrics").text
    assert 'turnout_cascade_total{outcome="escalated",route="general"} 1.0' in metrics


def test_a_failing_premium_leaves_the_cheap_answer(fresh: Served) -> None:
    cheap, premium, client = fresh
    cheap.queue(Behaviour(logprob=-3.0))
    premium.queue(Behaviour("status", 503))
    answer = client.post("/v1/chat/completions", json=BODY)
    assert answer.status_code == 200
    assert answer.headers["x-turnout-model"] == "cheap/m"
    assert answer.headers["x-turnout-cascade"] == "premium_failed"


def test_streams_skip_the_cascade(fresh: Served) -> None:
    cheap, premium, client = fresh
    answer = client.post("/v1/chat/completions", json={**BODY, "stream": True})
    assert answer.status_code == 200
    assert answer.headers["x-turnout-model"] == "cheap/m"
    assert "x-turnout-cascade" not in answer.headers
    assert "logprobs" not in cheap.received[0].body
    assert premium.received == []


def test_mean_logprob_reads_only_what_is_there() -> None:
    assert mean_logprob(None) is None
    assert mean_logprob(b"{oops") is None
    assert mean_logprob(b'{"choices": [{"logprobs": null}]}') is None
    assert mean_logprob(b'{"choices": [{"logprobs": {"content": []}}]}') is None
    two = b'{"choices": [{"logprobs": {"content": [{"logprob": -1.0}, {"logprob": -0.5}]}}]}'
    assert mean_logprob(two) == pytest.approx(-0.75)
