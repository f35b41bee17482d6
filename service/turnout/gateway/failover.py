"""Ordered attempts across a decision's candidates, within one total deadline.

A candidate is skipped on connection trouble, timeouts, 429 and 5xx; a client error (other 4xx)
is passed back at once, since another model would refuse the same body. Failover happens only
before the first byte reaches the client: a stream is handed over once its status is 2xx. A
candidate whose circuit breaker is open is skipped without a request (`turnout.policy.breaker`),
and every attempt's outcome is counted by the breakers.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Final

import anyio

from turnout.errors import (
    AllProvidersFailed,
    RateLimited,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from turnout.tracing import Tracing

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from turnout.catalog import Target
    from turnout.config import GatewaySettings
    from turnout.gateway.upstream import UpstreamClient, UpstreamResponse
    from turnout.metrics import Metrics
    from turnout.policy.breaker import Breakers
    from turnout.policy.limits import ProviderLimits
    from turnout.policy.scoring import TargetStats
    from turnout.state.fallback import Replicated
    from turnout.wire.request import Request

logger = logging.getLogger(__name__)

MS: Final = 1000.0
CIRCUIT_OPEN: Final = "circuit_open"
PROVIDER_LIMITED: Final = "provider_rate_limited"
SKIPPED: Final = frozenset({CIRCUIT_OPEN, PROVIDER_LIMITED})  # attempts that sent nothing


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at one target."""

    target: str
    error: str | None
    status: int | None
    ms: float


@dataclass(frozen=True, slots=True)
class Opened:
    """A 2xx upstream response, its body unread unless ``body`` is set."""

    target: Target
    response: UpstreamResponse
    body: bytes | None
    attempts: tuple[Attempt, ...]

    @property
    def tried(self) -> int:
        """Targets that were sent the request (not those skipped by a breaker or a limit)."""
        return sum(attempt.error not in SKIPPED for attempt in self.attempts)


@dataclass(frozen=True, slots=True)
class _Call:
    """What every attempt of one request sends."""

    request: Request
    request_id: str
    stream: bool
    tokens: int
    deadline: float


class Gateway:
    """Sends a request to the first candidate that answers."""

    def __init__(  # noqa: PLR0913 - the composition root hands in each part
        self,
        clients: Mapping[str, UpstreamClient],
        metrics: Metrics,
        settings: GatewaySettings,
        breakers: Replicated[Breakers] | None,
        stats: TargetStats,
        *,
        limits: ProviderLimits | None = None,
        random: Callable[[], float] | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._clients = clients
        self._tracing = tracing or Tracing()
        self._metrics = metrics
        self._total_timeout_s = settings.total_timeout_s
        self._retry = settings.retry
        self._breakers = breakers
        self._stats = stats
        self._limits = limits
        self._random = random or secrets.SystemRandom().random

    async def send(
        self,
        candidates: Sequence[Target],
        request: Request,
        request_id: str,
        *,
        stream: bool,
        tokens: int = 0,
    ) -> Opened:
        """Try ``candidates`` in order, in up to ``retry.passes`` passes with backoff between.

        ``tokens``: the request's estimate, counted against providers' token limits.

        For a stream the response comes back unread (the caller relays and closes it); otherwise
        its body is read here, so a connection dropped mid-body still fails over.

        Raises:
            UpstreamRejected: a candidate refused the request (passed back as is).
            UpstreamTimeout: the total deadline passed.
            RateLimited: every candidate answered 429.
            AllProvidersFailed: every candidate failed.
        """
        attempts: list[Attempt] = []
        failures: list[UpstreamError] = []
        ends = time.monotonic() + self._total_timeout_s
        call = _Call(request, request_id, stream=stream, tokens=tokens, deadline=ends)
        with anyio.move_on_after(self._total_timeout_s) as deadline:
            for number in range(self._retry.passes):
                if number:
                    wait = self._backoff(number, failures)
                    if wait is None:
                        break
                    await anyio.sleep(wait)
                    failures = []
                opened = await self._pass(candidates, call, attempts, failures)
                if opened is not None:
                    return opened
        if deadline.cancelled_caught:
            raise UpstreamTimeout(
                f"no upstream answered within {self._total_timeout_s:g} s", target="*"
            )
        raise _exhausted(failures, [a.target for a in attempts if a.error == CIRCUIT_OPEN])

    async def _pass(
        self,
        candidates: Sequence[Target],
        call: _Call,
        attempts: list[Attempt],
        failures: list[UpstreamError],
    ) -> Opened | None:
        """Try each candidate once; record every attempt and failure; the first 2xx wins."""
        for target in candidates:
            if not await self._allowed(target):
                attempts.append(Attempt(target.id, CIRCUIT_OPEN, None, 0.0))
                continue
            if self._limits is not None:
                spent = await self._limits.take(target.provider.name, call.tokens)
                if spent is not None:  # like a 429 from the provider, without asking it
                    attempts.append(Attempt(target.id, PROVIDER_LIMITED, 429, 0.0))
                    message = f"{target.id} is at its {spent.limit} {spent.unit} per minute"
                    failures.append(
                        UpstreamUnavailable(
                            message, target=target.id, status=429, retry_after=spent.wait_s
                        )
                    )
                    continue
            started = perf_counter()
            try:
                with self._tracing.attempt(target, stream=call.stream):
                    opened = await self._attempt(target, call)
            except (UpstreamTimeout, UpstreamUnavailable) as exc:
                await self._outcome(target, ok=False, started=None)
                attempts.append(_record(target, exc, started))
                failures.append(exc)
                self._metrics.upstream_error(target, exc)
                logger.warning("upstream attempt failed: %s", exc.message)
                continue
            except UpstreamRejected:
                await self._outcome(target, ok=True, started=started)  # up; the body is wrong
                raise
            await self._outcome(target, ok=True, started=started)
            attempts.append(Attempt(target.id, None, opened.response.status, _ms(started)))
            return Opened(target, opened.response, opened.body, tuple(attempts))
        return None

    def _backoff(self, number: int, failures: Sequence[UpstreamError]) -> float | None:
        """How long to wait before pass ``number`` (from 1), or None not to retry.

        Exponential with full jitter; never shorter than the soonest ``Retry-After`` among the
        failures, and no retry at all when that is over ``max_backoff_s``, or when every
        candidate was skipped by its breaker (nothing failed: nothing to retry).
        """
        if not failures:
            return None
        retry = self._retry
        waits = [f.retry_after for f in failures if isinstance(f, UpstreamUnavailable)]
        told = min((wait for wait in waits if wait is not None), default=0.0)
        if told > retry.max_backoff_s:
            return None
        ceiling = min(retry.max_backoff_s, retry.backoff_s * 2 ** (number - 1))
        jittered: float = self._random() * ceiling
        return max(told, jittered)

    async def _allowed(self, target: Target) -> bool:
        if self._breakers is None:
            return True
        now = time.time()
        return await self._breakers.run(lambda breakers: breakers.allow(target.id, now))

    async def _outcome(self, target: Target, *, ok: bool, started: float | None) -> None:
        """Feed one attempt to the policy's observations and to the target's breaker.

        ``started``: when the attempt began, if it answered (its latency is observed).
        """
        latency = None if started is None else _ms(started)
        self._stats.observe(target.id, ok=ok, latency_ms=latency)
        if self._breakers is None:
            return
        now = time.time()
        changed = await self._breakers.run(
            lambda breakers: breakers.record(target.id, ok=ok, now=now)
        )
        if changed is not None:
            self._metrics.breaker(target, changed)
            logger.warning("circuit breaker of %s is now %s", target.id, changed)

    async def _attempt(self, target: Target, call: _Call) -> Opened:
        client = self._clients[target.provider.name]
        response = await client.open(call.request, target.model.id, call.request_id, call.deadline)
        if call.stream:
            return Opened(target, response, None, ())
        try:
            body = await response.read()
        finally:
            response.close()
        return Opened(target, response, body, ())


def _ms(started: float) -> float:
    return (perf_counter() - started) * MS


def _record(target: Target, exc: UpstreamError, started: float) -> Attempt:
    status = exc.upstream_status if isinstance(exc, UpstreamUnavailable) else None
    return Attempt(target.id, exc.code or type(exc).__name__, status, _ms(started))


def _exhausted(failures: Sequence[UpstreamError], open_circuits: Sequence[str]) -> Exception:
    """The error for the client once every candidate failed or was skipped."""
    summary = "; ".join(
        [failure.message for failure in failures]
        + [f"{target}: circuit open" for target in open_circuits]
    )
    limited = [
        failure
        for failure in failures
        if isinstance(failure, UpstreamUnavailable) and failure.upstream_status == 429
    ]
    if failures and len(limited) == len(failures) and not open_circuits:
        waits = [failure.retry_after for failure in limited if failure.retry_after is not None]
        return RateLimited(
            f"every candidate is rate limited: {summary}", retry_after=min(waits, default=None)
        )
    return AllProvidersFailed(f"every candidate failed: {summary}")
