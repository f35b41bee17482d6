"""The decision pipeline: explicit model, then each tier in order, then the default route.

Fast tiers (rules) run inline; they take microseconds, so a thread hop would cost more than the
work. Slow tiers (semantic) are awaited after them. The two steps are separate (`Pipeline.fast`,
`Pipeline.slow`), so that the request's flow can start a speculative call between them
(`turnout.flow`), and a slow tier can hand over a guess of its own before it decides
(`Guessed`). Each tier's time is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Final, Protocol

from turnout.config import RESERVED_MODEL
from turnout.errors import ModelNotFound
from turnout.routing.decision import MS, Decision, Guessed, RouteMatch, Tier

if TYPE_CHECKING:
    from collections.abc import Sequence

    from turnout.catalog import Catalog
    from turnout.routing.analyze import RoutingInput

SHOWN_MODEL_CHARS: Final = 100  # of an unknown model's name, in its 404


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

    @property
    def guesses(self) -> bool:
        """Whether `match` may hand over an early guess now (to ``guessed``)."""
        ...

    async def match(self, inp: RoutingInput, guessed: Guessed | None = None) -> RouteMatch | None:
        """A route, or None to let the next tier decide; ``guessed`` told of an early guess."""
        ...


@dataclass(frozen=True, slots=True)
class Pending:
    """The fast tiers did not decide: their timings, and a speculative rule's guess if any.

    ``guess`` is set only when slow tiers follow, since only they leave time to act on it.
    """

    timings_ms: dict[str, float]
    guess: str | None


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

    def fast(self, model: str, inp: RoutingInput) -> Decision | Pending:
        """The explicit model or the first fast tier that decides; else what the slow tiers need.

        A speculative rule's hint does not decide: it comes back as the `Pending`'s guess, so the
        caller can act on it while the slow tiers work.

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
        return Pending(timings, guess.route if guess is not None and self._slow_tiers else None)

    @property
    def guesses(self) -> bool:
        """Whether a slow tier may hand over an early guess (`Guessed`) before it decides."""
        return any(slow.guesses for slow in self._slow_tiers)

    async def slow(
        self, pending: Pending, inp: RoutingInput, guessed: Guessed | None = None
    ) -> Decision:
        """The first slow tier that decides, else the default route.

        ``guessed``: told of a slow tier's early guess (`Guessed`), if it makes one.
        """
        timings = dict(pending.timings_ms)
        for slow in self._slow_tiers:
            started = perf_counter()
            found = await slow.match(inp, guessed)
            timings[slow.tier] = (perf_counter() - started) * MS
            if found is not None:
                return _decision(found, timings)
        return Decision(
            self._default_route, Tier.DEFAULT, 0.0, "no tier matched", timings_ms=timings
        )

    async def decide(self, model: str, inp: RoutingInput) -> Decision:
        """`fast`, then `slow` when the fast tiers did not decide (a guess is ignored).

        Raises:
            ModelNotFound: ``model`` is neither ``auto``, a route, nor a configured target.
        """
        found = self.fast(model, inp)
        return found if isinstance(found, Decision) else await self.slow(found, inp)

    def _explicit(self, model: str) -> Decision:
        if model in self._catalog.routes:
            return Decision(model, Tier.EXPLICIT, 1.0, f"model names route '{model}'")
        target = self._catalog.target(model)
        if target is None:
            shown = model if len(model) <= SHOWN_MODEL_CHARS else model[:SHOWN_MODEL_CHARS] + "..."
            raise ModelNotFound(
                f"The model '{shown}' does not exist: use 'auto', a route name, "
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
