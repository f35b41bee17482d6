"""Redis-backed state, shared by every replica; redis errors stop here."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

import anyio
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from turnout.state.fallback import Fallback, Replicated

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from turnout.config import StateSettings

logger = logging.getLogger(__name__)

POOL_SIZE: Final = 16
S = TypeVar("S")
RedisClient: TypeAlias = aioredis.Redis | RedisCluster
"""What the Redis-backed stores talk to: one server's client (sentinel's too), or a cluster's."""


def _credentials(url: str) -> dict[str, Any]:
    """``url``'s user, password and database, for a cluster's or a sentinel primary's client."""
    found = parse_url(url)
    return {key: found[key] for key in ("username", "password", "db") if key in found}


def _address(node: str) -> tuple[str, int]:
    host, _, port = node.rpartition(":")
    return host, int(port)


class RedisState:
    """A pool of connections to Redis, any of its three topologies; each call has a deadline."""

    def __init__(self, settings: StateSettings) -> None:
        timeout_s = self._timeout_s = settings.timeout_ms / 1000
        options: dict[str, Any] = {
            "socket_timeout": timeout_s,
            "socket_connect_timeout": timeout_s,
            **_credentials(settings.url),
        }
        on_down: Callable[[], Awaitable[None]] | None
        self.client: RedisClient
        self._closing: list[Callable[[], Awaitable[None]]] = []
        if settings.cluster:
            # Connections per node; the client follows MOVED slots and re-reads the cluster's
            # map after failures, so a replica promoted by a failover is found.
            options.pop("db", None)
            nodes = [ClusterNode(*_address(node)) for node in settings.cluster]
            self.client = RedisCluster(startup_nodes=nodes, max_connections=POOL_SIZE, **options)
            on_down = None
        elif settings.sentinel is not None:
            # The pool asks the sentinels for the primary, and asks again after a failure.
            sentinels = Sentinel(  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                [_address(node) for node in settings.sentinel.nodes],
                sentinel_kwargs={"socket_timeout": timeout_s},
                socket_timeout=timeout_s,
            )
            primary = sentinels.master_for(
                settings.sentinel.service, max_connections=POOL_SIZE, **options
            )
            self.client, on_down = primary, primary.connection_pool.disconnect
            # A client given its pool does not close it; nor does anything close the sentinels'.
            self._closing = [on_down, *(sentinel.aclose for sentinel in sentinels.sentinels)]
        else:
            # A bounded pool: a burst of requests waits (up to the timeout) for one of a few
            # warm connections instead of opening one each, which on a busy host takes longer
            # than the timeout and would send the burst to local state.
            pool = aioredis.BlockingConnectionPool.from_url(
                settings.url,
                max_connections=POOL_SIZE,
                timeout=timeout_s,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
            )
            self.client = aioredis.Redis.from_pool(pool)  # closed with the client
            # An outage kills every pooled connection: drop them all at once, so the first
            # call after Redis returns does not meet a dead one per pooled connection.
            on_down = pool.disconnect
        self.backend = "redis" if settings.topology == "server" else f"redis {settings.topology}"
        self.fallback = Fallback(timeout_s=timeout_s, on_down=on_down)

    def replicated(self, local: S, shared: Callable[[RedisClient], S]) -> Replicated[S]:
        """The store ``shared`` makes on this pool, with ``local`` for outages."""
        return Replicated(local, shared(self.client), self.fallback)

    def shared(self, make: Callable[[RedisClient], S]) -> S | None:
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
        """Close the pool (the sentinels' connections too)."""
        await self.client.aclose()
        for close in self._closing:
            await close()
