"""Ordered attempts across a decision's candidates, within one total deadline.

A candidate is skipped on connection trouble, timeouts, 429 and 5xx; a client error (other 4xx)
is passed back at once, since another model would refuse the same body. Failover happens only
before the first byte reaches the client: a stream is handed over once its status is 2xx.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Final

import anyio

from service.errors import (
    AllProvidersFailed,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from service.gateway.upstream import UpstreamClient, UpstreamResponse
    from service.http.body import Fields
    from service.metrics import Metrics
    from service.policy.catalog import Target

logger = logging.getLogger(__name__)

MS: Final = 1000.0


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


class Gateway:
    """Sends a request to the first candidate that answers."""

    def __init__(
        self, clients: Mapping[str, UpstreamClient], metrics: Metrics, total_timeout_s: float
    ) -> None:
        self._clients = clients
        self._metrics = metrics
        self._total_timeout_s = total_timeout_s

    async def send(
        self, candidates: Sequence[Target], fields: Fields, request_id: str, *, stream: bool
    ) -> Opened:
        """Try ``candidates`` in order.

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
        with anyio.move_on_after(self._total_timeout_s) as deadline:
            for target in candidates:
                started = perf_counter()
                try:
                    opened = await self._attempt(target, fields, request_id, stream=stream)
                except (UpstreamTimeout, UpstreamUnavailable) as exc:
                    attempts.append(_record(target, exc, started))
                    failures.append(exc)
                    self._metrics.upstream_error(target, exc)
                    logger.warning("upstream attempt failed: %s", exc.message)
                    continue
                attempts.append(Attempt(target.id, None, opened.response.status, _ms(started)))
                return Opened(target, opened.response, opened.body, tuple(attempts))
        if deadline.cancelled_caught:
            raise UpstreamTimeout(
                f"no upstream answered within {self._total_timeout_s:g} s", target="*"
            )
        raise _exhausted(failures)

    async def _attempt(
        self, target: Target, fields: Fields, request_id: str, *, stream: bool
    ) -> Opened:
        client = self._clients[target.provider.name]
        response = await client.open(fields, target.model.id, request_id)
        if stream:
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


def _exhausted(failures: Sequence[UpstreamError]) -> Exception:
    """The error for the client once every candidate failed."""
    summary = "; ".join(failure.message for failure in failures)
    limited = [
        failure
        for failure in failures
        if isinstance(failure, UpstreamUnavailable) and failure.upstream_status == 429
    ]
    if failures and len(limited) == len(failures):
        waits = [failure.retry_after for failure in limited if failure.retry_after is not None]
        return RateLimited(
            f"every candidate is rate limited: {summary}", retry_after=min(waits, default=None)
        )
    return AllProvidersFailed(f"every candidate failed: {summary}")
