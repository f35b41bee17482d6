"""The shared decision cache (L2): one replica's decision serves another's near-duplicate."""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

import redis

from tests.conftest import ENVIRON
from tests.fakes.server import closed_port, serve_clients
from tests.integration.test_semantic import CONFIG, index_dir  # noqa: F401 - the fixture

if TYPE_CHECKING:
    from pathlib import Path

    import httpx


def _config(index: Path, beta: str, redis_url: str) -> str:
    # A deadline a test machine under load meets: what is tested here is the sharing, and a
    # lookup over the deadline is only a bypass (tests/unit/test_fallback.py).
    config = CONFIG.format(index=index, beta=beta).replace(
        "routing: {", "routing: {cache: {shared_timeout_ms: 250}, ", 1
    )
    return config + f'state: {{backend: redis, url: "{redis_url}"}}\n'


def decide(client: httpx.Client, text: str, key: str = "sk-tenant-a") -> dict[str, object]:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    answer = client.post("/v1/route", json=body, headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    decided: dict[str, object] = answer.json()
    return decided


def written(redis_url: str) -> None:
    """Wait (up to 5 s) until a replica's write-behind has put a decision into Redis."""
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 5
    while not client.keys("turnout:dc:*"):
        assert time.monotonic() < deadline, "the decision was never written behind"
        time.sleep(0.005)


def test_a_decision_is_shared_across_replicas_per_tenant(
    index_dir: Path,  # noqa: F811 - the imported fixture
    beta_upstream: tuple[object, str],
    redis_url: str,
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    with ExitStack() as stack:
        first, second = serve_clients(
            _config(index_dir, beta_upstream[1], redis_url), 2, stack, ENVIRON
        )
        decided = decide(first, "how do I reverse a linked list in rust?")
        assert decided["tier"] == "semantic"
        written(redis_url)
        shared = decide(second, "How do I reverse a linked list in Rust?")
        assert (shared["tier"], shared["route"]) == ("cache", decided["route"])
        assert 'turnout_shared_cache_total{outcome="hit"} 1.0' in second.get("/metrics").text
        stranger = decide(second, "How do I reverse a linked list in Rust?", key="sk-tenant-b")
        assert stranger["tier"] == "semantic"  # another tenant never reuses it
        opposite = decide(second, "how do I not reverse a linked list in rust?")
        assert opposite["tier"] == "semantic"


def test_an_unreachable_redis_is_bypassed(
    index_dir: Path,  # noqa: F811 - the imported fixture
    beta_upstream: tuple[object, str],
) -> None:
    down = f"redis://127.0.0.1:{closed_port()}/0"
    with ExitStack() as stack:
        (client,) = serve_clients(_config(index_dir, beta_upstream[1], down), 1, stack, ENVIRON)
        assert decide(client, "solve 2x + 5 = 13")["route"] == "math"
        assert decide(client, "write a sql query joining two tables")["route"] == "code"
        metrics = client.get("/metrics").text
        assert 'turnout_shared_cache_total{outcome="bypass"}' in metrics
