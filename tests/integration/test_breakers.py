"""Circuit breakers across replicas: shared through a real Redis, and surviving its outage."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

import pytest
import redis

from tests.fakes.redis import redis_server
from tests.fakes.server import closed_port, serve_clients, serve_in_thread
from turnout.demo.upstream import Behaviour, SimulatedUpstream

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

CONFIG = """
state: {{backend: redis, url: "{redis}", timeout_ms: 50}}
gateway: {{total_timeout_s: 5, breaker: {{failures: 3, open_s: 30}}}}
providers:
  - name: flaky
    base_url: {flaky}/v1
    models: [{{id: f, input_per_mtok: 1, output_per_mtok: 1, context_window: 8000}}]
  - name: steady
    base_url: {steady}/v1
    models: [{{id: s, input_per_mtok: 1, output_per_mtok: 1, context_window: 8000}}]
routes:
  - {{name: general, targets: [flaky/f, steady/s]}}
default_route: general
"""
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def upstreams() -> Iterator[tuple[SimulatedUpstream, str, str]]:
    flaky = SimulatedUpstream("flaky", failure_rate=1.0)  # every request: 503
    steady = SimulatedUpstream("steady")
    with serve_in_thread(flaky) as flaky_url, serve_in_thread(steady) as steady_url:
        yield flaky, flaky_url, steady_url


def test_a_breaker_opened_on_one_replica_is_open_on_all(
    upstreams: tuple[SimulatedUpstream, str, str], redis_url: str
) -> None:
    flaky, flaky_url, steady_url = upstreams
    redis.Redis.from_url(redis_url).flushdb()
    config = CONFIG.format(redis=redis_url, flaky=flaky_url, steady=steady_url)
    with ExitStack() as stack:
        first, *others = serve_clients(config, 3, stack)
        for _ in range(3):
            answer = first.post("/v1/chat/completions", json=BODY)
            assert answer.status_code == 200
            assert answer.headers["x-turnout-model"] == "steady/s"
            assert answer.headers["x-turnout-attempts"] == "2"
        assert len(flaky.received) == 3
        for replica in [first, *others]:
            answer = replica.post("/v1/chat/completions", json=BODY)
            assert answer.status_code == 200
            assert answer.headers["x-turnout-attempts"] == "1"
            assert answer.headers["x-turnout-circuit-open"] == "flaky/f"
        assert len(flaky.received) == 3  # no replica sent it another request
        metrics = first.get("/metrics").text
        assert 'turnout_breaker_transitions_total{model="f",provider="flaky",state="open"} 1.0' in (
            metrics
        )


def test_redis_stopped_and_restarted_under_load_fails_no_request(
    upstreams: tuple[SimulatedUpstream, str, str],
    redis_required: bool,
) -> None:
    _, flaky_url, steady_url = upstreams
    port = closed_port()
    required = redis_required
    url = f"redis://127.0.0.1:{port}/0"
    config = CONFIG.format(redis=url, flaky=flaky_url, steady=steady_url)
    statuses: list[int] = []
    stop = threading.Event()

    def load(client: httpx.Client) -> None:
        while not stop.is_set():
            statuses.append(client.post("/v1/chat/completions", json=BODY).status_code)

    with ExitStack() as stack, ExitStack() as first_redis:
        first_redis.enter_context(redis_server(required=required, port=port))
        replicas = serve_clients(config, 2, stack)
        workers = [threading.Thread(target=load, args=(client,)) for client in replicas * 4]
        for worker in workers:
            worker.start()
        try:
            time.sleep(0.5)
            first_redis.close()  # Redis stops mid-load
            during = len(statuses)
            time.sleep(1.0)
            assert len(statuses) > during + 20  # requests kept flowing without Redis
            with redis_server(required=required, port=port):
                # The replicas try Redis again within the fallback's retry interval (1 s) and
                # write the flaky target's breaker there again.
                client = redis.Redis.from_url(url)
                deadline = time.monotonic() + 15
                while client.hget("turnout:breaker:flaky/f", "state") != b"open":
                    assert time.monotonic() < deadline, "the replicas never went back to Redis"
                    time.sleep(0.05)
                client.close()
        finally:
            stop.set()
            for worker in workers:
                worker.join()
    assert statuses
    assert set(statuses) == {200}


def test_a_provider_failing_some_or_all_requests_costs_clients_nothing(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    steady = SimulatedUpstream("steady", record=False)
    failing = [
        SimulatedUpstream("flaky", failure_rate=0.3, seed=3, record=False),  # 503s
        SimulatedUpstream("flaky"),  # 429 for everything, scripted below
    ]
    failing[1].queue(*[Behaviour("status", 429, retry_after=30)] * 400)
    for flaky in failing:
        with ExitStack() as stack:
            config = CONFIG.format(
                redis=redis_url,
                flaky=stack.enter_context(serve_in_thread(flaky)),
                steady=stack.enter_context(serve_in_thread(steady)),
            )
            replicas = serve_clients(config, 2, stack)
            statuses = [
                replica.post("/v1/chat/completions", json=BODY).status_code
                for _ in range(50)
                for replica in replicas
            ]
            assert statuses == [200] * 100
        redis.Redis.from_url(redis_url).flushdb()
