"""Between a decision and the gateway: what a caller may send, and where, and what it cost.

`Admission.admit` applies, in order, the client's rate limits, the providers' availability,
the conversation's model (sessions) and the client's budgets to a decision's candidates;
`Admission.settle` records the answer: the conversation's new model and the answer's price.
Each part is optional (None when not configured).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.policy.budgets import answer_cost
from service.policy.selector import available

if TYPE_CHECKING:
    from service.policy.budgets import Budgets
    from service.policy.caller import Caller
    from service.policy.catalog import Target
    from service.policy.limits import ClientLimits
    from service.policy.sessions import Sessions
    from service.router import Routed


@dataclass(frozen=True, slots=True)
class Admitted:
    """The candidates to try, in order, and the conversation they belong to."""

    candidates: tuple[Target, ...]
    conversation: str | None


@dataclass(frozen=True, slots=True)
class Admission:
    """The per-caller policy steps around the gateway."""

    limits: ClientLimits | None
    sessions: Sessions | None
    budgets: Budgets | None

    async def admit(self, caller: Caller, routed: Routed) -> Admitted:
        """The candidates ``caller`` may send ``routed`` to.

        Raises:
            RateLimited: a rate limit of the caller is spent.
            BudgetSpent: a budget of the caller is spent and the policy is to refuse.
            AllProvidersFailed: no candidate's provider has its API key.
        """
        inp = routed.inp
        if self.limits is not None:
            await self.limits.admit(caller.key, inp.token_estimate + (inp.output_limit or 0))
        candidates = available(routed.candidates)
        conversation = caller.conversation(inp.user)
        if self.sessions is not None:
            candidates = await self.sessions.prefer(conversation, candidates)
        if self.budgets is not None:
            candidates = await self.budgets.admit(caller, candidates, inp)
        return Admitted(candidates, conversation)

    async def settle(
        self, caller: Caller, routed: Routed, admitted: Admitted, target: Target, body: bytes | None
    ) -> None:
        """Record an answer from ``target`` (``body``: its JSON, None for a stream)."""
        if self.sessions is not None:
            await self.sessions.remember(admitted.conversation, target)
        if self.budgets is not None:
            await self.budgets.charge(caller, answer_cost(target, body, routed.inp))
