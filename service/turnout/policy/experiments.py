"""Deterministic A/B splits: the same caller always lands in the same variant of a route.

A caller's subject (its session, else the request's ``user``, else its client key) and the
experiment's name are hashed (SHA-256) into a number below the variants' total weight, and the
variant whose cumulative weight first exceeds it wins. Adding an experiment never moves callers
of another one; changing weights moves only the callers at the boundaries that moved.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from turnout.catalog import Catalog, Target
    from turnout.config import ExperimentSettings


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm and its targets."""

    experiment: str
    name: str
    targets: tuple[Target, ...]


class Experiment:
    """One route's split."""

    def __init__(self, settings: ExperimentSettings, catalog: Catalog) -> None:
        self.name = settings.name
        self._variants = [
            Variant(settings.name, v.name, tuple(catalog.targets[t] for t in v.targets))
            for v in settings.variants
        ]
        self._bounds = list(itertools.accumulate(v.weight for v in settings.variants))

    def variant(self, subject: str) -> Variant:
        """The variant ``subject`` is in, always the same one for the same weights."""
        digest = hashlib.sha256(f"{self.name}\0{subject}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") % self._bounds[-1]
        index = next(i for i, bound in enumerate(self._bounds) if point < bound)
        return self._variants[index]
