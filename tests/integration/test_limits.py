"""Client rate limits: exact across replicas over a real Redis, per key, in OpenAI's format."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
import redis
import redis.asyncio as aioredis

from tests.conftest import ENVIRON
from tests.fakes.process import turnout_serve
from tests.fakes.server import serve_config, serve_in_thread
from turnout.demo.upstream import SimulatedUpstream
from turnout.policy.limits import MemoryLimiter, RedisLimiter

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# A Redis call slower than state.timeout_ms falls back to local limits (availability over
# exactness); the generous deadline keeps a loaded 2-core host from timing the burst out.
CONFIG = """
state: {{backend: {backend}, url: "{redis}", timeout_ms: 2000}}
limits: {{client: {{requests_per_minute: {rpm}, tokens_per_minute: {tpm}}}}}
providers:
  - name: steady
    base_url: {steady}/v1
    models: [{{id: s, input_per_mtok: 1, output_per_mtok: 1, context_window: 100000}}]
routes:
  - {{name: general, targets: [steady/s]}}
default_route: general
"""
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="module")
def steady() -> Iterator[str]:
    with serve_in_thread(SimulatedUpstream("steady", record=False)) as url:
        yield url


def _subprocesses(config: str, replicas: int, folder: Path, stack: ExitStack) -> list[str]:
    """Replicas in processes of their own: in threads they would share one GIL with the test."""
    with ThreadPoolExecutor(replicas) as pool:
        started = [pool.submit(turnout_serve, config, folder, ENVIRON) for _ in range(replicas)]
        return [stack.enter_context(future.result()) for future in started]


async def _burst(urls: list[str], per_replica: int, key: str) -> list[httpx.Response]:
    answers: list[httpx.Response] = []
    limits = httpx.Limits(max_connections=per_replica * len(urls))
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=30, limits=limits, headers=headers) as client:

        async def one(url: str) -> None:
            answers.append(await client.post(f"{url}/v1/chat/completions", json=BODY))

        async with anyio.create_task_group() as group:
            for url in urls:
                for _ in range(per_replica):
                    group.start_soon(one, url)
    return answers


@pytest.mark.anyio
async def test_three_replicas_admit_exactly_the_limit(
    steady: str, redis_url: str, tmp_path: Path
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    config = CONFIG.format(backend="redis", redis=redis_url, rpm=20, tpm="null", steady=steady)
    with ExitStack() as stack:
        urls = _subprocesses(config, 3, tmp_path, stack)
        answers = await _burst(urls, 50, "sk-client-one")
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200] * 20 + [429] * 130
        refused = next(answer for answer in answers if answer.status_code == 429)
        error = refused.json()["error"]
        assert error["type"] == "rate_limit_error"
        assert error["code"] == "rate_limit_exceeded"
        assert "20 requests per minute" in error["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 3  # one request every 3 s
        assert "sk-client-one" not in refused.text
        # another key has a limit of its own
        other = await _burst(urls[:1], 5, "sk-client-two")
        assert [answer.status_code for answer in other] == [200] * 5


@pytest.mark.anyio
async def test_token_limit_counts_prompt_and_max_tokens_on_one_replica(steady: str) -> None:
    config = CONFIG.format(backend="memory", redis="", rpm="null", tpm=1000, steady=steady)
    with ExitStack() as stack:
        (url,) = serve_config(config, 1, stack)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            big = {**BODY, "max_tokens": 600}
            assert (await client.post("/v1/chat/completions", json=big)).status_code == 200
            refused = await client.post("/v1/chat/completions", json=big)
            assert refused.status_code == 429
            assert "1000 tokens per minute" in refused.json()["error"]["message"]
            small = {**BODY, "max_tokens": 100}
            assert (await client.post("/v1/chat/completions", json=small)).status_code == 200


@pytest.mark.anyio
async def test_memory_cells_admit_a_burst_then_one_per_interval() -> None:
    now = [0.0]
    limiter = MemoryLimiter(clock=lambda: now[0])
    admitted = [await limiter.acquire("k", 1, 6, 60.0) is None for _ in range(8)]
    assert admitted == [True] * 6 + [False] * 2
    wait = await limiter.acquire("k", 1, 6, 60.0)
    assert wait == pytest.approx(10.0)
    now[0] = 10.0
    assert await limiter.acquire("k", 1, 6, 60.0) is None
    assert await limiter.acquire("k", 1, 6, 60.0) is not None


PROVIDERS = """
gateway: {{retry: {{passes: 1}}}}
providers:
  - name: limited
    base_url: {steady}/v1
    limits: {{requests_per_minute: 2}}
    models: [{{id: s, input_per_mtok: 1, output_per_mtok: 1, context_window: 100000}}]
  - name: other
    base_url: {steady}/v1
    models: [{{id: s, input_per_mtok: 1, output_per_mtok: 1, context_window: 100000}}]
routes:
  - {{name: general, targets: [limited/s, other/s]}}
  - {{name: only, targets: [limited/s]}}
default_route: general
"""


@pytest.mark.anyio
async def test_a_provider_over_its_own_limit_is_skipped(steady: str) -> None:
    with ExitStack() as stack:
        (url,) = serve_config(PROVIDERS.format(steady=steady), 1, stack)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            models = []
            for _ in range(3):
                answer = await client.post("/v1/chat/completions", json=BODY)
                models.append(answer.headers["x-turnout-model"])
                assert answer.headers["x-turnout-attempts"] == "1"  # a skip sends nothing
            assert models == ["limited/s", "limited/s", "other/s"]
            refused = await client.post("/v1/chat/completions", json={**BODY, "model": "only"})
            assert refused.status_code == 429
            assert "limited/s is at its 2 requests per minute" in refused.json()["error"]["message"]
            assert 1 <= int(refused.headers["retry-after"]) <= 30


@pytest.mark.anyio
async def test_an_outage_or_a_restarted_redis_is_no_free_burst(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    local = MemoryLimiter()
    shared = RedisLimiter(client, local)
    admitted = [await shared.acquire("client:burst", 1, 5, 60.0) for _ in range(6)]
    assert admitted[:5] == [None] * 5
    assert admitted[5] is not None
    assert await local.acquire("client:burst", 1, 5, 60.0) is not None  # Redis out: no burst
    await client.flushdb()  # Redis restarted, empty
    assert await shared.acquire("client:burst", 1, 5, 60.0) is not None  # still no burst
    await client.aclose()
