"""Writes ``benchmarks/report/REPORT.md`` and its PNG plots from ``benchmarks/results/*.jsonl``.

Each section takes the latest result of one benchmark (the last line of each kind in its file)
and states the machine and commit it was measured on; index-backed results also give the index
build. A benchmark with no result yet is listed as missing, with the command that makes one.

    .venv/bin/python -m benchmarks.report
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

from benchmarks.common import RESULTS, ROOT

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from matplotlib.figure import Figure

REPORT: Final = ROOT / "benchmarks" / "report"
Row = dict[str, Any]


def latest(name: str, key: Callable[[Row], object] = lambda _: None) -> list[Row]:
    """The last row of each ``key`` in ``results/<name>.jsonl``, in first-seen order."""
    path = RESULTS / f"{name}.jsonl"
    if not path.exists():
        return []
    found: dict[object, Row] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line) if line.strip() else None
        if isinstance(row, dict):
            found[key(row)] = row
    return list(found.values())


def _where(row: Row) -> str:
    machine = row.get("machine", row)
    cpu, cores, commit = (machine.get(key, "?") for key in ("cpu", "cores", "commit"))
    text = f"{cpu}, {cores} cores, commit {commit}"
    return text + (f", index build {row['build_id']}" if "build_id" in row else "")


def _save(figure: Figure, out: Path, name: str) -> str:
    figure.tight_layout()
    figure.savefig(out / name, dpi=110)
    plt.close(figure)
    return f"![{name}]({name})"


def _taxonomy(out: Path) -> list[str]:
    rows = {row["config"]: row for row in latest("taxonomy", lambda r: r.get("config"))}
    router = rows.get("router")
    if router is None:
        return ["No result: `.venv/bin/python -m benchmarks.taxonomy`."]
    accuracy = router["accuracy"]
    routes = sorted(k[6:] for k in accuracy if k.startswith("route:"))
    figure, (bars, matrix) = plt.subplots(1, 2, figsize=(13, 5))
    bars.barh(routes, [accuracy[f"route:{r}"] for r in routes], color="#4c72b0")
    bars.set_xlim(0, 1)
    bars.set_xlabel("held-out accuracy")
    bars.set_title(f"default taxonomy: {accuracy['all']:.3f} over {router['prompts']} prompts")
    confusion = router["confusion"]
    grid = [[confusion.get(gold, {}).get(found, 0) for found in routes] for gold in routes]
    matrix.imshow(grid, cmap="Blues")
    matrix.set_xticks(range(len(routes)), routes, rotation=60, ha="right")
    matrix.set_yticks(range(len(routes)), routes)
    matrix.set_xlabel("decided")
    matrix.set_ylabel("held-out label")
    for i, line in enumerate(grid):
        for j, count in enumerate(line):
            if count:
                matrix.text(j, i, str(count), ha="center", va="center", fontsize=7)
    matrix.set_title("confusion matrix (router)")
    image = _save(figure, out, "taxonomy.png")
    kinds = {k: v for k, v in accuracy.items() if k.startswith(("kind:", "tier:", "source:"))}
    table = ["| slice | accuracy | prompts |", "|---|---:|---:|"]
    table += [f"| {k} | {v:.3f} | {router['counts'][k]} |" for k, v in kinds.items()]
    semantic = rows.get("semantic_only")
    extra = (
        [f"Semantic tier alone (rules off): {semantic['accuracy']['all']:.3f}."] if semantic else []
    )
    return [image, "", f"Measured on {_where(router)}.", "", *table, "", *extra]


def _rules(out: Path) -> list[str]:
    rows = latest("rules", lambda r: r.get("case"))
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.rules`."]
    figure, axis = plt.subplots(figsize=(8, 3.5))
    names = [row["case"] for row in rows]
    axis.barh(names, [row["p50_ms"] * 1000 for row in rows], label="p50", color="#4c72b0")
    axis.barh(
        names,
        [(row["p99_ms"] - row["p50_ms"]) * 1000 for row in rows],
        left=[row["p50_ms"] * 1000 for row in rows],
        label="p99",
        color="#dd8452",
    )
    axis.axvline(50, color="grey", linestyle="--", linewidth=1, label="50 µs target")
    axis.set_xlabel("µs per request (2,000-character prompts)")
    axis.legend()
    table = ["| case | p50 µs | p99 µs |", "|---|---:|---:|"]
    table += [
        f"| {r['case']} | {r['p50_ms'] * 1000:.1f} | {r['p99_ms'] * 1000:.1f} |" for r in rows
    ]
    return [_save(figure, out, "rules.png"), "", f"Measured on {_where(rows[-1])}.", "", *table]


def _cost(out: Path) -> list[str]:
    rows = latest("cost")
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.cost`."]
    row = rows[-1]
    usd = row["usd_per_1000"]
    figure, axis = plt.subplots(figsize=(7, 3))
    labels = ["routed by turnout", "all premium (claude-sonnet-4)", "all cheapest (llama-3.1-8b)"]
    axis.barh(labels, [usd["routed"], usd["premium"], usd["cheapest"]], color="#55a868")
    axis.set_xlabel(f"USD per 1,000 requests ({row['requests']} in the mix)")
    table = ["| route | requests | USD routed | models |", "|---|---:|---:|---|"]
    for route, counts in row["routes"].items():
        models = ", ".join(f"{k[6:]} ({v})" for k, v in counts.items() if k.startswith("model:"))
        table.append(f"| {route} | {counts['requests']} | {counts['routed']:.4f} | {models} |")
    return [
        _save(figure, out, "cost.png"),
        "",
        f"Routing saves {row['saving_vs_premium']:.1%} against sending everything to the premium "
        f"model (premium costs {row['premium_over_routed']}x as much); it costs "
        f"{row['routed_over_cheapest']}x the cheapest model. Measured on {_where(row)}.",
        "",
        *table,
    ]


def _cache(out: Path) -> list[str]:
    rows = latest("cache", lambda r: r.get("threshold", "latency"))
    curve = [row for row in rows if "threshold" in row]
    if not curve:
        return ["No result: `.venv/bin/python -m benchmarks.cache`."]
    figure, axis = plt.subplots(figsize=(6, 3.5))
    thresholds = [row["threshold"] for row in curve]
    axis.plot(
        thresholds, [r["paraphrase_hit_rate"] for r in curve], marker="o", label="paraphrase hits"
    )
    axis.plot(
        thresholds,
        [r["opposite_false_hit_rate"] for r in curve],
        marker="x",
        label="opposite false hits",
    )
    axis.set_xlabel("cosine threshold")
    axis.set_ylabel("rate")
    axis.legend()
    lines = [_save(figure, out, "cache.png"), "", f"Measured on {_where(curve[-1])}."]
    latency = next((row for row in rows if "l1_lookup_4096" in row), None)
    if latency is not None:
        lines += ["", "| lookup | p50 ms | p99 ms |", "|---|---:|---:|"]
        for name in ("l1_lookup_4096", "l2_hit", "l2_miss"):
            if name in latency:
                lines.append(f"| {name} | {latency[name]['p50_ms']} | {latency[name]['p99_ms']} |")
    return lines


def _speculation(_: Path) -> list[str]:
    rows = latest("speculation")
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.speculation`."]
    row = rows[-1]
    return [
        f"On {row['prompts']} held-out prompts a speculative guess started the upstream call for "
        f"{row['guessed_share']:.1%} of requests; the decision agreed for {row['agreement']:.1%} "
        f"of those, and the call ran ahead of the decision by p50 {row['ahead']['p50_ms']:.2f} "
        f"ms, p99 {row['ahead']['p99_ms']:.2f} ms. Measured on {_where(row)}."
    ]


def _peers(out: Path) -> list[str]:
    rows = latest("peers", lambda r: (r.get("proxy"), r.get("mode"), r.get("concurrency")))
    if not rows:
        return ["No result: `make bench-peers`."]
    lines = [
        "| proxy | mode | concurrency | added p50 ms | added p99 ms | req/s | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    measured = [row for row in rows if "skipped" not in row]
    for row in measured:
        name = row["proxy"] + (f" {row['version']}" if "version" in row else "")
        lines.append(
            f"| {name} | {row['mode']} | {row['concurrency']} | {row['added_p50_ms']:.2f} "
            f"| {row['added_p99_ms']:.2f} | {row['routed_rps']:.0f} | {row['errors']} |"
        )
    ran = {row["proxy"] for row in measured}
    lines += [
        f"- {row['proxy']}: {row['skipped']}"
        for row in rows
        if "skipped" in row and row["proxy"] not in ran
    ]
    by = {(r["proxy"], r["mode"], r["concurrency"]): r for r in measured}
    ratios = []
    for mode in ("json", "stream"):
        ours, theirs = by.get(("turnout", mode, 1)), by.get(("litellm", mode, 1))
        busy_ours, busy_theirs = by.get(("turnout", mode, 32)), by.get(("litellm", mode, 32))
        if ours and theirs and busy_ours and busy_theirs:
            ratios.append(
                f"{mode}: LiteLLM adds {theirs['added_p50_ms'] / ours['added_p50_ms']:.1f}x "
                f"turnout's p50 at concurrency 1; turnout serves "
                f"{busy_ours['routed_rps'] / busy_theirs['routed_rps']:.1f}x its requests per "
                "second at 32."
            )
    figure, axis = plt.subplots(figsize=(7, 3))
    labels = [f"{r['proxy']} {r['mode']}" for r in measured if r["concurrency"] == 1]
    axis.barh(labels, [r["added_p50_ms"] for r in measured if r["concurrency"] == 1])
    axis.set_xscale("log")
    axis.set_xlabel("added latency p50 at concurrency 1 (ms, log scale)")
    where = f"Measured in one run on {_where(measured[-1])}." if measured else ""
    return [_save(figure, out, "peers.png"), "", *ratios, "", where, "", *lines]


SECTIONS: Final = (
    ("Routing accuracy: the default taxonomy", _taxonomy),
    ("Fast path: the rules tier", _rules),
    ("Cost: a traffic mix routed by the default config", _cost),
    ("Decision cache", _cache),
    ("Speculative dispatch", _speculation),
    ("Peers: the LiteLLM proxy in front of the same upstream", _peers),
)


def write_report(out: Path, runs: list[str] | None = None) -> Path:
    """Write ``REPORT.md`` and its plots into ``out``; its path."""
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# turnout benchmark report",
        "",
        "Written by `benchmarks/report.py` from the latest results in `benchmarks/results/`"
        " (`make bench`). Every figure says where it was measured.",
        "",
    ]
    if runs:
        lines += ["Runs:", "", *(f"- {line}" for line in runs), ""]
    for title, section in SECTIONS:
        lines += [f"## {title}", "", *section(out), ""]
    path = out / "REPORT.md"
    path.write_text("\n".join(lines))
    return path


if __name__ == "__main__":
    print(write_report(REPORT))
