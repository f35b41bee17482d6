"""Redis or local state: a call that Redis cannot answer in time is answered locally instead.

Any exception from the Redis side counts as an outage, not only `RedisError`: a client whose
connections are being dropped raises others (uvloop's ``RuntimeError`` on a closed transport),
and no request may fail because of Redis. So does a ``CancelledError`` that does not cancel the
caller: Redis Cluster's client gathers tasks per node (reloading a script on every primary
after a failover), and one of those cancelled raises it into a caller nobody cancelled.

While Redis is out, every call goes straight to its local stand-in for ``retry_s`` before Redis
is tried again, so an outage costs one timeout per ``retry_s``, not one per request. The outage
and the recovery are each logged once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S")


class Fallback:
    """Shared between every Redis-backed component of one replica."""

    def __init__(
        self,
        *,
        timeout_s: float,
        retry_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_down: Callable[[], Awaitable[None]] | None = None,
        slow_is_down: bool = True,
    ) -> None:
        """Build the fallback.

        ``on_down``: run when an outage starts, e.g. to drop pooled connections that died;
        ``slow_is_down``: False where a call over the timeout only skips Redis for that call
        (a cache, whose deadline is a few milliseconds that a busy event loop can miss while
        Redis is well), not for ``retry_s``.
        """
        self._slow_is_down = slow_is_down
        self._timeout_s = timeout_s
        self._on_down = on_down
        self._retry_s = retry_s
        self._clock = clock
        self._down_until = 0.0
        self.down = False

    async def call(
        self, shared: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]
    ) -> T:
        """``shared()`` within the timeout, or ``local()`` when Redis fails or is known down."""
        if self.down and self._clock() < self._down_until:
            return await local()
        try:
            with anyio.fail_after(self._timeout_s):
                result = await shared()
        except TimeoutError as exc:
            if self._slow_is_down:
                return await self._outage(exc, local)
            logger.debug("redis slower than %g s for one call: answered locally", self._timeout_s)
            return await local()
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # the caller itself is cancelled (its client left, its deadline passed)
            return await self._outage(exc, local)
        except Exception as exc:  # noqa: BLE001 - nothing from Redis may fail a request
            return await self._outage(exc, local)
        if self.down:
            logger.warning("redis reachable again: shared state resumed")
            self.down = False
        return result

    async def _outage(self, exc: BaseException, local: Callable[[], Awaitable[T]]) -> T:
        """Redis is out: say so once, and use local state for ``retry_s``."""
        self._down_until = self._clock() + self._retry_s
        if not self.down:
            self.down = True
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            logger.warning("redis unreachable (%s): using this replica's own state", reason)
            if self._on_down is not None:
                await self._on_down()
        return await local()


class Replicated(Generic[S]):
    """A store kept in Redis with a local stand-in for outages, or only a local one.

    Components call ``await store.run(lambda s: s.method(...))``: the call goes to the Redis
    store through the `Fallback`, or to the local one while Redis is out (or not configured).
    """

    def __init__(self, local: S, shared: S | None = None, fallback: Fallback | None = None) -> None:
        if (shared is None) != (fallback is None):
            raise ValueError("a shared store needs its fallback")
        self._local = local
        self._shared = shared
        self._fallback = fallback

    async def run(self, call: Callable[[S], Awaitable[T]]) -> T:
        """``call`` on the shared store, or on the local one when it cannot be used."""
        if self._shared is None or self._fallback is None:
            return await call(self._local)
        shared = self._shared
        return await self._fallback.call(lambda: call(shared), lambda: call(self._local))
