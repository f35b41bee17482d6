"""The vocabulary of a routing decision: tiers, a tier's match, and the final `Decision`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

MS: Final = 1000.0

Guessed = Callable[[str], None]
"""Told the route a decision will likely name, while a slow tier still decides (a speculative
call can start on it)."""
"""Milliseconds per second: timings are kept in milliseconds."""


class Tier(StrEnum):
    """Which tier decided. Tiers run in this order; the first that matches wins.

    A conversation's session does not decide its route: each turn is decided, and the session
    keeps the conversation's model when the decided route still offers it
    (`turnout.policy.sessions`), so a conversation that changes subject can change model. A
    request that carries on a tool loop, or continues a stored response, does not change
    model: ``session`` is its tier.
    """

    EXPLICIT = "explicit"
    SESSION = "session"
    RULE = "rule"
    CACHE = "cache"
    SEMANTIC = "semantic"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Neighbour:
    """One of the nearest exemplars of a prompt."""

    text: str
    route: str
    similarity: float


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why the semantic tier decided as it did."""

    build_id: str
    neighbours: tuple[Neighbour, ...]
    scores: tuple[tuple[str, float], ...]
    """The best routes' fused scores, best first."""
    threshold: float
    """The best route's threshold."""
    context: bool = False
    """The previous user turn was read with a short follow-up."""
    encoder: str = ""
    """The encoder whose scores these are: a screened build's fast one, or the build's own."""


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A tier's answer: this route, this sure, for this reason."""

    route: str
    tier: Tier
    confidence: float
    reason: str
    evidence: Evidence | None = None
    hint: bool = False
    """A speculative guess: later tiers still decide."""
    phases_ms: tuple[tuple[str, float], ...] = ()
    """The tier's own steps and their times, for the decision's timings."""


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a request goes.

    ``route`` is None only when the client pinned a model (``provider/model``); then ``pinned``
    names it and policy does not choose.
    """

    route: str | None
    tier: Tier
    confidence: float
    reason: str
    pinned: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    evidence: Evidence | None = None
