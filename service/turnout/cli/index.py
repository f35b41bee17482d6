"""``turnout index rebuild`` and ``turnout setup``: build an index, or fill the data directory.

``turnout setup`` builds the encoders (``use-m3`` by default; ``minilm-l6`` needs the ``build``
extra) and the default taxonomy's index from the exemplars shipped with the package, into the
data directory (`turnout.home`). Each step is skipped in a second or so when its inputs are
unchanged, so running it again is cheap.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from turnout.config import default_exemplars
from turnout.errors import ConfigError
from turnout.home import DEFAULT_ENCODER
from turnout.routing.encoder import OnnxEmbedder
from turnout.training.exemplars import load_exemplars
from turnout.training.index import THRESHOLD_PERCENTILE, rebuild

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from turnout.home import Home


def rebuild_index(
    exemplars: Path,
    out: Path,
    encoder: Path,
    *,
    force: bool = False,
    percentile: float | None = None,
) -> None:
    """``turnout index rebuild``: validate, build with a progress bar, print a summary.

    ``percentile``: of each route's correct held-out confidence, its threshold (default 2).

    Raises:
        ConfigError: the exemplars or the encoder cannot be read.
    """
    found = load_exemplars(exemplars)
    embedder = OnnxEmbedder(encoder, threads=2, max_tokens=256)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("embedding", total=len(found.exemplars))
        report = rebuild(
            found,
            out,
            embedder,
            force=force,
            percentile=THRESHOLD_PERCENTILE if percentile is None else percentile,
            progress=lambda done: bar.advance(task, done),
        )
    console = Console()
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


def setup(home: Home, encoders: Sequence[str] = (DEFAULT_ENCODER,), *, force: bool = False) -> None:
    """Build ``encoders`` and the default taxonomy's index into ``home``.

    Raises:
        ConfigError: an encoder is unknown, or its recipe's inputs are not installed.
    """
    from turnout.models.build import RECIPES, build  # noqa: PLC0415 - set-up only

    for name in dict.fromkeys((DEFAULT_ENCODER, *encoders)):
        recipe = RECIPES.get(name)
        if recipe is None:
            raise ConfigError(f"--encoder: unknown encoder '{name}' (known: {sorted(RECIPES)})")
        logging.disable(logging.WARNING)  # onnxruntime's quantizer advises on the root logger
        try:
            built = build(recipe, home.encoder(name), force=force)
        except ImportError as exc:
            raise ConfigError(
                f"encoder {name} needs {exc.name}: pip install 'turnout[build]'"
            ) from exc
        finally:
            logging.disable(logging.NOTSET)
        if not built:
            print(f"{name}: up to date in {home.encoder(name)}")  # noqa: T201
    rebuild_index(default_exemplars(), home.index(), home.encoder(), force=force)
