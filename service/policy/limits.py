"""Rate limits per client API key: requests and tokens per minute, exact across replicas.

Each limit is a GCRA (generic cell rate algorithm) cell: one timestamp per key, the
"theoretical arrival time", so a limit of N per minute admits a burst of N and then one every
60/N seconds. Over Redis the check and the update are one Lua script run on Redis's own clock,
so concurrent replicas never admit more than the limit between them. A request's tokens are the
router's estimate of its prompt plus its ``max_tokens``.

Clients are told apart by `service.policy.caller` (a hash of their bearer token); clients
without one share the ``anonymous`` limit. While Redis cannot be reached each replica
enforces the limits on its own (`service.state.fallback`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final, Protocol

from service.errors import RateLimited
from service.state.fallback import Replicated
from service.state.redis import RedisState

if TYPE_CHECKING:
    from collections.abc import Callable

    import redis.asyncio as aioredis

    from service.config import RateSettings
    from service.state.protocol import State

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


# KEYS[1]: the cell. ARGV: cost, limit, period_s. Returns "" when admitted, else the wait.
_SCRIPT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cost, limit, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + period / limit * math.min(cost, limit)
local wait = new_tat - period - now
if wait > 0 then return tostring(wait) end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1)
return ''
"""


class RedisLimiter:
    """Cells in Redis, shared by every replica."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._script = client.register_script(_SCRIPT)

    async def acquire(self, key: str, cost: int, limit: int, period_s: float) -> float | None:
        """See `Limiter.acquire`."""
        found = await self._script(keys=[KEY_PREFIX + key], args=[cost, limit, period_s])
        text = found.decode() if isinstance(found, bytes) else str(found)
        return float(text) if text else None


class ClientLimits:
    """The configured per-client limits on one limiter."""

    def __init__(self, limiter: Replicated[Limiter], rates: RateSettings) -> None:
        self._limiter = limiter
        self._rates = rates

    async def admit(self, client: str, tokens: int) -> None:
        """Count one request of ``tokens`` against ``client``'s limits.

        Raises:
            RateLimited: a limit is spent; ``retry_after`` says when it admits the request.
        """
        checks = (
            ("requests", 1, self._rates.requests_per_minute),
            ("tokens", tokens, self._rates.tokens_per_minute),
        )
        for unit, cost, limit in checks:
            if limit is None:
                continue
            key = f"{unit}:{client}"
            wait = await self._limiter.run(
                lambda cells: cells.acquire(key, cost, limit, MINUTE)  # noqa: B023 - awaited now
            )
            if wait is not None:
                raise RateLimited(
                    f"rate limit reached: {limit} {unit} per minute for this API key",
                    retry_after=wait,
                )


def open_limits(state: State, rates: RateSettings) -> ClientLimits | None:
    """The client limits the settings ask for, on the configured state; None without any."""
    if rates.requests_per_minute is None and rates.tokens_per_minute is None:
        return None
    local: Limiter = MemoryLimiter()
    if isinstance(state, RedisState):
        return ClientLimits(Replicated(local, RedisLimiter(state.client), state.fallback), rates)
    return ClientLimits(Replicated(local), rates)
