"""Rate limits per client API key: requests and tokens per minute, exact across replicas.

Each limit is a GCRA (generic cell rate algorithm) cell: one timestamp per key, the
"theoretical arrival time", so a limit of N per minute admits a burst of N and then one every
60/N seconds. Over Redis the check and the update are one Lua script run on Redis's own clock,
so concurrent replicas never admit more than the limit between them. A request's tokens are the
router's estimate of its prompt plus its ``max_tokens``.

Clients are told apart by `turnout.caller` (a hash of their bearer token); clients
without one share the ``anonymous`` limit. While Redis cannot be reached each replica
enforces the limits on its own (`turnout.state.fallback`).

An outage is no free burst: each replica mirrors in its own cells what Redis admitted through
it, so its stand-in starts where its traffic left off, and a Redis that comes back empty (a
restart) is given each replica's backlog as a floor, so a cell starts no emptier than this
replica knows it to be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from turnout.errors import RateLimited

if TYPE_CHECKING:
    from collections.abc import Callable

    from turnout.config import RateSettings, Settings
    from turnout.state.fallback import Replicated
    from turnout.state.protocol import State
    from turnout.state.redis import RedisClient

KEY_PREFIX: Final = "turnout:limit:"
MINUTE: Final = 60.0


class Limiter(Protocol):
    """GCRA cells by key."""

    async def acquire(self, key: str, cost: int, limit: int, period_s: float) -> float | None:
        """Take ``cost`` of ``limit`` per ``period_s``: None when admitted, else seconds to wait."""
        ...


class MemoryLimiter:
    """Cells in this process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}

    async def acquire(self, key: str, cost: int, limit: int, period_s: float) -> float | None:
        """See `Limiter.acquire`."""
        now = self._clock()
        tat = max(self._tat.get(key, now), now)
        new_tat = tat + period_s / limit * min(cost, limit)
        wait = new_tat - period_s - now
        if wait > 0:
            return wait
        self._tat[key] = new_tat
        return None

    def backlog(self, key: str) -> float:
        """Seconds until the cell is empty again (0 when it is)."""
        return max(0.0, self._tat.get(key, 0.0) - self._clock())

    def record(self, key: str, cost: int, limit: int, period_s: float) -> None:
        """Count what another limiter admitted (bounded by one full period)."""
        now = self._clock()
        tat = max(self._tat.get(key, now), now) + period_s / limit * min(cost, limit)
        self._tat[key] = min(tat, now + period_s)


# KEYS[1]: the cell. ARGV: cost, limit, period_s, and the replica's backlog in seconds (the
# least the cell holds). Returns "" when admitted, else the wait.
_SCRIPT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cost, limit, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now + tonumber(ARGV[4]) then tat = now + tonumber(ARGV[4]) end
local new_tat = tat + period / limit * math.min(cost, limit)
local wait = new_tat - period - now
if wait > 0 then return tostring(wait) end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1)
return ''
"""


class RedisLimiter:
    """Cells in Redis, shared by every replica, mirrored in this replica's ``local`` cells."""

    def __init__(self, client: RedisClient, local: MemoryLimiter | None = None) -> None:
        self._script = client.register_script(_SCRIPT)
        self._local = local or MemoryLimiter()

    async def acquire(self, key: str, cost: int, limit: int, period_s: float) -> float | None:
        """See `Limiter.acquire`."""
        floor = self._local.backlog(key)
        found = await self._script(keys=[KEY_PREFIX + key], args=[cost, limit, period_s, floor])
        text = found.decode() if isinstance(found, bytes) else str(found)
        if text:
            return float(text)
        self._local.record(key, cost, limit, period_s)
        return None


@dataclass(frozen=True, slots=True)
class Spent:
    """A limit that refused: its unit, its size per minute, and the wait until it admits."""

    unit: str
    limit: int
    wait_s: float


class Limits:
    """Requests and tokens per minute for any account (a client, a provider), on one limiter."""

    def __init__(self, limiter: Replicated[Limiter]) -> None:
        self._limiter = limiter

    async def take(self, account: str, rates: RateSettings, tokens: int) -> Spent | None:
        """Count one request of ``tokens`` against ``account``'s ``rates``; the spent limit."""
        checks = (
            ("requests", 1, rates.requests_per_minute),
            ("tokens", tokens, rates.tokens_per_minute),
        )
        for unit, cost, limit in checks:
            if limit is None:
                continue
            key = f"{account}:{unit}"
            wait = await self._limiter.run(
                lambda cells: cells.acquire(key, cost, limit, MINUTE)  # noqa: B023 - awaited now
            )
            if wait is not None:
                return Spent(unit, limit, wait)
        return None


class ClientLimits:
    """The per-client limits (``limits.client``)."""

    def __init__(self, limits: Limits, rates: RateSettings) -> None:
        self._limits = limits
        self._rates = rates

    async def admit(self, client: str, tokens: int) -> None:
        """Count one request of ``tokens`` against ``client``'s limits.

        Raises:
            RateLimited: a limit is spent; ``retry_after`` says when it admits the request.
        """
        spent = await self._limits.take(f"client:{client}", self._rates, tokens)
        if spent is not None:
            raise RateLimited(
                f"rate limit reached: {spent.limit} {spent.unit} per minute for this API key",
                retry_after=spent.wait_s,
            )


class ProviderLimits:
    """Each provider's own limits (``providers[].limits``): a provider over them is skipped."""

    def __init__(self, limits: Limits, settings: Settings) -> None:
        self._limits = limits
        self._rates = {
            provider.name: provider.limits
            for provider in settings.providers
            if not provider.limits.unlimited
        }

    async def take(self, provider: str, tokens: int) -> Spent | None:
        """Count one request to ``provider``; the spent limit when it must be skipped."""
        rates = self._rates.get(provider)
        if rates is None:
            return None
        return await self._limits.take(f"provider:{provider}", rates, tokens)


def open_limits(state: State, settings: Settings) -> tuple[ClientLimits | None, ProviderLimits]:
    """The client and provider limits the settings ask for, on the configured state."""
    local = MemoryLimiter()
    limits = Limits(state.replicated(local, lambda client: RedisLimiter(client, local)))
    rates = settings.limits.client
    clients = None if rates.unlimited else ClientLimits(limits, rates)
    return clients, ProviderLimits(limits, settings)
