"""Stored responses of the Responses API: what ``previous_response_id`` continues.

A stored response keeps the response object the client got, every input item of its
conversation so far (earlier turns included) and the route and target that answered, under
its id and its client's key (another client's id is not found). In Redis with a time to live
(``responses.ttl_s``), shared by every replica; in this process, or while Redis is out, up to
``responses.memory_bytes`` of JSON, least recently used out first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Final, Protocol

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable

    from turnout.config import ResponsesSettings
    from turnout.state.fallback import Replicated
    from turnout.state.protocol import State
    from turnout.state.redis import RedisClient

KEY_PREFIX: Final = "turnout:response:"


class StoredResponse(msgspec.Struct, frozen=True):
    """One stored response and its conversation."""

    response: msgspec.Raw
    """The response object, as the client got it."""
    items: list[msgspec.Raw]
    """The conversation's items, this response's output last: the next turn's history."""
    route: str | None
    target: str


_STORED: Final = msgspec.json.Decoder(StoredResponse)
_ENCODER: Final = msgspec.json.Encoder()


class ResponseStore(Protocol):
    """Stored responses by key (client and id)."""

    async def get(self, key: str) -> bytes | None:
        """The stored JSON, if there is one."""
        ...

    async def put(self, key: str, value: bytes) -> None:
        """Store ``value`` for the store's time to live."""
        ...

    async def delete(self, key: str) -> bool:
        """Forget a stored response; False when there was none."""
        ...


class MemoryResponses:
    """Stored responses in this process, bounded in bytes. No ``await`` inside: no locks."""

    def __init__(
        self, *, ttl_s: float, max_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl_s = ttl_s
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0

    async def get(self, key: str) -> bytes | None:
        """See `ResponseStore.get`."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[0]

    async def put(self, key: str, value: bytes) -> None:
        """See `ResponseStore.put`; a value over the whole bound is not kept."""
        self._drop(key)
        if len(value) > self._max_bytes:
            return
        self._entries[key] = (value, self._clock() + self._ttl_s)
        self._bytes += len(value)
        while self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    async def delete(self, key: str) -> bool:
        """See `ResponseStore.delete`."""
        return self._drop(key)

    def _drop(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._bytes -= len(entry[0])
        return True


class RedisResponses:
    """Stored responses in Redis, shared by every replica."""

    def __init__(self, client: RedisClient, *, ttl_s: float) -> None:
        self._client = client
        self._ttl_ms = int(ttl_s * 1000)

    async def get(self, key: str) -> bytes | None:
        """See `ResponseStore.get`."""
        found = await self._client.get(KEY_PREFIX + key)
        return found if isinstance(found, bytes) else None

    async def put(self, key: str, value: bytes) -> None:
        """See `ResponseStore.put`."""
        await self._client.set(KEY_PREFIX + key, value, px=self._ttl_ms)

    async def delete(self, key: str) -> bool:
        """See `ResponseStore.delete`."""
        return bool(await self._client.delete(KEY_PREFIX + key))


class Responses:
    """Stores, finds and forgets responses, each client's apart."""

    def __init__(self, store: Replicated[ResponseStore]) -> None:
        self._store = store

    async def get(self, client: str, response_id: str) -> StoredResponse | None:
        """``client``'s stored response ``response_id``, if it has one."""
        key = f"{client}:{response_id}"
        found = await self._store.run(lambda store: store.get(key))
        if found is None:
            return None
        try:
            return _STORED.decode(found)
        except msgspec.MsgspecError:
            return None

    async def put(self, client: str, response_id: str, stored: StoredResponse) -> None:
        """Keep ``stored`` as ``client``'s response ``response_id``."""
        key, value = f"{client}:{response_id}", _ENCODER.encode(stored)
        await self._store.run(lambda store: store.put(key, value))

    async def delete(self, client: str, response_id: str) -> bool:
        """Forget ``client``'s response ``response_id``; False when it had none."""
        key = f"{client}:{response_id}"
        return await self._store.run(lambda store: store.delete(key))


def open_responses(state: State, settings: ResponsesSettings) -> Responses:
    """Stored responses on the configured state."""
    local: ResponseStore = MemoryResponses(ttl_s=settings.ttl_s, max_bytes=settings.memory_bytes)
    store = state.replicated(local, lambda client: RedisResponses(client, ttl_s=settings.ttl_s))
    return Responses(store)
