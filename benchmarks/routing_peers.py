"""turnout against aurelio's ``semantic-router``: the same exemplars, the same encoder, one run.

``semantic-router`` is installed from PyPI into ``.peers/semantic-router`` by ``scripts/peers``;
`benchmarks.semantic_router_peer` runs it there on turnout's ONNX encoder (``use-m3``, one
thread, as turnout's default config), so both routers embed identically and differ only in how
they decide. Each gets the same exemplars and routes the same queries one at a time:

- ``clinc150``: the train split (151 routes, ``oos`` among them) as exemplars; the test split as
  queries. turnout is as built by ``turnout index rebuild`` (thresholds fitted on its own
  held-out part of the exemplars, ``default_route: oos``); it never sees the val split.
  ``semantic-router`` is scored twice: its top route as is, and with a score threshold fitted on
  val (the one with the best in-scope accuracy at out-of-scope recall of at least 0.8, as
  `benchmarks.classifier` does) below which a query goes to ``oos``. turnout also routes the
  test split with a seeded sample of 10 and of 30 training rows per route as its exemplars (a
  route set as small as users bring), and routes val and test with the thresholds at the 1st,
  2nd, 3rd and 5th percentile (``--threshold-percentile``); those rows have no peer beside them.
- ``taxonomy``: the default taxonomy's exemplars (``index/exemplars``) and held-out prompts
  (``index/heldout``); turnout is the default config's router (rules, then the semantic tier),
  ``semantic-router`` its top route (``general`` has exemplars of its own).

Latency is per query, one caller, in-process for both: turnout's ``Router.route`` on the chat
body (parsing, rules, cache, semantic tier), ``semantic-router``'s ``router(query)``.

    .venv/bin/python -m benchmarks.routing_peers [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from benchmarks.common import (
    HOME,
    ROOT,
    chat_body,
    default_index,
    emit,
    machine,
    open_router,
    percentiles_ms,
    route_set_config,
)
from benchmarks.data import load_rows
from benchmarks.taxonomy import heldout_rows
from turnout.config import Settings, default_exemplars, load_settings, parse_settings
from turnout.routing.encoder import OnnxEmbedder
from turnout.routing.index import read_manifest
from turnout.training.exemplars import load_exemplars
from turnout.training.index import THRESHOLD_PERCENTILE, rebuild

PEER: Final = ROOT / ".peers" / "semantic-router" / "bin" / "python"
EXEMPLARS: Final = default_exemplars()
OUT_OF_SCOPE: Final = "oos"
MIN_OOS_RECALL: Final = 0.8
WARM_UP: Final = 20
SMALL_ROUTE_SETS: Final = (10, 30)  # exemplars per route, for users who bring a few
THRESHOLD_SWEEP: Final = (1, 2, 3, 5)  # turnout index rebuild --threshold-percentile

Decision = tuple[str, float, float]  # route, score (peer) or 0.0, seconds


async def turnout_decisions(settings: Settings, queries: list[str]) -> list[Decision]:
    """Each query routed by ``settings``' router, built as the app's lifespan builds it."""
    router = await open_router(settings)
    for query in queries[:WARM_UP]:
        await router.route(chat_body(query))
    out = []
    for query in queries:
        body = chat_body(query)
        started = time.perf_counter()
        routed = await router.route(body)
        took = time.perf_counter() - started
        out.append((routed.decision.route or settings.default_route, 0.0, took))
    return out


def peer_decisions(routes: dict[str, list[str]], queries: list[str]) -> dict[str, Any]:
    """``semantic-router``'s decisions, from its own virtualenv (see the module's docstring)."""
    routing = load_settings(None, {}).routing  # the encoder as turnout's default config runs it
    job = {
        "encoder": str(HOME.encoder()),
        "threads": routing.encoder_threads,
        "max_tokens": routing.max_tokens,
        "routes": routes,
        "queries": queries,
    }
    done = subprocess.run(  # noqa: S603 - the peer we installed, our own module
        [str(PEER), "-m", "benchmarks.semantic_router_peer"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "no output")
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def fitted_threshold(decisions: list[Decision], labels: list[str]) -> float:
    """The score threshold with the best in-scope accuracy at out-of-scope recall >= 0.8."""
    best, chosen = -1.0, 0.0
    for candidate in sorted({round(score, 3) for _, score, _ in decisions}):
        decided = [route if score >= candidate else OUT_OF_SCOPE for route, score, _ in decisions]
        accuracy, recall = scope_scores(decided, labels)
        if recall >= MIN_OOS_RECALL and accuracy > best:
            best, chosen = accuracy, candidate
    return chosen


def scope_scores(decided: list[str], labels: list[str]) -> tuple[float, float]:
    """(in-scope accuracy, out-of-scope recall)."""
    pairs = list(zip(decided, labels, strict=True))
    inside = [route == label for route, label in pairs if label != OUT_OF_SCOPE]
    outside = [route == label for route, label in pairs if label == OUT_OF_SCOPE]
    return sum(inside) / max(1, len(inside)), sum(outside) / max(1, len(outside))


def _row(
    router: str, dataset: str, decided: list[str], labels: list[str], took: list[float]
) -> dict[str, Any]:
    right = sum(route == label for route, label in zip(decided, labels, strict=True))
    row: dict[str, Any] = {
        "router": router,
        "dataset": dataset,
        "queries": len(labels),
        "accuracy": round(right / len(labels), 4),
        **percentiles_ms(took),
    }
    if OUT_OF_SCOPE in labels:
        accuracy, recall = scope_scores(decided, labels)
        row |= {"in_scope_accuracy": round(accuracy, 4), "oos_recall": round(recall, 4)}
    return row


def _sample(rows: list[dict[str, Any]], per_route: int) -> list[dict[str, Any]]:
    """A seeded sample of ``per_route`` rows of each label (all of a smaller label's)."""
    by_label: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    rng = random.Random(0)
    return [
        row
        for label in sorted(by_label)
        for row in rng.sample(by_label[label], min(per_route, len(by_label[label])))
    ]


def _clinc_router(
    train: list[dict[str, Any]], folder: Path, percentile: float = THRESHOLD_PERCENTILE
) -> tuple[Settings, str]:
    """Settings routing by an index of ``train`` built in ``folder`` (reusing the vectors of a
    build there), and the build id."""
    folder.mkdir(exist_ok=True)
    exemplars = folder / "clinc150.jsonl"
    exemplars.write_text(
        "".join(json.dumps({"text": r["text"], "route": r["label"]}) + "\n" for r in train)
    )
    embedder = OnnxEmbedder(HOME.encoder(), threads=2, max_tokens=256)
    built = rebuild(load_exemplars(exemplars), folder / "index", embedder, percentile=percentile)
    config = route_set_config(f"index: {folder / 'index'}", built.routes, OUT_OF_SCOPE)
    return parse_settings(config.encode(), {}), built.build_id


def _turnout_row(
    dataset: str, settings: Settings, build_id: str, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    decided = asyncio.run(turnout_decisions(settings, [r["text"] for r in rows]))
    labels = [r["label"] for r in rows]
    took = [d[2] for d in decided]
    return _row("turnout", dataset, [d[0] for d in decided], labels, took) | {"build_id": build_id}


def clinc150(quick: bool, folder: Path) -> list[dict[str, Any]]:
    rows = load_rows("clinc150")
    step = 8 if quick else 1
    train = [row for row in rows if row["split"] == "train"][::step]
    val = [row for row in rows if row["split"] == "val"][::step]
    test = [row for row in rows if row["split"] == "test"][::step]
    routes: dict[str, list[str]] = {}
    for row in train:
        routes.setdefault(row["label"], []).append(row["text"])
    queries, labels = [r["text"] for r in test], [r["label"] for r in test]
    settings, build_id = _clinc_router(train, folder / "all")
    found = [_turnout_row("clinc150", settings, build_id, test)]
    theirs = peer_decisions(routes, [r["text"] for r in val] + queries)
    decisions: list[Decision] = [(d[0], d[1], d[2]) for d in theirs["decisions"]]
    fitted = fitted_threshold(decisions[: len(val)], [r["label"] for r in val])
    on_test = decisions[len(val) :]
    took = [d[2] for d in on_test]
    version = theirs["version"]
    peer = [
        _row(f"semantic-router {version}", "clinc150", [d[0] for d in on_test], labels, took),
        _row(
            f"semantic-router {version}",
            "clinc150",
            [route if score >= fitted else OUT_OF_SCOPE for route, score, _ in on_test],
            labels,
            took,
        )
        | {"threshold": fitted, "index_s": round(theirs["index_s"], 1)},
    ]
    found += [row | {"build_id": build_id} for row in peer]
    for per_route in SMALL_ROUTE_SETS:
        few, few_id = _clinc_router(_sample(train, per_route), folder / str(per_route))
        found.append(_turnout_row(f"clinc150, {per_route} per route", few, few_id, test))
    for percentile in THRESHOLD_SWEEP:
        swept, swept_id = _clinc_router(train, folder / "all", percentile)
        for split, part in (("val", val), ("test", test)):
            if (percentile, split) != (THRESHOLD_PERCENTILE, "test"):  # the first row
                dataset = f"clinc150 {split}, percentile {percentile:g}"
                found.append(_turnout_row(dataset, swept, swept_id, part))
    return found


def taxonomy() -> list[dict[str, Any]]:
    rows = heldout_rows()
    queries, labels = [row["text"] for row in rows], [row["route"] for row in rows]
    ours = asyncio.run(turnout_decisions(load_settings(None, {}), queries))
    routes: dict[str, list[str]] = {}
    for exemplar in load_exemplars(EXEMPLARS).exemplars:
        routes.setdefault(exemplar.route, []).append(exemplar.text)
    theirs = peer_decisions(routes, queries)
    decided = [d[0] or "general" for d in theirs["decisions"]]
    build_id = read_manifest(default_index()).get("build_id")
    rows = [
        _row("turnout", "taxonomy", [d[0] for d in ours], labels, [d[2] for d in ours]),
        _row(
            f"semantic-router {theirs['version']}",
            "taxonomy",
            decided,
            labels,
            [d[2] for d in theirs["decisions"]],
        ),
    ]
    return [row | {"build_id": build_id} for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="an eighth of CLINC150")
    args = parser.parse_args()
    if not PEER.exists():
        rows = [
            {"router": "semantic-router", "skipped": f"not installed: run scripts/peers ({PEER})"}
        ]
    else:
        with tempfile.TemporaryDirectory() as folder:
            try:
                rows = taxonomy() + clinc150(args.quick, Path(folder))
            except RuntimeError as exc:
                rows = [{"router": "semantic-router", "skipped": f"did not run: {exc}"}]
    meta = machine()
    emit("routing_peers", [{**row, "machine": meta} for row in rows])
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
