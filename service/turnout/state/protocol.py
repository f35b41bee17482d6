"""The protocol every state backend satisfies: the one seam between components and Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from turnout.state.fallback import Replicated
    from turnout.state.redis import RedisClient

S = TypeVar("S")


class State(Protocol):
    """Shared state; a backend that cannot be reached degrades, it never fails a request.

    Components get their stores through it, never by asking which backend it is.
    """

    @property
    def backend(self) -> str:
        """``memory`` or ``redis``."""
        ...

    def replicated(self, local: S, shared: Callable[[RedisClient], S]) -> Replicated[S]:
        """A store in Redis, made by ``shared``, with ``local`` for outages; or ``local`` alone."""
        ...

    def shared(self, make: Callable[[RedisClient], S]) -> S | None:
        """A store that is only worth having shared (made by ``make``), or None without Redis."""
        ...

    async def ping(self) -> bool:
        """Whether the backend answers now, within its timeout."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
