"""Routing accuracy by encoder and tuning: every setup on the same splits, in one run.

Setups: ``use-m3`` (frozen), ``e5-small`` (frozen) and ``e5-small`` tuned on each route set by
``turnout index rebuild --tune`` (`turnout.models.tune`). Each dataset is built into an index by
`turnout.training.index.rebuild`, as the command builds it, and its queries are routed one at a
time by the router the app's lifespan builds (rules off: these are semantic route sets).

- ``clinc150``: train split (151 routes, ``oos`` among them) as exemplars, ``default_route: oos``
  with per-route thresholds; test split as queries: in-scope accuracy and out-of-scope recall,
  and for a screened build also as if every query came while its encoder was busy (`as_busy`)
  and with its thresholds scaled by each of `CURVE` (`scaled`: the trade the operating point
  makes).
- ``mmlu_pro``: its 14 domains; a fixed seeded split of each domain, 70% for exemplars (at most
  `MMLU_PER_DOMAIN` of them) and 30% as queries.
- ``mgsm``: routes learned from English only (``math`` from GSM8K train, ``code`` from the
  Stack Overflow questions' train split, ``knowledge`` from MMLU-Pro, ``questions`` from
  XQuAD's English questions); each of MGSM's problems, in 11 languages, should go to ``math``.
- ``taxonomy``: the default taxonomy's exemplars; its held-out prompts (``index/heldout``), the
  second held-out set (``index/heldout2``), the third (``index/heldout3``), the fourth
  (``index/heldout4``) and the fifth (``index/heldout5``), each when it is there; and MGSM's
  problems, which should all go to ``math``.

Nothing here is tuned on a query set: tuning sees only the exemplars a build is given, minus the
rows the build holds out for its thresholds.

    .venv/bin/python -m benchmarks.accuracy [--quick] [--only DATASET] [--setup NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec
import numpy as np

from benchmarks.common import HOME, chat_body, emit, machine, open_router, route_set_config
from benchmarks.data import load_rows
from benchmarks.taxonomy import HELDOUT, heldout_rows
from turnout.config import Settings, default_exemplars, parse_settings
from turnout.routing.encoder import OnnxEmbedder
from turnout.routing.index import read_manifest
from turnout.training.exemplars import load_exemplars, route_id
from turnout.training.index import rebuild

if TYPE_CHECKING:
    from collections.abc import Callable

# (name, encoder, tuned, the encoder that screens it or None)
SETUPS: Final = (
    ("use-m3", "use-m3", False, None),
    ("e5-small", "e5-small", False, None),
    ("e5-small tuned", "e5-small", True, None),
    ("e5-small tuned, screened by use-m3", "e5-small", True, "use-m3"),
)
Setup = tuple[str, str, bool, str | None]


def slug(name: str) -> str:
    """A setup's name as a folder name that a YAML flow mapping can hold."""
    return name.replace(" ", "_").replace(",", "")


def encoders(setup: Setup) -> tuple[OnnxEmbedder, OnnxEmbedder | None]:
    """The setup's encoder and its screen's, loaded as ``turnout index rebuild`` loads them."""
    _, encoder, _, screen = setup
    embedder = OnnxEmbedder(HOME.encoder(encoder), threads=2, max_tokens=256)
    if screen is None:
        return embedder, None
    return embedder, OnnxEmbedder(HOME.encoder(screen), threads=2, max_tokens=256)


OUT_OF_SCOPE: Final = "oos"
CURVE: Final = (0.9, 0.8, 0.6, 0.0)
"""Factors on a screened build's thresholds, CLINC150 routed by each (`scaled`)."""
MMLU_PER_DOMAIN: Final = 300
ENGLISH_ROUTE_ROWS: Final = 300
HELDOUT2: Final = HELDOUT.parent / "heldout2"
HELDOUT3: Final = HELDOUT.parent / "heldout3"
HELDOUT4: Final = HELDOUT.parent / "heldout4"
HELDOUT5: Final = HELDOUT.parent / "heldout5"

Rows = list[dict[str, Any]]


def _config(
    index: Path, encoder: Path, routes: tuple[str, ...], default_route: str, unsure: str
) -> Settings:
    routing = f"index: {index}, encoder: {encoder}, unsure: {unsure}"
    return parse_settings(route_set_config(routing, routes, default_route).encode(), {})


async def _route(settings: Settings, texts: list[str]) -> tuple[list[str], dict[str, float]]:
    """Each text's route, and the share of decisions each encoder made (a screen's, or not)."""
    router = await open_router(settings)
    out = []
    by: dict[str, int] = {}
    for text in texts:
        decision = (await router.route(chat_body(text))).decision
        out.append(decision.route or settings.default_route)
        encoder = decision.evidence.encoder if decision.evidence is not None else "none"
        by[encoder] = by.get(encoder, 0) + 1
    return out, {name: round(count / len(texts), 3) for name, count in by.items()}


def _build(
    setup: Setup, rows: Rows, folder: Path, *, default_route: str, unsure: str
) -> tuple[Settings, dict[str, Any]]:
    """Settings routing by an index of ``rows`` (text, label) built with ``setup``."""
    name, encoder, tune, _ = setup
    folder.mkdir(parents=True, exist_ok=True)
    exemplars = folder / "exemplars.jsonl"
    exemplars.write_text(
        "".join(json.dumps({"text": r["text"], "route": r["label"]}) + "\n" for r in rows)
    )
    embedder, screener = encoders(setup)
    found = load_exemplars(exemplars)
    report = rebuild(found, folder / "index", embedder, tune=tune, screen=screener, force=True)
    floor = read_manifest(folder / "index")["cache_floor"]
    built = {
        "setup": name,
        "exemplars": report.exemplars,
        "build_s": round(report.seconds, 1),
        "cache_floor": floor,
        **({} if report.screen is None else {"screen": report.screen}),
    }
    settings = _config(folder / "index", HOME.encoder(encoder), found.routes, default_route, unsure)
    return settings, built


def _copy(settings: Settings, name: str, edit: Callable[[dict[str, Any]], None]) -> Settings:
    """``settings`` routing by a copy of its index, ``name`` beside it, each of its stages'
    manifests (the screen's too) changed by ``edit``."""
    index = Path(str(settings.routing.index))
    copy = index.parent / name
    shutil.copytree(index, copy, dirs_exist_ok=True)
    for path in (copy / "manifest.json", copy / "screen" / "manifest.json"):
        if path.exists():
            manifest = json.loads(path.read_text())
            edit(manifest)
            path.write_text(json.dumps(manifest))
    routing = msgspec.structs.replace(settings.routing, index=str(copy))
    return msgspec.structs.replace(settings, routing=routing)


def as_busy(settings: Settings) -> Settings | None:
    """``settings`` routing by a copy of its screened index whose bar is its busy bar: every
    prompt decided as while the tuned encoder is busy. None for an index without a screen."""
    if "screen" not in read_manifest(Path(str(settings.routing.index))):
        return None

    def busy(manifest: dict[str, Any]) -> None:
        if "screen" in manifest:
            manifest["screen"]["bar"] = manifest["screen"]["busy_bar"]

    return _copy(settings, "as-busy", busy)


def scaled(settings: Settings, factor: float) -> Settings:
    """``settings`` routing by a copy of its index whose every route threshold, the screen's
    too, is ``factor`` times the build's: a point on the in-scope against out-of-scope curve
    that the build's one operating point
    (`turnout.training.index.THRESHOLD_PERCENTILE`) sits on."""

    def scale(manifest: dict[str, Any]) -> None:
        for route in manifest["routes"].values():
            route["threshold"] *= factor

    return _copy(settings, f"thresholds-{factor}", scale)


def clinc150(setup: Setup, folder: Path, step: int) -> Rows:
    """In-scope accuracy and out-of-scope recall; screened, also as if always busy (`as_busy`)."""
    rows = load_rows("clinc150")
    train = [r for r in rows if r["split"] == "train"][::step]
    test = [r for r in rows if r["split"] == "test"][::step]
    settings, built = _build(
        setup, train, folder, default_route=OUT_OF_SCOPE, unsure="default_route"
    )
    labels = [r["label"] for r in test]

    def scored(chosen: Settings) -> dict[str, Any]:
        decided, by = asyncio.run(_route(chosen, [r["text"] for r in test]))
        inside = [d == y for d, y in zip(decided, labels, strict=True) if y != OUT_OF_SCOPE]
        outside = [d == y for d, y in zip(decided, labels, strict=True) if y == OUT_OF_SCOPE]
        return {
            "decided_by": by,
            "in_scope_accuracy": round(float(np.mean(inside)), 4),
            "oos_recall": round(float(np.mean(outside)), 4),
        }

    busy = as_busy(settings)
    curve = {str(f): scored(scaled(settings, f)) for f in CURVE} if setup[3] is not None else {}
    return [
        built
        | scored(settings)
        | {"dataset": "clinc150", "queries": len(test)}
        | ({} if busy is None else {"as_busy": scored(busy)})
        | ({"thresholds_scaled": curve} if curve else {})
    ]


def _split(rows: Rows, share: float) -> tuple[Rows, Rows]:
    order = np.random.default_rng(0).permutation(len(rows))
    cut = int(len(rows) * share)
    return [rows[i] for i in order[:cut]], [rows[i] for i in order[cut:]]


def mmlu_pro(setup: Setup, folder: Path, step: int) -> Rows:
    train, test = _split(load_rows("mmlu_pro"), 0.7)
    per_domain: dict[str, int] = {}
    exemplars = []
    for row in train:
        if per_domain.get(row["label"], 0) < MMLU_PER_DOMAIN // step:
            per_domain[row["label"]] = per_domain.get(row["label"], 0) + 1
            exemplars.append(row)
    test = test[::step]
    settings, built = _build(setup, exemplars, folder, default_route="other", unsure="best_route")
    decided, by = asyncio.run(_route(settings, [r["text"] for r in test]))
    # As the build names them: "computer science" is route computer_science.
    right = [d == (route_id(r["label"]) or r["label"]) for d, r in zip(decided, test, strict=True)]
    return [
        built
        | {"decided_by": by}
        | {"dataset": "mmlu_pro", "queries": len(test), "accuracy": round(float(np.mean(right)), 4)}
    ]


def mgsm(setup: Setup, folder: Path, step: int) -> Rows:
    n = ENGLISH_ROUTE_ROWS // step
    routes = {
        "math": [r for r in load_rows("gsm8k") if r["split"] == "train"][:n],
        "code": [r for r in load_rows("code_questions") if r["split"] == "train"][:n],
        "knowledge": load_rows("mmlu_pro")[:n],
        "questions": [r for r in load_rows("xquad_questions") if r["label"] == "en"][:n],
    }
    exemplars = [
        {"text": r["text"], "label": route} for route, rows in routes.items() for r in rows
    ]
    settings, built = _build(
        setup, exemplars, folder, default_route="questions", unsure="best_route"
    )
    return [built | _to_math(settings, step, "mgsm")]


def _to_math(settings: Settings, step: int, dataset: str) -> dict[str, Any]:
    """Of MGSM's problems, the share ``settings`` routes to ``math`` in each language."""
    problems = load_rows("mgsm")[::step]
    decided, by = asyncio.run(_route(settings, [r["text"] for r in problems]))
    by_language: dict[str, list[bool]] = {}
    for row, route in zip(problems, decided, strict=True):
        by_language.setdefault(row["label"], []).append(route == "math")
    shares = {language: round(float(np.mean(v)), 3) for language, v in by_language.items()}
    return {
        "decided_by": by,
        "dataset": dataset,
        "queries": len(problems),
        "routed_to_math": shares,
        "lowest": min(shares.values()),
    }


def taxonomy(setup: Setup, folder: Path, step: int) -> Rows:
    exemplars = [
        {"text": e.text, "label": e.route} for e in load_exemplars(default_exemplars()).exemplars
    ]
    settings, built = _build(setup, exemplars, folder, default_route="general", unsure="best_route")
    out = []
    sets = (
        ("taxonomy", HELDOUT),
        ("taxonomy heldout2", HELDOUT2),
        ("taxonomy heldout3", HELDOUT3),
        ("taxonomy heldout4", HELDOUT4),
        ("taxonomy heldout5", HELDOUT5),
    )
    for name, where in sets:
        if not where.is_dir():
            continue
        rows = heldout_rows(where)[::step]
        decided, by = asyncio.run(_route(settings, [r["text"] for r in rows]))
        right = [d == r["route"] for d, r in zip(decided, rows, strict=True)]
        out.append(
            built
            | {"decided_by": by}
            | {"dataset": name, "queries": len(rows), "accuracy": round(float(np.mean(right)), 4)}
        )
    return [*out, built | _to_math(settings, step, "taxonomy mgsm")]


DATASETS: Final = {"clinc150": clinc150, "mmlu_pro": mmlu_pro, "mgsm": mgsm, "taxonomy": taxonomy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="an eighth of each set")
    parser.add_argument("--only", choices=sorted(DATASETS), action="append")
    parser.add_argument("--setup", choices=[s[0] for s in SETUPS], action="append")
    args = parser.parse_args()
    step = 8 if args.quick else 1
    rows: Rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.only or list(DATASETS):
            for setup in SETUPS:
                if args.setup and setup[0] not in args.setup:
                    continue
                found = DATASETS[name](setup, Path(scratch) / name / slug(setup[0]), step)
                for row in found:
                    print(json.dumps(row), flush=True)
                rows += found
    emit("accuracy", [row | machine() for row in rows])


if __name__ == "__main__":
    main()
