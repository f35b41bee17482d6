"""Sessions: a conversation stays on the model that answered it, so prompt caches stay warm.

After a successful answer, the conversation (`Caller.conversation`) remembers its target for
``ttl_s``. The next request of the conversation puts that target first among its candidates
when it is still one of them; when it is not (the conversation moved to another route, or
needs a capability the model lacks), the request switches. Outcomes are counted:
``turnout_sessions_total{outcome="new|kept|switched"}``.

A tool loop is a session too, without an id: the tool calls of an answer remember its route and
target, and the request that brings their results back goes to that target
(`turnout.flow.router.Pin`), on every API surface, whether or not the client names a session.

Over Redis every replica sees the same sessions; while Redis is out each keeps its own.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from turnout.catalog import Target
    from turnout.config import SessionSettings
    from turnout.metrics import Metrics
    from turnout.state.fallback import Replicated
    from turnout.state.protocol import State
    from turnout.state.redis import RedisClient

KEY_PREFIX: Final = "turnout:session:"
MAX_CALL_ID_CHARS: Final = 128
MAX_CALLS: Final = 16  # an answer's calls remembered, and a request's results looked up


class SessionStore(Protocol):
    """Conversation to target, with expiry."""

    async def get(self, conversation: str) -> str | None:
        """The target the conversation is on, if it has one."""
        ...

    async def put(self, conversation: str, target: str) -> None:
        """Remember the conversation's target for the store's time to live."""
        ...


class MemorySessions:
    """Sessions in this process, bounded: the least recently used goes first."""

    def __init__(
        self, *, ttl_s: float, capacity: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl_s = ttl_s
        self._capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def get(self, conversation: str) -> str | None:
        """See `SessionStore.get`."""
        entry = self._entries.get(conversation)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            del self._entries[conversation]
            return None
        self._entries.move_to_end(conversation)
        return entry[0]

    async def put(self, conversation: str, target: str) -> None:
        """See `SessionStore.put`."""
        self._entries[conversation] = (target, self._clock() + self._ttl_s)
        self._entries.move_to_end(conversation)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


class RedisSessions:
    """Sessions in Redis, shared by every replica."""

    def __init__(self, client: RedisClient, *, ttl_s: float) -> None:
        self._client = client
        self._ttl_ms = int(ttl_s * 1000)

    async def get(self, conversation: str) -> str | None:
        """See `SessionStore.get`."""
        found = await self._client.get(KEY_PREFIX + conversation)
        return found.decode() if isinstance(found, bytes) else None

    async def put(self, conversation: str, target: str) -> None:
        """See `SessionStore.put`."""
        await self._client.set(KEY_PREFIX + conversation, target, px=self._ttl_ms)


class Sessions:
    """Keeps conversations on their model."""

    def __init__(self, store: Replicated[SessionStore], metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    async def prefer(
        self, conversation: str | None, candidates: tuple[Target, ...]
    ) -> tuple[Target, ...]:
        """``candidates`` with the conversation's target first, when it is one of them."""
        if conversation is None:
            return candidates
        pinned = await self._store.run(lambda store: store.get(conversation))
        if pinned is None:
            self._metrics.session("new")
            return candidates
        kept = [target for target in candidates if target.id == pinned]
        if not kept:
            self._metrics.session("switched")
            return candidates
        self._metrics.session("kept")
        return (kept[0], *(target for target in candidates if target.id != pinned))

    async def remember(self, conversation: str | None, target: Target) -> None:
        """The conversation is now on ``target``."""
        if conversation is not None:
            await self._store.run(lambda store: store.put(conversation, target.id))

    async def remember_calls(
        self, client: str, calls: tuple[str, ...], route: str | None, target: Target
    ) -> None:
        """``client``'s tool ``calls`` were made by ``target``, on ``route``."""
        value = f"{route or ''}\t{target.id}"
        for call in calls[:MAX_CALLS]:
            await self._store.run(_put(_call_key(client, call), value))

    async def calls_target(
        self, client: str, calls: tuple[str, ...]
    ) -> tuple[str | None, str] | None:
        """The route and target that made the first of ``calls`` that is remembered."""
        for call in calls[:MAX_CALLS]:
            found = await self._store.run(_get(_call_key(client, call)))
            if found is not None:
                route, _, target = found.partition("\t")
                return route or None, target
        return None


def _call_key(client: str, call: str) -> str:
    return f"{client}:call:{call[:MAX_CALL_ID_CHARS]}"


def _get(key: str) -> Callable[[SessionStore], Awaitable[str | None]]:
    return lambda store: store.get(key)


def _put(key: str, value: str) -> Callable[[SessionStore], Awaitable[None]]:
    return lambda store: store.put(key, value)


def open_sessions(state: State, settings: SessionSettings, metrics: Metrics) -> Sessions | None:
    """Sessions on the configured state, or None when they are off."""
    if not settings.enabled:
        return None
    local: SessionStore = MemorySessions(ttl_s=settings.ttl_s, capacity=settings.capacity)
    store = state.replicated(local, lambda client: RedisSessions(client, ttl_s=settings.ttl_s))
    return Sessions(store, metrics)
