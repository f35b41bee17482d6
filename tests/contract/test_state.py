"""The `State` protocol, asserted once for every backend (memory and a real Redis)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.fakes.server import closed_port
from turnout.config import StateSettings
from turnout.state import MemoryState, RedisState, open_state

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from turnout.state.protocol import State


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[State]:
    if request.param == "memory":
        settings = StateSettings()
    else:
        settings = StateSettings(backend="redis", url=request.getfixturevalue("redis_url"))
    backend = open_state(settings)
    yield backend
    await backend.aclose()


@pytest.mark.anyio
async def test_backend_answers_ping(state: State) -> None:
    assert await state.ping()
    assert state.backend in {"memory", "redis"}


@pytest.mark.anyio
async def test_open_state_picks_the_configured_backend(redis_url: str) -> None:
    assert isinstance(open_state(StateSettings()), MemoryState)
    backend = open_state(StateSettings(backend="redis", url=redis_url))
    assert isinstance(backend, RedisState)
    await backend.aclose()


@pytest.mark.anyio
async def test_unreachable_redis_reports_false_within_its_timeout() -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    backend = RedisState(StateSettings(backend="redis", url=url, timeout_ms=50))
    assert not await backend.ping()
    await backend.aclose()
