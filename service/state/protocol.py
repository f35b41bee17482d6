"""The protocol every state backend satisfies."""

from __future__ import annotations

from typing import Protocol


class State(Protocol):
    """Shared state; a backend that cannot be reached degrades, it never fails a request."""

    @property
    def backend(self) -> str:
        """``memory`` or ``redis``."""
        ...

    async def ping(self) -> bool:
        """Whether the backend answers now, within its timeout."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
