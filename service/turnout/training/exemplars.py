"""Routing exemplars: reading and validating the prompts that teach the router its routes.

An exemplar source is a JSONL file of ``{"text": ..., "route": ...}`` lines, or a folder of
``<route>.jsonl`` files whose lines may leave ``route`` out. Every problem names its file and
line, and all of them are reported at once: malformed lines, empty texts, a route with fewer
than two exemplars, two route names that map to one id.

Real datasets come as they are, so two things are mended rather than refused (``strict``
refuses them):

- A route name that is not a config name (``computer science``, ``reverted_card_payment?``) is
  mapped to one (`route_id`: ``computer_science``, ``reverted_card_payment``); the set says which.
- A text given to two routes is ambiguous: every copy of it is dropped, and the set lists each.

A text repeated within its route is kept once and counted.
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
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.\-]+")
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
    renamed: tuple[tuple[str, str], ...] = ()
    """``(name as given, route id)`` for each route name that was not a config name."""
    clashes: tuple[str, ...] = ()
    """Each text dropped for being given to two routes, where and to which."""

    @property
    def routes(self) -> tuple[str, ...]:
        """Route names, sorted."""
        return tuple(sorted({exemplar.route for exemplar in self.exemplars}))


def route_id(name: str) -> str | None:
    """``name`` as a config route name: runs of other characters become ``_``, ends trimmed.

    None when nothing of it is left (``"???"``).
    """
    if _ROUTE.match(name):
        return name
    mended = _UNSAFE.sub("_", name.strip()).strip("_.-")
    return mended or None


def normalized(text: str) -> str:
    """The form duplicates are compared in: case-folded, whitespace collapsed."""
    return _SPACE.sub(" ", text).strip().casefold()


def load_exemplars(path: Path, *, strict: bool = False) -> ExemplarSet:
    """Read and validate exemplars from a JSONL file or a folder of per-route files.

    ``strict``: refuse route names that are not config names, and texts given to two routes,
    instead of mending them (see the module's docstring).

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
    exemplars, renamed, naming = _route_ids([exemplar for found, _ in read for exemplar in found])
    problems += naming
    kept, dropped, clashes = _deduplicate(exemplars)
    if strict:
        problems += [
            f"route name {given!r} is not a route id ({mended!r})" for given, mended in renamed
        ]
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
    return ExemplarSet(tuple(kept), dropped, renamed, tuple(clashes))


def _route_ids(
    exemplars: list[Exemplar],
) -> tuple[list[Exemplar], tuple[tuple[str, str], ...], list[str]]:
    """Exemplars under route ids, what was renamed, and names that cannot be one id each."""
    ids: dict[str, str | None] = {}
    for exemplar in exemplars:
        ids.setdefault(exemplar.route, route_id(exemplar.route))
    problems = [
        f"route name {name!r} has no letters or digits to name it by"
        for name, mended in ids.items()
        if mended is None
    ]
    given: dict[str, list[str]] = {}
    for name, mended in ids.items():
        if mended is not None:
            given.setdefault(mended, []).append(name)
    problems += [
        f"route names {names!r} all map to route id '{mended}'"
        for mended, names in given.items()
        if len(names) > 1
    ]
    renamed = tuple(
        (name, mended) for name, mended in ids.items() if mended is not None and mended != name
    )
    out = [
        exemplar if exemplar.route == mended else Exemplar(exemplar.text, mended, exemplar.source)
        for exemplar in exemplars
        if (mended := ids[exemplar.route]) is not None
    ]
    return out, renamed, problems


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
    if not isinstance(route, str) or not route.strip():
        raise _BadLine(f"invalid route name {route!r}")
    if default_route is not None and route != default_route:
        raise _BadLine(f"route '{route}' in the file of route '{default_route}'")
    return text.strip(), route


def _deduplicate(exemplars: list[Exemplar]) -> tuple[list[Exemplar], int, list[str]]:
    """Each text once; a text given to two routes is dropped from all of them, and listed."""
    first: dict[str, Exemplar] = {}
    clashing: set[str] = set()
    clashes: list[str] = []
    dropped = 0
    for exemplar in exemplars:
        key = normalized(exemplar.text)
        seen = first.get(key)
        if seen is None:
            first[key] = exemplar
        elif seen.route == exemplar.route:
            dropped += 1
        else:
            clashing.add(key)
            clashes.append(
                f"{exemplar.source}: the same text as {seen.source}, "
                f"but for route '{exemplar.route}' instead of '{seen.route}'"
            )
    kept = [e for key, e in first.items() if key not in clashing]
    return kept, dropped, clashes
