"""Every Redis-backed store works on a real Redis Cluster: no script or pipeline crosses slots.

A store whose keys landed in different slots would fail with CROSSSLOT, and its `Fallback`
would quietly answer from local state; these tests call the shared stores directly, through
the same `RedisState` the service builds, so such an error fails them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from tests.fakes.redis import redis_cluster, server_binary
from turnout.config import BreakerSettings, CacheSettings, StateSettings
from turnout.flow.stored import RedisResponses
from turnout.policy.bandit import RedisBandit
from turnout.policy.breaker import RedisBreakers
from turnout.policy.budgets import RedisSpend
from turnout.policy.limits import RedisLimiter
from turnout.policy.sessions import RedisSessions
from turnout.routing.decision import RouteMatch, Tier
from turnout.routing.shared_cache import SharedDecisionCache
from turnout.state.redis import RedisState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from tests.fakes.redis import Cluster

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]
SLOW_MS = 10_000.0


@pytest.fixture(scope="module")
def cluster(redis_required: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    binary = server_binary("redis", required=redis_required)
    with redis_cluster(binary, tmp_path_factory.mktemp("cluster")) as found:
        yield found


@pytest.fixture
async def state(cluster: Cluster) -> AsyncIterator[RedisState]:
    # Generous timeouts: these tests are about slots, and a loaded machine must not turn a slow
    # first call (the cluster client learns the slot map) into a quiet fallback.
    settings = StateSettings(backend="redis", cluster=tuple(cluster.nodes[:1]), timeout_ms=SLOW_MS)
    backend = RedisState(settings)
    yield backend
    await backend.aclose()


@pytest.mark.anyio
async def test_the_cluster_answers_and_names_itself(state: RedisState) -> None:
    assert await state.ping()
    assert state.backend == "redis cluster"


@pytest.mark.anyio
async def test_a_client_and_its_team_are_charged_by_one_script(state: RedisState) -> None:
    spend = RedisSpend(state.client)
    accounts = ["client:a", "team:research", "client:b"]  # keys of every slot but for the tag
    await spend.charge(accounts, 20_000, 0.25)
    await spend.charge(accounts[:2], 20_000, 0.5)
    assert await spend.spent(accounts, 20_000) == [0.75, 0.75, 0.25]


@pytest.mark.anyio
async def test_limits_breakers_and_the_bandit(state: RedisState) -> None:
    limiter = RedisLimiter(state.client)
    assert await limiter.acquire("client:x:requests", 1, 1, 60.0) is None
    assert await limiter.acquire("client:x:requests", 1, 1, 60.0) is not None  # a wait
    settings = BreakerSettings(failures=2)
    breakers = RedisBreakers(state.client, settings)
    for _ in range(2):
        await breakers.record("p/m", ok=False, now=1000.0)
    assert not await breakers.allow("p/m", 1001.0)
    bandit = RedisBandit(state.client)
    await bandit.reward("code", "p/m", 1.0)
    assert await bandit.posteriors("code", ["p/m", "p/n"]) == [(1.0, 0.0), (0.0, 0.0)]
    await bandit.remember("decision-1", "code", "p/m")
    assert await bandit.recall("decision-1") == ("code", "p/m")


@pytest.mark.anyio
async def test_sessions_responses_and_shared_decisions(state: RedisState) -> None:
    sessions = RedisSessions(state.client, ttl_s=60)
    await sessions.put("conversation-1", "p/m")
    assert await sessions.get("conversation-1") == "p/m"
    responses = RedisResponses(state.client, ttl_s=60)
    await responses.put("client:resp_1", b"{}")
    assert await responses.get("client:resp_1") == b"{}"
    assert await responses.delete("client:resp_1")
    cache = SharedDecisionCache(
        state.client, CacheSettings(shared_timeout_ms=SLOW_MS), dim=8, config_version="v1"
    )
    vector = np.ones(8, dtype=np.float32) / np.sqrt(8)
    match = RouteMatch("code", Tier.SEMANTIC, 0.9, "near exemplars of code")
    cache.put("auto", "tenant", vector, "write a parser", match)  # 8 buckets, 8 slots
    await cache.flush()
    hit, outcome = await cache.get("auto", "tenant", vector, "write a parser")
    assert outcome == "hit"
    assert hit is not None
    assert hit.match.route == "code"
