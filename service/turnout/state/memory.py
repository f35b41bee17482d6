"""In-process state: the embedded default, for a single replica."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from turnout.state.fallback import Replicated

if TYPE_CHECKING:
    from collections.abc import Callable

    from turnout.state.redis import RedisClient

S = TypeVar("S")


class MemoryState:
    """State held in this process; always reachable."""

    backend = "memory"

    def replicated(self, local: S, shared: Callable[[RedisClient], S]) -> Replicated[S]:
        """``local`` alone: there is no one to share with."""
        return Replicated(local)

    def shared(self, make: Callable[[RedisClient], S]) -> S | None:
        """None: nothing is shared."""
        return None

    async def ping(self) -> bool:
        """Always true."""
        return True

    async def aclose(self) -> None:
        """Nothing to release."""
