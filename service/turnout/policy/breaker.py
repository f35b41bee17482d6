"""Circuit breakers per target (provider and model), shared by every replica through Redis.

A breaker is **closed** while its target answers. It **opens** after ``failures`` failures in a
row, or once at least ``min_requests`` attempts in the current ``window_s`` failed at
``error_rate`` or more; an open target is skipped without a request. After ``open_s`` the next
caller, on any replica, becomes the one **half-open** probe (the others keep skipping it); the
probe's success closes the breaker, its failure opens it for another ``open_s``, and a probe
that never reports is replaced after ``open_s``.

Failures are connection errors, timeouts, 429 and 5xx. A client error (another 4xx) means the
target is up, so it counts as a success.

`MemoryBreakers` keeps the state in this process; `RedisBreakers` keeps it in one Redis hash per
target, changed only by one Lua script, so concurrent replicas see each transition once. Over
Redis, `open_breakers` falls back to local breakers while Redis cannot be reached
(`turnout.state.fallback`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from turnout.config import BreakerSettings
    from turnout.state.fallback import Replicated
    from turnout.state.protocol import State
    from turnout.state.redis import RedisClient

KEY_PREFIX: Final = "turnout:breaker:"


class BreakerState(StrEnum):
    """Where a breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breakers(Protocol):
    """Whether a target may be tried now, and what its attempts did."""

    async def allow(self, target: str, now: float) -> bool:
        """True when ``target`` may be tried: closed, or this caller is the half-open probe."""
        ...

    async def record(self, target: str, *, ok: bool, now: float) -> BreakerState | None:
        """Count one attempt's outcome; the breaker's new state when this changed it."""
        ...


@dataclass(slots=True)
class _Breaker:
    state: BreakerState = BreakerState.CLOSED
    fails: int = 0  # in a row
    ok: int = 0  # in the window
    err: int = 0  # in the window
    start: float = 0.0  # of the window
    until: float = 0.0  # open until; half-open: the probe's lease until


class MemoryBreakers:
    """Breakers in this process: the single-replica default, and the fallback while Redis is out."""

    def __init__(self, settings: BreakerSettings) -> None:
        self._settings = settings
        self._breakers: dict[str, _Breaker] = {}

    async def allow(self, target: str, now: float) -> bool:
        """See `Breakers.allow`."""
        breaker = self._breakers.get(target)
        if breaker is None or breaker.state is BreakerState.CLOSED:
            return True
        if now < breaker.until:
            return False
        breaker.state = BreakerState.HALF_OPEN
        breaker.until = now + self._settings.open_s
        return True

    async def record(self, target: str, *, ok: bool, now: float) -> BreakerState | None:
        """See `Breakers.record`."""
        s = self._settings
        breaker = self._breakers.setdefault(target, _Breaker(start=now))
        before = breaker.state
        if now - breaker.start >= s.window_s:
            breaker.ok = breaker.err = 0
            breaker.start = now
        if ok:
            breaker.ok += 1
            breaker.fails = 0
            if breaker.state is BreakerState.HALF_OPEN:
                breaker.state = BreakerState.CLOSED
                breaker.ok = breaker.err = 0
                breaker.start = now
        else:
            breaker.err += 1
            breaker.fails += 1
            seen = breaker.ok + breaker.err
            tripped = breaker.fails >= s.failures or (
                seen >= s.min_requests and breaker.err >= s.error_rate * seen
            )
            if breaker.state is BreakerState.HALF_OPEN or (
                breaker.state is BreakerState.CLOSED and tripped
            ):
                breaker.state = BreakerState.OPEN
                breaker.until = now + s.open_s
                breaker.fails = breaker.ok = breaker.err = 0
                breaker.start = now
        return breaker.state if breaker.state is not before else None


# KEYS[1]: the target's hash. ARGV: op ("allow" or "ok" or "fail"), now, open_s, window_s,
# failures, min_requests, error_rate, ttl_s. Returns 1/0 for allow; for a record, the new state
# when it changed, else "".
_SCRIPT: Final = """
local key = KEYS[1]
local op, now, open_s = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local h = redis.call('HMGET', key, 'state', 'fails', 'ok', 'err', 'start', 'until')
local state = h[1] or 'closed'
local fails, ok, err = tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]) or 0
local start, till = tonumber(h[5]) or now, tonumber(h[6]) or 0
local ttl = tonumber(ARGV[8])
if op == 'allow' then
  if state == 'closed' then return 1 end
  if now < till then return 0 end
  redis.call('HSET', key, 'state', 'half_open', 'until', tostring(now + open_s))
  redis.call('EXPIRE', key, ttl)
  return 1
end
local window_s, failures = tonumber(ARGV[4]), tonumber(ARGV[5])
local min_requests, error_rate = tonumber(ARGV[6]), tonumber(ARGV[7])
local before = state
if now - start >= window_s then ok = 0; err = 0; start = now end
if op == 'ok' then
  ok = ok + 1; fails = 0
  if state == 'half_open' then state = 'closed'; ok = 0; err = 0; start = now end
else
  err = err + 1; fails = fails + 1
  local seen = ok + err
  local tripped = fails >= failures or (seen >= min_requests and err >= error_rate * seen)
  if state == 'half_open' or (state == 'closed' and tripped) then
    state = 'open'; till = now + open_s; fails = 0; ok = 0; err = 0; start = now
  end
end
redis.call('HSET', key, 'state', state, 'fails', fails, 'ok', ok, 'err', err,
  'start', tostring(start), 'until', tostring(till))
redis.call('EXPIRE', key, ttl)
if state ~= before then return state end
return ''
"""


class RedisBreakers:
    """Breakers in Redis, shared by every replica; each call is one atomic script run."""

    def __init__(self, client: RedisClient, settings: BreakerSettings) -> None:
        self._script = client.register_script(_SCRIPT)
        self._settings = settings
        # A breaker nobody touches for a while is forgotten (closed): long enough to span any
        # open period and any window.
        self._ttl_s = int(max(settings.open_s, settings.window_s) * 4) + 1

    async def allow(self, target: str, now: float) -> bool:
        """See `Breakers.allow`."""
        return bool(await self._run(target, "allow", now))

    async def record(self, target: str, *, ok: bool, now: float) -> BreakerState | None:
        """See `Breakers.record`."""
        changed = await self._run(target, "ok" if ok else "fail", now)
        text = changed.decode() if isinstance(changed, bytes) else str(changed)
        return BreakerState(text) if text else None

    async def _run(self, target: str, op: str, now: float) -> object:
        s = self._settings
        args: list[str | float] = [
            op,
            repr(now),
            s.open_s,
            s.window_s,
            s.failures,
            s.min_requests,
            s.error_rate,
        ]
        return await self._script(keys=[KEY_PREFIX + target], args=[*args, self._ttl_s])


def open_breakers(state: State, settings: BreakerSettings) -> Replicated[Breakers]:
    """Breakers on the configured state: shared through Redis, or in this process."""
    local: Breakers = MemoryBreakers(settings)
    return state.replicated(local, lambda client: RedisBreakers(client, settings))
