"""The Redis-or-local fallback: failures are outages; slow calls are outages only if told so."""

from __future__ import annotations

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
