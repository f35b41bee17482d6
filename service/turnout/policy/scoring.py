"""Weighted scoring of a route's candidates: preference, cost, latency against an SLA, errors.

Each candidate gets a penalty in [0, 1] per criterion, and the route's weights
(``routes[].policy``) add them up; the lowest total goes first, ties keep the configured order.

- **preference**: the target's place in the route's list (first 0, last 1).
- **cost**: this request's estimated price (prompt tokens and ``max_tokens``, or
  ``OUTPUT_GUESS`` without it, at the model's prices) over the dearest candidate's.
- **latency**: the target's observed latency (an EWMA of the time to its answer: headers for a
  stream, the whole body otherwise) over the route's ``latency_sla_ms``, capped at 1; 0 until
  the target has been measured.
- **errors**: the target's recent failure rate (an EWMA of its attempts' outcomes).

Observations are this replica's own (`TargetStats`), fed by the gateway after every attempt.
Breakers (`turnout.policy.breaker`) still skip failing targets outright; scoring only orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from turnout.policy.pricing import Tokens, cost

if TYPE_CHECKING:
    from collections.abc import Sequence

    from turnout.catalog import Target
    from turnout.config import PolicySettings
    from turnout.routing.analyze import RoutingInput

OUTPUT_GUESS: Final = 500  # tokens, when a request sets no max_tokens
ALPHA: Final = 0.2  # EWMA weight of the newest observation


@dataclass(slots=True)
class _Observed:
    latency_ms: float | None = None
    error_rate: float = 0.0


class TargetStats:
    """Latency and failure EWMAs per target, in this process."""

    def __init__(self) -> None:
        self._seen: dict[str, _Observed] = {}

    def observe(self, target: str, *, ok: bool, latency_ms: float | None) -> None:
        """Fold one attempt's outcome (and its latency, when it answered) into the EWMAs."""
        seen = self._seen.setdefault(target, _Observed())
        seen.error_rate += ALPHA * ((0.0 if ok else 1.0) - seen.error_rate)
        if latency_ms is not None:
            last = seen.latency_ms
            seen.latency_ms = latency_ms if last is None else last + ALPHA * (latency_ms - last)

    def latency_ms(self, target: str) -> float | None:
        """The latency EWMA, or None before the first answer."""
        seen = self._seen.get(target)
        return None if seen is None else seen.latency_ms

    def error_rate(self, target: str) -> float:
        """The failure EWMA (0 before any attempt)."""
        seen = self._seen.get(target)
        return 0.0 if seen is None else seen.error_rate


def estimated_cost(target: Target, inp: RoutingInput) -> float:
    """The request's price at ``target`` in dollars, from the router's token estimate."""
    return cost(target.model, Tokens(inp.token_estimate, inp.output_limit or OUTPUT_GUESS))


def order(
    targets: Sequence[Target], inp: RoutingInput, policy: PolicySettings, stats: TargetStats
) -> tuple[Target, ...]:
    """``targets`` (in configured order) sorted by their weighted penalty, lowest first."""
    if len(targets) < 2 or policy.is_preference_only:
        return tuple(targets)
    last = len(targets) - 1
    costs = [estimated_cost(target, inp) for target in targets]
    dearest = max(costs) or 1.0
    sla = policy.latency_sla_ms

    def penalty(i: int) -> float:
        target = targets[i]
        latency = stats.latency_ms(target.id)
        slow = min(1.0, latency / sla) if latency is not None and sla else 0.0
        return (
            policy.preference * i / last
            + policy.cost * costs[i] / dearest
            + policy.latency * slow
            + policy.errors * stats.error_rate(target.id)
        )

    ranked = sorted(range(len(targets)), key=lambda i: (penalty(i), i))
    return tuple(targets[i] for i in ranked)
