"""In-process state: the embedded default, for a single replica."""

from __future__ import annotations


class MemoryState:
    """State held in this process; always reachable."""

    backend = "memory"

    async def ping(self) -> bool:
        """Always true."""
        return True

    async def aclose(self) -> None:
        """Nothing to release."""
