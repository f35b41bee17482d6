"""Bandit: learn which of a route's candidates answers best, from clients' feedback.

On a route with ``bandit: {enabled: true}``, each candidate is an arm with a Beta posterior
over its reward (starting at Beta(1, 1)). For each request one arm is drawn by Thompson
sampling and put first; the others follow in the policy's order, for failover. Exploration is
bounded: when the draw differs from the arm with the best posterior mean, it is kept only with
probability ``max_explore``; and it decays by itself as the posteriors narrow.

Rewards come from ``POST /v1/feedback`` with the answer's decision id (its ``x-request-id``)
and a score in [0, 1], from the same client key; a score of s adds s to the arm's alpha and
1 - s to its beta. Posteriors and the decision ids of the last day live in Redis, shared by
replicas (this process's own while Redis is out).
"""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import TYPE_CHECKING, Final, Protocol

from turnout.errors import FeedbackNotFound

if TYPE_CHECKING:
    from turnout.caller import Caller
    from turnout.catalog import Target
    from turnout.config import Settings
    from turnout.state.fallback import Replicated
    from turnout.state.protocol import State
    from turnout.state.redis import RedisClient

ARMS: Final = "turnout:bandit:"
DECISIONS: Final = "turnout:decision:"
DECISION_TTL_S: Final = 86_400
LOCAL_DECISIONS: Final = 100_000


class BanditStore(Protocol):
    """Posteriors per route and arm, and which arm answered each decision."""

    async def posteriors(self, route: str, arms: list[str]) -> list[tuple[float, float]]:
        """Each arm's (alpha, beta) pseudo-counts on top of the Beta(1, 1) prior."""
        ...

    async def reward(self, route: str, arm: str, score: float) -> None:
        """Add ``score`` to the arm's alpha and ``1 - score`` to its beta."""
        ...

    async def remember(self, decision: str, route: str, arm: str) -> None:
        """Which route and arm answered ``decision``, for its feedback."""
        ...

    async def recall(self, decision: str) -> tuple[str, str] | None:
        """The route and arm of ``decision``, once: None if unknown, expired or already scored."""
        ...


class MemoryBandit:
    """Posteriors and recent decisions in this process."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], tuple[float, float]] = {}
        self._decisions: OrderedDict[str, tuple[str, str]] = OrderedDict()

    async def posteriors(self, route: str, arms: list[str]) -> list[tuple[float, float]]:
        """See `BanditStore.posteriors`."""
        return [self._counts.get((route, arm), (0.0, 0.0)) for arm in arms]

    async def reward(self, route: str, arm: str, score: float) -> None:
        """See `BanditStore.reward`."""
        alpha, beta = self._counts.get((route, arm), (0.0, 0.0))
        self._counts[route, arm] = (alpha + score, beta + 1.0 - score)

    async def remember(self, decision: str, route: str, arm: str) -> None:
        """See `BanditStore.remember`."""
        self._decisions[decision] = (route, arm)
        while len(self._decisions) > LOCAL_DECISIONS:
            self._decisions.popitem(last=False)

    async def recall(self, decision: str) -> tuple[str, str] | None:
        """See `BanditStore.recall`."""
        return self._decisions.pop(decision, None)


class RedisBandit:
    """Posteriors in one hash per route; decisions as keys that expire after a day."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client

    async def posteriors(self, route: str, arms: list[str]) -> list[tuple[float, float]]:
        """See `BanditStore.posteriors`."""
        fields = [f"{arm}\0{side}" for arm in arms for side in ("a", "b")]
        found = await self._client.hmget(ARMS + route, fields)
        values = [float(value) if value is not None else 0.0 for value in found]
        return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]

    async def reward(self, route: str, arm: str, score: float) -> None:
        """See `BanditStore.reward`."""
        async with self._client.pipeline(transaction=True) as pipe:
            # Commands queue until execute(); awaiting one would reset a cluster pipeline.
            _ = pipe.hincrbyfloat(ARMS + route, f"{arm}\0a", score)
            _ = pipe.hincrbyfloat(ARMS + route, f"{arm}\0b", 1.0 - score)
            await pipe.execute()

    async def remember(self, decision: str, route: str, arm: str) -> None:
        """See `BanditStore.remember`."""
        await self._client.set(DECISIONS + decision, f"{route}\0{arm}", ex=DECISION_TTL_S)

    async def recall(self, decision: str) -> tuple[str, str] | None:
        """See `BanditStore.recall`."""
        found = await self._client.getdel(DECISIONS + decision)
        if found is None:
            return None
        text = found.decode() if isinstance(found, bytes) else str(found)
        route, _, arm = text.partition("\0")
        return route, arm


class Bandit:
    """Thompson sampling over the candidates of the routes that ask for it."""

    def __init__(
        self, store: Replicated[BanditStore], settings: Settings, rng: random.Random | None = None
    ) -> None:
        self._store = store
        self._routes = {
            route.name: route.bandit.max_explore
            for route in settings.routes
            if route.bandit.enabled
        }
        self._rng = rng or random.Random()  # noqa: S311 - exploration, not secrets

    def covers(self, route: str | None) -> bool:
        """Whether ``route`` learns from feedback."""
        return route in self._routes

    async def order(self, route: str, candidates: tuple[Target, ...]) -> tuple[Target, ...]:
        """``candidates`` with the drawn arm first, the rest in their order."""
        if len(candidates) < 2:
            return candidates
        arms = [target.id for target in candidates]
        counts = await self._store.run(lambda store: store.posteriors(route, arms))
        draws = [self._rng.betavariate(1 + a, 1 + b) for a, b in counts]
        means = [(1 + a) / (2 + a + b) for a, b in counts]
        drawn = max(range(len(arms)), key=draws.__getitem__)
        best = max(range(len(arms)), key=means.__getitem__)
        if drawn != best and self._rng.random() >= self._routes[route]:
            drawn = best
        return (candidates[drawn], *(t for i, t in enumerate(candidates) if i != drawn))

    async def remember(self, caller: Caller, decision: str, route: str, target: Target) -> None:
        """Remember which arm answered ``decision`` for ``caller``."""
        key = f"{caller.key}:{decision}"
        await self._store.run(lambda store: store.remember(key, route, target.id))

    async def feedback(self, caller: Caller, decision: str, score: float) -> tuple[str, str]:
        """Reward the arm that answered ``decision``; its route and arm.

        Raises:
            FeedbackNotFound: no decision of this caller's by that id in the last day, or one
                already scored.
        """
        key = f"{caller.key}:{decision}"
        found = await self._store.run(lambda store: store.recall(key))
        if found is None:
            raise FeedbackNotFound(
                f"no decision '{decision}' of this API key awaits feedback (unknown, older than "
                "a day, already scored, or on a route without a bandit)",
                param="decision_id",
            )
        route, arm = found
        await self._store.run(lambda store: store.reward(route, arm, score))
        return route, arm


def open_bandit(state: State, settings: Settings) -> Bandit | None:
    """The bandit on the configured state, or None when no route asks for one."""
    if not any(route.bandit.enabled for route in settings.routes):
        return None
    local: BanditStore = MemoryBandit()
    return Bandit(state.replicated(local, RedisBandit), settings)
