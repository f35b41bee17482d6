"""Budgets stop spending: per client and per team, per UTC day, shared by replicas via Redis."""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

import msgspec
import pytest
import redis

from tests.fakes.server import serve_clients, serve_in_thread
from turnout.caller import Caller, key_hash
from turnout.catalog import Catalog
from turnout.config import parse_settings
from turnout.demo.upstream import SimulatedUpstream
from turnout.policy.budgets import answer_cost
from turnout.routing.analyze import analyze
from turnout.wire.chat import decode_chat

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

# Each simulated answer reports 10 prompt and 9 completion tokens: $0.00037 at premium prices.
CONFIG = """
state: {{backend: {backend}, url: "{redis}"}}
budgets: {{when_spent: {when_spent}}}
providers:
  - name: p
    base_url: {upstream}/v1
    models:
      - {{id: premium, input_per_mtok: 10, output_per_mtok: 30, context_window: 8000}}
      - {{id: cheap, input_per_mtok: 0.1, output_per_mtok: 0.3, context_window: 8000}}
routes:
  - {{name: general, targets: [p/premium, p/cheap]}}
default_route: general
teams: {{acme: {{budget_usd_per_day: 0.001}}}}
clients:
  - {{name: solo, key_sha256: {solo}, budget_usd_per_day: 0.0005}}
  - {{name: ann, key_sha256: {ann}, team: acme}}
  - {{name: bob, key_sha256: {bob}, team: acme}}
"""
KEYS = {"solo": key_hash(b"sk-solo"), "ann": key_hash(b"sk-ann"), "bob": key_hash(b"sk-bob")}
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve_in_thread(SimulatedUpstream("p", record=False)) as url:
        yield url


def ask(client: httpx.Client, key: str) -> httpx.Response:
    return client.post(
        "/v1/chat/completions", json=BODY, headers={"authorization": f"Bearer {key}"}
    )


def test_a_spent_budget_refuses_on_every_replica(upstream: str, redis_url: str) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    config = CONFIG.format(
        backend="redis", redis=redis_url, when_spent="refuse", upstream=upstream, **KEYS
    )
    with ExitStack() as stack:
        first, second = serve_clients(config, 2, stack)
        assert ask(first, "sk-solo").status_code == 200  # spent 0.00037
        assert ask(second, "sk-solo").status_code == 200  # 0.00037 < 0.0005: spent 0.00074
        for replica in (first, second):
            refused = ask(replica, "sk-solo")
            assert refused.status_code == 429
            error = refused.json()["error"]
            assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")
            assert "client solo" in error["message"]
            assert 0 < int(refused.headers["retry-after"]) <= 86_400
        # a team's members share its budget: 0.001 covers three answers between them
        assert [
            ask(client, key).status_code
            for client, key in (
                (first, "sk-ann"),
                (second, "sk-bob"),
                (first, "sk-ann"),
                (second, "sk-bob"),
            )
        ] == [200, 200, 200, 429]
        assert ask(first, "sk-anonymous").status_code == 200  # no budget configured


def test_a_spent_budget_can_fall_back_to_the_cheapest_model(upstream: str) -> None:
    config = CONFIG.format(
        backend="memory", redis="", when_spent="cheapest", upstream=upstream, **KEYS
    )
    with ExitStack() as stack:
        (client,) = serve_clients(config, 1, stack)
        models = [ask(client, "sk-solo").headers["x-turnout-model"] for _ in range(4)]
        assert models == ["p/premium", "p/premium", "p/cheap", "p/cheap"]


def test_an_answer_costs_its_usage_or_else_the_estimate() -> None:
    settings = parse_settings(
        CONFIG.format(
            backend="memory", redis="", when_spent="refuse", upstream="http://x", **KEYS
        ).encode(),
        {},
    )
    premium = Catalog(settings).targets["p/premium"]
    inp = analyze(
        decode_chat(msgspec.json.encode({**BODY, "max_tokens": 100}))[1], Caller("tenant")
    )
    usage = b'{"usage": {"prompt_tokens": 1000, "completion_tokens": 100}, "choices": []}'
    assert answer_cost(premium, usage, inp) == pytest.approx((1000 * 10 + 100 * 30) / 1e6)
    native = b'{"usage": {"input_tokens": 1000, "output_tokens": 100}}'  # Responses, Messages
    assert answer_cost(premium, native, inp) == pytest.approx((1000 * 10 + 100 * 30) / 1e6)
    estimate = (inp.token_estimate * 10 + 100 * 30) / 1e6
    assert answer_cost(premium, None, inp) == pytest.approx(estimate)  # a stream
    assert answer_cost(premium, b"not json", inp) == pytest.approx(estimate)
