"""Routing exemplars: reading and validating the prompts that teach the router its routes.

An exemplar source is a JSONL file of ``{"text": ..., "route": ...}`` lines, or a folder of
``<route>.jsonl`` files whose lines may leave ``route`` out. Every problem names its file and
line, and all of them are reported at once: malformed lines, empty texts, bad route names, a
route with fewer than two exemplars, and one text given to two routes. A text repeated within
its route is kept once and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import msgspec

from turnout.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

MIN_PER_ROUTE: Final = 2
MAX_PROBLEMS: Final = 20
_ROUTE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_SPACE: Final = re.compile(r"\s+")
_LINE: Final = msgspec.json.Decoder(dict[str, Any])


@dataclass(frozen=True, slots=True)
class Exemplar:
    """One prompt of one route, and where it was read."""

    text: str
    route: str
    source: str


@dataclass(frozen=True, slots=True)
class ExemplarSet:
    """Validated exemplars, in source order, and how many repeats were dropped."""

    exemplars: tuple[Exemplar, ...]
    repeats_dropped: int

    @property
    def routes(self) -> tuple[str, ...]:
        """Route names, sorted."""
        return tuple(sorted({exemplar.route for exemplar in self.exemplars}))


def normalized(text: str) -> str:
    """The form duplicates are compared in: case-folded, whitespace collapsed."""
    return _SPACE.sub(" ", text).strip().casefold()


def load_exemplars(path: Path) -> ExemplarSet:
    """Read and validate exemplars from a JSONL file or a folder of per-route files.

    Raises:
        ConfigError: listing every problem found (up to 20), each with its file and line.
    """
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise ConfigError(f"{path}: no *.jsonl exemplar files")
        read = [_read(file, default_route=file.stem) for file in files]
    elif path.is_file():
        read = [_read(path, default_route=None)]
    else:
        raise ConfigError(f"{path}: no such exemplar file or folder")
    problems = [problem for _, found in read for problem in found]
    exemplars = [exemplar for found, _ in read for exemplar in found]
    kept, dropped, clashes = _deduplicate(exemplars)
    problems += clashes
    counts: dict[str, int] = {}
    for exemplar in kept:
        counts[exemplar.route] = counts.get(exemplar.route, 0) + 1
    problems += [
        f"route '{route}': {count} exemplar, at least {MIN_PER_ROUTE} are needed"
        for route, count in sorted(counts.items())
        if count < MIN_PER_ROUTE
    ]
    if not kept and not problems:
        problems.append(f"{path}: no exemplars")
    if problems:
        more = len(problems) - MAX_PROBLEMS
        listed = "\n  ".join(problems[:MAX_PROBLEMS])
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise ConfigError(f"invalid exemplars:\n  {listed}{tail}")
    return ExemplarSet(tuple(kept), dropped)


def _read(file: Path, *, default_route: str | None) -> tuple[list[Exemplar], list[str]]:
    exemplars: list[Exemplar] = []
    problems: list[str] = []
    for number, line in enumerate(file.read_bytes().split(b"\n"), 1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            row = _LINE.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            problems.append(f"{where}: not a JSON object")
            continue
        try:
            text, route = _fields(row, default_route)
        except _BadLine as exc:
            problems.append(f"{where}: {exc}")
            continue
        exemplars.append(Exemplar(text, route, where))
    return exemplars, problems


class _BadLine(Exception):
    """A line that cannot be an exemplar; its message says why."""


def _fields(row: dict[str, Any], default_route: str | None) -> tuple[str, str]:
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _BadLine("empty or missing text")
    route = row.get("route", default_route)
    if route is None:
        raise _BadLine("missing route")
    if not isinstance(route, str) or not _ROUTE.match(route):
        raise _BadLine(f"invalid route name {route!r}")
    if default_route is not None and route != default_route:
        raise _BadLine(f"route '{route}' in the file of route '{default_route}'")
    return text.strip(), route


def _deduplicate(exemplars: list[Exemplar]) -> tuple[list[Exemplar], int, list[str]]:
    first: dict[str, Exemplar] = {}
    kept: list[Exemplar] = []
    clashes: list[str] = []
    dropped = 0
    for exemplar in exemplars:
        key = normalized(exemplar.text)
        seen = first.get(key)
        if seen is None:
            first[key] = exemplar
            kept.append(exemplar)
        elif seen.route == exemplar.route:
            dropped += 1
        else:
            clashes.append(
                f"{exemplar.source}: the same text as {seen.source}, "
                f"but for route '{exemplar.route}' instead of '{seen.route}'"
            )
    return kept, dropped, clashes
