"""Between a decision and the gateway: what a caller may send, and where, and what it cost.

`Admission.admit` applies, in order, the client's rate limits, the providers' availability,
the bandit's draw (on routes that learn from feedback), the conversation's model (sessions) and
the client's budgets to a decision's candidates; `Admission.settle` records an answer: the
arm that answered, the conversation's new model and the answer's price. Each part is optional
(None when not configured). It speaks in targets and bodies, not in the flow's or the
gateway's types, so that nothing here imports the layers above.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from turnout.policy.selector import available
from turnout.routing.decision import Tier

if TYPE_CHECKING:
    from collections.abc import Sequence

    from turnout.caller import Caller
    from turnout.catalog import Target
    from turnout.policy.bandit import Bandit
    from turnout.policy.budgets import Budgets
    from turnout.policy.limits import ClientLimits
    from turnout.policy.sessions import Sessions
    from turnout.routing.analyze import RoutingInput
    from turnout.routing.decision import Decision


@dataclass(frozen=True, slots=True)
class Admitted:
    """The candidates to try, in order, and the conversation they belong to."""

    candidates: tuple[Target, ...]
    conversation: str | None


@dataclass(frozen=True, slots=True)
class Settlement:
    """One answered request, as `Admission.settle` records it."""

    route: str | None
    conversation: str | None
    decision_id: str
    """The request id, by which feedback names the decision."""
    inp: RoutingInput
    answers: Sequence[tuple[Target, float]]
    """Each answer the request is charged for, with its price in dollars; the first is the one
    the client got (a cascade may have replaced a cheap one)."""
    calls: tuple[str, ...] = ()
    """The ids of the tool calls in the answer the client got."""


@dataclass(frozen=True, slots=True)
class Admission:
    """The per-caller policy steps around the gateway."""

    limits: ClientLimits | None
    bandit: Bandit | None
    sessions: Sessions | None
    budgets: Budgets | None

    async def check_limits(self, caller: Caller, inp: RoutingInput) -> None:
        """Count the request against the caller's rate limits (once per request).

        Raises:
            RateLimited: a rate limit of the caller is spent.
        """
        if self.limits is not None:
            await self.limits.admit(caller.key, inp.tokens)

    async def admit(
        self,
        caller: Caller,
        decision: Decision,
        offered: tuple[Target, ...],
        inp: RoutingInput,
        *,
        limits: bool = True,
    ) -> Admitted:
        """The candidates of ``offered`` (``decision``'s) that ``caller`` may use.

        ``limits``: False when the request was already counted (before a speculative call).
        A decision of `Tier.SESSION` puts the conversation's model first (a tool loop, a
        stored response): neither the bandit nor the session reorders it; budgets still may.

        Raises:
            RateLimited: a rate limit of the caller is spent.
            BudgetSpent: a budget of the caller is spent and the policy is to refuse.
            AllProvidersFailed: no candidate's provider has its API key.
        """
        if limits:
            await self.check_limits(caller, inp)
        candidates = available(offered)
        route, pinned = decision.route, decision.tier == Tier.SESSION
        bandit = self.bandit
        if bandit is not None and route is not None and not pinned and bandit.covers(route):
            candidates = await bandit.order(route, candidates)
        conversation = caller.conversation(inp.user)
        if self.sessions is not None and not pinned:
            candidates = await self.sessions.prefer(conversation, candidates)
        if self.budgets is not None:
            candidates = await self.budgets.admit(caller, candidates, inp)
        return Admitted(candidates, conversation)

    async def calls_target(
        self, caller: Caller, calls: tuple[str, ...]
    ) -> tuple[str | None, str] | None:
        """The route and target that made ``caller``'s tool ``calls``, if sessions know it."""
        if self.sessions is None:
            return None
        return await self.sessions.calls_target(caller.key, calls)

    async def settle(self, caller: Caller, settlement: Settlement) -> None:
        """Record an answer: the bandit's arm, the conversation's model, the budgets' charge."""
        route, target = settlement.route, settlement.answers[0][0]
        if self.bandit is not None and route is not None and self.bandit.covers(route):
            await self.bandit.remember(caller, settlement.decision_id, route, target)
        if self.sessions is not None:
            await self.sessions.remember(settlement.conversation, target)
            await self.sessions.remember_calls(caller.key, settlement.calls, route, target)
        if self.budgets is not None:
            for _, usd in settlement.answers:
                await self.budgets.charge(caller, usd)
