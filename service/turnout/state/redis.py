"""Redis-backed state, shared by every replica; redis errors stop here."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, TypeVar

import anyio
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from turnout.state.fallback import Fallback, Replicated

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

POOL_SIZE: Final = 16
S = TypeVar("S")


class RedisState:
    """A Redis connection pool whose every call has a deadline."""

    backend = "redis"

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        # A bounded pool: a burst of requests waits (up to the timeout) for one of a few warm
        # connections instead of opening one each, which on a busy host takes longer than the
        # timeout and would send the burst to local state.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
        self.client = aioredis.Redis.from_pool(pool)  # closed with the client
        # An outage kills every pooled connection: drop them all at once, so the first call
        # after Redis returns does not meet a dead one per pooled connection.
        self.fallback = Fallback(timeout_s=timeout_s, on_down=pool.disconnect)

    def replicated(self, local: S, shared: Callable[[aioredis.Redis], S]) -> Replicated[S]:
        """The store ``shared`` makes on this pool, with ``local`` for outages."""
        return Replicated(local, shared(self.client), self.fallback)

    def shared(self, make: Callable[[aioredis.Redis], S]) -> S | None:
        """The store ``make`` makes on this pool."""
        return make(self.client)

    async def ping(self) -> bool:
        """Whether Redis answers PING within the timeout."""
        with anyio.move_on_after(self._timeout_s):
            try:
                return bool(await self.client.ping())
            except (RedisError, OSError) as exc:
                logger.warning("redis unreachable: %s", exc)
        return False

    async def aclose(self) -> None:
        """Close the pool."""
        await self.client.aclose()
