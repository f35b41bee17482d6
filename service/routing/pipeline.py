"""The decision pipeline: explicit model, then each tier in order, then the default route.

Fast tiers (rules) run inline; they take microseconds, so a thread hop would cost more than the
work. Slow tiers (semantic) are awaited after them. Each tier's time is recorded.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Protocol

from service.config import RESERVED_MODEL
from service.errors import ModelNotFound
from service.routing.decision import MS, Decision, RouteMatch, Tier

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from service.policy.catalog import Catalog
    from service.routing.analyze import RoutingInput


class FastTier(Protocol):
    """A tier cheap enough to run inline on the event loop."""

    @property
    def tier(self) -> Tier:
        """Which tier this is, for the decision and the timings."""
        ...

    def match(self, inp: RoutingInput) -> RouteMatch | None:
        """A route, or None to let the next tier decide."""
        ...


class SlowTier(Protocol):
    """A tier that awaits work done elsewhere (an encoder in a worker thread)."""

    @property
    def tier(self) -> Tier:
        """Which tier this is, for the decision and the timings."""
        ...

    async def match(self, inp: RoutingInput) -> RouteMatch | None:
        """A route, or None to let the next tier decide."""
        ...


class Pipeline:
    """Turns a request's ``model`` and `RoutingInput` into a `Decision`."""

    def __init__(
        self,
        catalog: Catalog,
        tiers: Sequence[FastTier],
        default_route: str,
        slow_tiers: Sequence[SlowTier] = (),
    ) -> None:
        self._catalog = catalog
        self._tiers = tuple(tiers)
        self._slow_tiers = tuple(slow_tiers)
        self._default_route = default_route

    async def decide(
        self, model: str, inp: RoutingInput, on_guess: Callable[[str], None] | None = None
    ) -> Decision:
        """Decide where a request goes.

        ``on_guess`` hears a fast tier's hint (a speculative rule's route) just before the slow
        tiers start, so the caller can act on it while they work.

        Raises:
            ModelNotFound: ``model`` is neither ``auto``, a route, nor a configured target.
        """
        if model != RESERVED_MODEL:
            return self._explicit(model)
        timings: dict[str, float] = {}
        guess = None
        for tier in self._tiers:
            started = perf_counter()
            found = tier.match(inp)
            timings[tier.tier] = (perf_counter() - started) * MS
            if found is not None and not found.hint:
                return _decision(found, timings)
            guess = guess or found
        if guess is not None and on_guess is not None and self._slow_tiers:
            on_guess(guess.route)
        for slow in self._slow_tiers:
            started = perf_counter()
            found = await slow.match(inp)
            timings[slow.tier] = (perf_counter() - started) * MS
            if found is not None:
                return _decision(found, timings)
        return Decision(
            self._default_route, Tier.DEFAULT, 0.0, "no tier matched", timings_ms=timings
        )

    def _explicit(self, model: str) -> Decision:
        if model in self._catalog.routes:
            return Decision(model, Tier.EXPLICIT, 1.0, f"model names route '{model}'")
        target = self._catalog.target(model)
        if target is None:
            raise ModelNotFound(
                f"The model '{model}' does not exist: use 'auto', a route name, "
                "or 'provider/model' as listed by GET /v1/models"
            )
        return Decision(None, Tier.EXPLICIT, 1.0, "model pinned by client", pinned=target.id)


def _decision(found: RouteMatch, timings: dict[str, float]) -> Decision:
    timings.update(found.phases_ms)
    return Decision(
        found.route,
        found.tier,
        found.confidence,
        found.reason,
        timings_ms=timings,
        evidence=found.evidence,
    )
