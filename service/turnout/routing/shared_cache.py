"""The shared decision cache (L2): decisions reused across replicas through Redis.

Each decided prompt's embedding is hashed by random hyperplanes (locality-sensitive hashing:
``TABLES`` tables of ``BITS`` bits, seeded, the same on every replica) into one bucket per
table; a bucket is a short Redis list of entries (the vector as float16, the polarity terms,
the route, confidence and reason). A lookup reads the prompt's buckets in one round trip and
verifies candidates by exact cosine against the threshold and by the polarity terms, as the L1
cache does; near-duplicates at a cosine of 0.95 share a bucket in at least one table about 9
times in 10. Keys carry the config version, the index build and the tenant, so a decision is
only ever reused under the same config, build and client key, and expire after the TTL.

Redis gets ``timeout_ms`` (a few milliseconds): slower or failing calls bypass the cache (a miss,
counted as ``bypass``) and, after a failure (not a slow call, which a busy event loop causes as
often as Redis does), it is skipped for a second, so no request waits on it or fails because
of it. Writes are queued and written behind, in batches, by `run` in the
lifespan's task group: a decision never waits for its own write.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Final

import anyio
import msgspec
import numpy as np

from turnout.routing.cache import CacheHit, polarity_terms
from turnout.routing.decision import RouteMatch, Tier
from turnout.state.fallback import Fallback

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    from turnout.config import CacheSettings
    from turnout.state.redis import RedisClient

KEY_PREFIX: Final = "turnout:dc:"
TABLES: Final = 4
BITS: Final = 8
BUCKET_ENTRIES: Final = 8
PENDING: Final = 1024
SEED: Final = 20261125


class _Entry(msgspec.Struct, array_like=True):
    vector: bytes  # float16
    terms: list[str]
    route: str
    confidence: float
    reason: str
    expires: float


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(_Entry)


class SharedDecisionCache:
    """L2: near-duplicate decisions from every replica, by LSH buckets in Redis."""

    def __init__(
        self,
        client: RedisClient,
        settings: CacheSettings,
        *,
        dim: int,
        config_version: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._threshold = settings.threshold
        self._ttl_s = settings.ttl_s
        self._clock = clock
        self._fallback = Fallback(timeout_s=settings.shared_timeout_ms / 1000, slow_is_down=False)
        self._version = config_version
        self._pending: deque[tuple[list[str], bytes]] = deque(maxlen=PENDING)
        self._queued = anyio.Event()
        planes = np.random.default_rng(SEED).standard_normal((TABLES * BITS, dim))
        self._planes = planes.astype(np.float32)
        self._weights = (1 << np.arange(BITS)).astype(np.int64)

    def _keys(self, scope: str, tenant: str, vector: npt.NDArray[np.float32]) -> list[str]:
        bits = (self._planes @ vector > 0).reshape(TABLES, BITS).astype(np.int64)
        codes = bits @ self._weights
        prefix = f"{KEY_PREFIX}{self._version}:{scope}:{tenant}:"
        return [f"{prefix}{table}:{int(code)}" for table, code in enumerate(codes)]

    async def get(
        self, scope: str, tenant: str, vector: npt.NDArray[np.float32], text: str
    ) -> tuple[CacheHit | None, str]:
        """The best verified decision in the prompt's buckets, and the outcome.

        Outcomes: ``hit``, ``miss``, ``guarded`` (similar but opposite) or ``bypass`` (Redis
        too slow or out).
        """
        keys = self._keys(scope, tenant, vector)

        async def read() -> list[list[bytes]] | None:
            async with self._client.pipeline(transaction=False) as pipe:
                # Commands queue until execute(); awaiting one would reset a cluster pipeline.
                for key in keys:
                    _ = pipe.lrange(key, 0, BUCKET_ENTRIES - 1)
                found: list[list[bytes]] = await pipe.execute()
                return found

        async def bypass() -> None:
            return None

        buckets = await self._fallback.call(read, bypass)
        if buckets is None:
            return None, "bypass"
        return self._best(buckets, vector, text)

    def _best(
        self, buckets: list[list[bytes]], vector: npt.NDArray[np.float32], text: str
    ) -> tuple[CacheHit | None, str]:
        now = self._clock()
        entries = [
            entry
            for raw in {item for bucket in buckets for item in bucket}
            if (entry := _DECODER.decode(raw)).expires > now
        ]
        if not entries:
            return None, "miss"
        stored = np.frombuffer(b"".join(entry.vector for entry in entries), dtype=np.float16)
        similarities = stored.reshape(len(entries), -1).astype(np.float32) @ vector
        terms = sorted(polarity_terms(text))
        guarded = False
        for i in np.argsort(-similarities):
            similarity = float(similarities[i])
            if similarity < self._threshold:
                break
            entry = entries[i]
            if entry.terms != terms:
                guarded = True
                continue
            match = RouteMatch(entry.route, Tier.SEMANTIC, entry.confidence, entry.reason)
            return CacheHit(match, similarity), "hit"
        return None, "guarded" if guarded else "miss"

    def put(
        self,
        scope: str,
        tenant: str,
        vector: npt.NDArray[np.float32],
        text: str,
        match: RouteMatch,
    ) -> None:
        """Queue a decision to be shared with every replica; `run` writes it behind.

        The queue is bounded: past ``PENDING`` unwritten decisions the oldest is dropped, so a
        slow Redis costs shared hits, never memory or a request's time.
        """
        entry = _Entry(
            vector.astype(np.float16).tobytes(),
            sorted(polarity_terms(text)),
            match.route,
            match.confidence,
            match.reason,
            self._clock() + self._ttl_s,
        )
        self._pending.append((self._keys(scope, tenant, vector), _ENCODER.encode(entry)))
        self._queued.set()

    async def run(self) -> None:
        """Write queued decisions as they come, until cancelled (the lifespan's task group)."""
        while True:
            await self._queued.wait()
            self._queued = anyio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write every queued decision now, in one pipeline (skipped while Redis is out)."""
        if not self._pending:
            return
        batch = list(self._pending)
        self._pending.clear()
        ttl = int(self._ttl_s) + 1

        async def write() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                # Commands queue until execute(); awaiting one would reset a cluster pipeline.
                for keys, packed in batch:
                    for key in keys:
                        _ = pipe.lpush(key, packed)
                        _ = pipe.ltrim(key, 0, BUCKET_ENTRIES - 1)
                        _ = pipe.expire(key, ttl)
                await pipe.execute()

        async def skip() -> None:
            return None

        await self._fallback.call(write, skip)  # it catches every error: the writer lives on
