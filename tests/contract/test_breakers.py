"""Circuit breakers: one state machine, asserted for this process's and for Redis's."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import pytest
import redis.asyncio as aioredis

from tests.fakes.server import closed_port
from turnout.config import BreakerSettings
from turnout.policy.breaker import (
    Breakers,
    BreakerState,
    MemoryBreakers,
    RedisBreakers,
)
from turnout.state.fallback import Fallback, Replicated

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

SETTINGS = BreakerSettings(failures=3, error_rate=0.5, min_requests=10, window_s=60, open_s=30)
T = "alpha/a-small"


@pytest.fixture(params=["memory", "redis"])
async def make(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Callable[[BreakerSettings], Breakers]]:
    if request.param == "memory":
        yield MemoryBreakers
        return
    client = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
    await client.flushdb()
    yield lambda settings: RedisBreakers(client, settings)
    await client.aclose()


@pytest.mark.anyio
async def test_consecutive_failures_open_and_a_probe_closes(
    make: Callable[[BreakerSettings], Breakers],
) -> None:
    breakers = make(SETTINGS)
    assert await breakers.allow(T, 0.0)
    assert await breakers.record(T, ok=False, now=1.0) is None
    assert await breakers.record(T, ok=True, now=2.0) is None  # a success resets the run
    assert await breakers.record(T, ok=False, now=3.0) is None
    assert await breakers.record(T, ok=False, now=4.0) is None
    assert await breakers.record(T, ok=False, now=5.0) is BreakerState.OPEN
    assert not await breakers.allow(T, 6.0)
    assert not await breakers.allow(T, 34.9)
    assert await breakers.allow(T, 35.0)  # the one half-open probe
    assert not await breakers.allow(T, 35.1)
    assert await breakers.record(T, ok=True, now=36.0) is BreakerState.CLOSED
    assert await breakers.allow(T, 36.1)
    assert await breakers.allow("beta/b-large", 6.0)  # breakers are per target


@pytest.mark.anyio
async def test_a_failed_probe_reopens_and_a_lost_probe_is_replaced(
    make: Callable[[BreakerSettings], Breakers],
) -> None:
    breakers = make(SETTINGS)
    for now in (1.0, 2.0, 3.0):
        await breakers.record(T, ok=False, now=now)
    assert await breakers.allow(T, 33.0)
    assert await breakers.record(T, ok=False, now=34.0) is BreakerState.OPEN
    assert not await breakers.allow(T, 63.0)
    assert await breakers.allow(T, 64.0)  # probe 1, never reports
    assert not await breakers.allow(T, 93.0)
    assert await breakers.allow(T, 94.0)  # probe 2 replaces it


@pytest.mark.anyio
async def test_error_rate_opens_once_enough_requests_were_seen(
    make: Callable[[BreakerSettings], Breakers],
) -> None:
    breakers = make(SETTINGS)
    changes = [await breakers.record(T, ok=i % 2 == 0, now=float(i)) for i in range(10)]
    assert changes == [None] * 9 + [BreakerState.OPEN]  # 5 failures of 10, never 3 in a row
    assert not await breakers.allow(T, 10.0)


@pytest.mark.anyio
async def test_the_window_forgets_old_outcomes(
    make: Callable[[BreakerSettings], Breakers],
) -> None:
    breakers = make(SETTINGS)
    for i in range(8):
        await breakers.record(T, ok=i % 2 == 0, now=float(i))
    # a new window: the 4 old failures no longer count towards the rate
    changes = [await breakers.record(T, ok=i % 2 == 0, now=61.0 + i) for i in range(8)]
    assert changes == [None] * 8
    assert await breakers.allow(T, 70.0)


@pytest.mark.anyio
async def test_replicas_share_one_breaker_and_one_probe(redis_url: str) -> None:
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(3)]
    await clients[0].flushdb()
    replicas = [RedisBreakers(client, SETTINGS) for client in clients]
    for now, replica in zip((1.0, 2.0, 3.0), replicas, strict=True):
        await replica.record(T, ok=False, now=now)
    assert [await replica.allow(T, 4.0) for replica in replicas] == [False] * 3
    granted: list[bool] = []

    async def ask(replica: Breakers) -> None:
        granted.append(await replica.allow(T, 40.0))

    async with anyio.create_task_group() as group:
        for replica in replicas * 10:
            group.start_soon(ask, replica)
    assert sorted(granted) == [False] * 29 + [True]
    for client in clients:
        await client.aclose()


@pytest.mark.anyio
async def test_unreachable_redis_falls_back_to_local_breakers_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=0.05
    )
    fallback = Fallback(timeout_s=0.05)
    local: Breakers = MemoryBreakers(SETTINGS)
    breakers = Replicated(local, RedisBreakers(client, SETTINGS), fallback)

    async def fail(now: float) -> BreakerState | None:
        return await breakers.run(lambda b: b.record(T, ok=False, now=now))

    with caplog.at_level(logging.WARNING, logger="turnout.state.fallback"):
        assert [await fail(now) for now in (1.0, 2.0, 3.0)] == [None, None, BreakerState.OPEN]
        assert not await breakers.run(lambda b: b.allow(T, 4.0))
    assert fallback.down
    assert len([r for r in caplog.records if "redis unreachable" in r.message]) == 1
    await client.aclose()
