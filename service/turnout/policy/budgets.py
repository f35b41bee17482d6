"""Budgets: dollars per UTC day per client key and per team, shared by replicas through Redis.

Each answer is charged to its client and the client's team: at the chosen model's prices for
the upstream's reported ``usage``, or, when it reports none (streams usually), for the router's
estimate (prompt tokens plus ``max_tokens``, or 500 output tokens). Before a request is sent,
a spent budget either refuses it (``budgets.when_spent: refuse``, OpenAI's 429
``insufficient_quota``, ``Retry-After`` at the next UTC midnight) or sends it only to the
cheapest capable candidate (``cheapest``). Only configured clients (``clients[]``) and teams
(``teams``) have budgets. A request in flight when a budget runs out still completes, so a day
may end slightly over.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final, Protocol

from turnout.errors import BudgetSpent
from turnout.policy.pricing import answer_tokens, cost
from turnout.policy.scoring import estimated_cost

if TYPE_CHECKING:
    from collections.abc import Callable

    from turnout.caller import Caller
    from turnout.catalog import Target
    from turnout.config import Settings
    from turnout.routing.analyze import RoutingInput
    from turnout.state.fallback import Replicated
    from turnout.state.protocol import State
    from turnout.state.redis import RedisClient

KEY_PREFIX: Final = "turnout:spend:"
DAY_S: Final = 86_400


def answer_cost(target: Target, body: bytes | None, inp: RoutingInput) -> float:
    """The price of one answer: from its ``usage`` when it has one, else the estimate."""
    tokens = None if body is None else answer_tokens(body)
    return estimated_cost(target, inp) if tokens is None else cost(target.model, tokens)


class SpendStore(Protocol):
    """Dollars spent per account and day."""

    async def spent(self, accounts: list[str], day: int) -> list[float]:
        """What each account spent on ``day`` (days since the epoch, UTC)."""
        ...

    async def charge(self, accounts: list[str], day: int, usd: float) -> None:
        """Add ``usd`` to each account's spend on ``day``."""
        ...


class MemorySpend:
    """Spend in this process (old days are dropped as new ones start)."""

    def __init__(self) -> None:
        self._day = -1
        self._spent: dict[str, float] = {}

    async def spent(self, accounts: list[str], day: int) -> list[float]:
        """See `SpendStore.spent`."""
        self._roll(day)
        return [self._spent.get(account, 0.0) for account in accounts]

    async def charge(self, accounts: list[str], day: int, usd: float) -> None:
        """See `SpendStore.charge`."""
        self._roll(day)
        for account in accounts:
            self._spent[account] = self._spent.get(account, 0.0) + usd

    def _roll(self, day: int) -> None:
        if day != self._day:
            self._day, self._spent = day, {}


# KEYS: the accounts' spend keys; ARGV: dollars, seconds to keep. One round trip for all.
_CHARGE: Final = """
for _, key in ipairs(KEYS) do
  redis.call('INCRBYFLOAT', key, ARGV[1])
  redis.call('EXPIRE', key, ARGV[2])
end
return 1
"""


class RedisSpend:
    """Spend in Redis: one float per account and day, kept two days."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._charge = client.register_script(_CHARGE)

    async def spent(self, accounts: list[str], day: int) -> list[float]:
        """See `SpendStore.spent`."""
        found = await self._client.mget(_keys(accounts, day))
        return [float(value) if value is not None else 0.0 for value in found]

    async def charge(self, accounts: list[str], day: int, usd: float) -> None:
        """See `SpendStore.charge`."""
        await self._charge(keys=_keys(accounts, day), args=[repr(usd), 2 * DAY_S])


def _keys(accounts: list[str], day: int) -> list[str]:
    """The accounts' spend keys of ``day``.

    The day in braces is a Redis Cluster hash tag: a day's keys share one slot, so that one
    script can charge a client and its team together.
    """
    return [f"{KEY_PREFIX}{{{day}}}:{account}" for account in accounts]


class Budgets:
    """Checks and charges the budgets of configured clients and teams."""

    def __init__(
        self,
        store: Replicated[SpendStore],
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._teams = {name: team.budget_usd_per_day for name, team in settings.teams.items()}
        self._refuse = settings.budgets.when_spent == "refuse"
        self._clock = clock

    def _limits(self, caller: Caller) -> list[tuple[str, float]]:
        client = caller.client
        if client is None:
            return []
        limits = []
        if client.budget_usd_per_day is not None:
            limits.append((f"client:{client.name}", client.budget_usd_per_day))
        if client.team is not None and client.team in self._teams:
            limits.append((f"team:{client.team}", self._teams[client.team]))
        return limits

    async def admit(
        self, caller: Caller, candidates: tuple[Target, ...], inp: RoutingInput
    ) -> tuple[Target, ...]:
        """``candidates``, or only the cheapest when a budget is spent and that is the policy.

        Raises:
            BudgetSpent: a budget of the caller's is spent and the policy is to refuse.
        """
        limits = self._limits(caller)
        if not limits:
            return candidates
        now = self._clock()
        accounts, day = [account for account, _ in limits], int(now // DAY_S)
        spent = await self._store.run(lambda store: store.spent(accounts, day))
        over = [
            account for (account, limit), used in zip(limits, spent, strict=True) if used >= limit
        ]
        if not over:
            return candidates
        if self._refuse:
            raise BudgetSpent(
                f"today's budget is spent ({over[0].replace(':', ' ', 1)})",
                retry_after=DAY_S - now % DAY_S,
            )
        return (min(candidates, key=lambda target: estimated_cost(target, inp)),)

    async def charge(self, caller: Caller, usd: float) -> None:
        """Add one answer's price to the caller's budgets."""
        limits = self._limits(caller)
        if limits:
            accounts, day = [account for account, _ in limits], int(self._clock() // DAY_S)
            await self._store.run(lambda store: store.charge(accounts, day, usd))


def open_budgets(state: State, settings: Settings) -> Budgets | None:
    """Budgets on the configured state, or None when no client or team has one."""
    if not settings.teams and all(c.budget_usd_per_day is None for c in settings.clients):
        return None
    local: SpendStore = MemorySpend()
    return Budgets(state.replicated(local, RedisSpend), settings)
