"""Shared state backends: in-process for one replica, Redis for many, behind one protocol each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from turnout.state.memory import MemoryState
from turnout.state.redis import RedisState

if TYPE_CHECKING:
    from turnout.config import StateSettings
    from turnout.state.protocol import State

__all__ = ["MemoryState", "RedisState", "open_state"]


def open_state(settings: StateSettings) -> State:
    """The backend the settings name (not yet connected: Redis connects lazily)."""
    if settings.backend == "redis":
        return RedisState(settings)
    return MemoryState()
