"""Between a decision and the gateway: what a caller may send, and where, and what it cost.

`Admission.admit` applies, in order, the client's rate limits, the providers' availability,
the bandit's draw (on routes that learn from feedback), the conversation's model (sessions) and
the client's budgets to a decision's candidates; `Admission.settle` records the answer: the
arm that answered, the conversation's new model and the answer's price. Each part is optional
(None when not configured).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.policy.budgets import answer_cost
from service.policy.selector import available

if TYPE_CHECKING:
    from service.gateway.cascade import Cascaded
    from service.policy.bandit import Bandit
    from service.policy.budgets import Budgets
    from service.policy.caller import Caller
    from service.policy.catalog import Target
    from service.policy.limits import ClientLimits
    from service.policy.sessions import Sessions
    from service.router import Routed


def tokens(routed: Routed) -> int:
    """The request's token estimate: its prompt and the output it allows."""
    return routed.inp.token_estimate + (routed.inp.output_limit or 0)


@dataclass(frozen=True, slots=True)
class Admitted:
    """The candidates to try, in order, and the conversation they belong to."""

    candidates: tuple[Target, ...]
    conversation: str | None


@dataclass(frozen=True, slots=True)
class Admission:
    """The per-caller policy steps around the gateway."""

    limits: ClientLimits | None
    bandit: Bandit | None
    sessions: Sessions | None
    budgets: Budgets | None

    async def check_limits(self, caller: Caller, routed: Routed) -> None:
        """Count the request against the caller's rate limits (once per request).

        Raises:
            RateLimited: a rate limit of the caller is spent.
        """
        if self.limits is not None:
            await self.limits.admit(caller.key, tokens(routed))

    async def admit(self, caller: Caller, routed: Routed, *, limits: bool = True) -> Admitted:
        """The candidates ``caller`` may send ``routed`` to.

        ``limits``: False when the request was already counted (by a speculative guess).

        Raises:
            RateLimited: a rate limit of the caller is spent.
            BudgetSpent: a budget of the caller is spent and the policy is to refuse.
            AllProvidersFailed: no candidate's provider has its API key.
        """
        inp = routed.inp
        if limits:
            await self.check_limits(caller, routed)
        candidates = available(routed.candidates)
        route = routed.decision.route
        if self.bandit is not None and route is not None and self.bandit.covers(route):
            candidates = await self.bandit.order(route, candidates)
        conversation = caller.conversation(inp.user)
        if self.sessions is not None:
            candidates = await self.sessions.prefer(conversation, candidates)
        if self.budgets is not None:
            candidates = await self.budgets.admit(caller, candidates, inp)
        return Admitted(candidates, conversation)

    async def settle(
        self,
        caller: Caller,
        routed: Routed,
        admitted: Admitted,
        sent: Cascaded,
        decision_id: str,
    ) -> None:
        """Record the answer ``sent`` to the decision ``decision_id`` (its request id).

        A cheap answer the cascade replaced is charged too.
        """
        opened = sent.answer
        target, route = opened.target, routed.decision.route
        if self.bandit is not None and route is not None and self.bandit.covers(route):
            await self.bandit.remember(caller, decision_id, route, target)
        if self.sessions is not None:
            await self.sessions.remember(admitted.conversation, target)
        if self.budgets is not None:
            for answer in (opened, sent.replaced):
                if answer is not None:
                    cost = answer_cost(answer.target, answer.body, routed.inp)
                    await self.budgets.charge(caller, cost)
