"""The Redis-or-local fallback: failures are outages; slow calls are outages only if told so."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from turnout.state.fallback import Fallback


async def slow() -> str:
    await anyio.sleep(0.05)
    return "shared"


async def failing() -> str:
    raise ConnectionError("refused")


async def local() -> str:
    return "local"


async def shared() -> str:
    return "shared"


@pytest.mark.anyio
async def test_a_slow_call_of_a_cache_skips_redis_for_that_call_only() -> None:
    fallback = Fallback(timeout_s=0.005, slow_is_down=False)
    assert await fallback.call(slow, local) == "local"
    assert not fallback.down
    assert await fallback.call(shared, local) == "shared"


@pytest.mark.anyio
async def test_a_slow_call_of_shared_state_is_an_outage() -> None:
    fallback = Fallback(timeout_s=0.005, clock=lambda: 0.0)
    assert await fallback.call(slow, local) == "local"
    assert fallback.down
    assert await fallback.call(shared, local) == "local"  # skipped for retry_s


@pytest.mark.anyio
async def test_a_failure_is_an_outage_either_way() -> None:
    fallback = Fallback(timeout_s=0.005, slow_is_down=False, clock=lambda: 0.0)
    assert await fallback.call(failing, local) == "local"
    assert fallback.down


async def cancelled_inside() -> str:
    raise asyncio.CancelledError  # as when a Redis client's own task is cancelled


@pytest.mark.anyio
async def test_a_cancellation_from_inside_redis_is_an_outage_but_the_callers_own_is_not() -> None:
    fallback = Fallback(timeout_s=1.0, clock=lambda: 0.0)
    assert await fallback.call(cancelled_inside, local) == "local"
    assert fallback.down
    fresh = Fallback(timeout_s=1.0)
    with anyio.move_on_after(0.01) as scope:
        await fresh.call(slow_forever, local)
    assert scope.cancelled_caught  # the caller's cancellation went through
    assert not fresh.down


async def slow_forever() -> str:
    await anyio.sleep(60)
    return "shared"
