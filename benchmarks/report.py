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

from benchmarks.classifier import DECIDERS
from benchmarks.common import RESULTS, ROOT
from benchmarks.decision import RATES

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from matplotlib.axes import Axes
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
    """Machine, commit, encoder build and threads, and the index build where there is one."""
    machine = row.get("machine", row)
    cpu, cores, commit = (machine.get(key, "?") for key in ("cpu", "cores", "commit"))
    text = f"{cpu}, {cores} cores, commit {commit}"
    if "encoder" in machine:
        text += f", encoder {machine['encoder']} on {machine['encoder_threads']} thread(s)"
    build = row.get("build_id") or machine.get("build_id")
    return text + (f", index build {build}" if build else "")


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


def _rebuild(_: Path) -> list[str]:
    rows = latest("rebuild", lambda r: r.get("kind"))
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.rebuild`."]
    table = ["| build | exemplars | seconds | embedded | reused |", "|---|---:|---:|---:|---:|"]
    table += [
        f"| {r['kind']} | {r['exemplars']} | {r['seconds']} | {r['embedded']} | {r['reused']} |"
        for r in rows
    ]
    return [
        "`turnout index rebuild` on CLINC150's train split, from an empty folder and then with one "
        f"exemplar changed; peak RSS {rows[-1]['peak_rss_mb']} MB. Measured on {_where(rows[-1])}.",
        "",
        *table,
    ]


def _long_prompts(_: Path) -> list[str]:
    rows = latest("long_prompts", lambda r: (r["tokens"], r["variant"]))
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.long_prompts`."]
    table = [
        "| tokens | encoder | prompts | accuracy | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    table += [
        f"| {r['tokens']} | {r['variant']} | {r['prompts']} | {r['accuracy']:.3f} "
        f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
        for r in rows
    ]
    return [
        "The default router on dataset prompts that are not exemplars (GSM8K, MMLU-Pro, MT-Bench), "
        "by length in the tuned encoder's tokens, at 1 caller: as shipped, the tuned encoder "
        "reading the head and tail 128 tokens it was tuned on, and with that cap taken off. "
        f"Measured in one run on {_where(rows[-1])}.",
        "",
        *table,
    ]


def _speculation(_: Path) -> list[str]:
    rows = latest("speculation", lambda r: r.get("config"))
    if not rows or "guesses" not in rows[-1]:
        return ["No result: `.venv/bin/python -m benchmarks.speculation`."]
    table = [
        "| config | semantic decision p50 / p99 ms | answering call starts p50 / p99 ms "
        "| guess | guessed | agreed | ahead p50 / p99 ms |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for row in rows:
        for guess in row["guesses"]:
            if not guess["guessed_share"]:
                continue
            table.append(
                f"| {row['config']} | {row['decided']['p50_ms']:.2f} / "
                f"{row['decided']['p99_ms']:.2f} | {row['call_started']['p50_ms']:.2f} / "
                f"{row['call_started']['p99_ms']:.2f} | {guess['guess']} "
                f"| {guess['guessed_share']:.1%} | {guess['agreement']:.1%} "
                f"| {guess['ahead']['p50_ms']:.2f} / {guess['ahead']['p99_ms']:.2f} |"
            )
    return [
        f"The default config over the shipped index, on both held-out sets ({rows[-1]['prompts']} "
        "prompts), speculation on for every route: the screen's guesses alone, and with "
        "speculative keyword rules added (theirs come first). Guessed: the share of prompts "
        "whose guess started a call before the semantic tier decided; agreed: of those, the "
        "share the decision kept; ahead: how long before the decision the kept call started. "
        "The call that answers starts at the guess when the decision agrees, else at the "
        f"decision. Measured in one run on {_where(rows[-1])}.",
        "",
        *table,
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


def _decision(out: Path) -> list[str]:
    every = latest(
        "decision",
        lambda r: (
            r.get("route_set"),
            r.get("setup"),
            r.get("kind"),
            r.get("concurrency"),
            r.get("tokens"),
            r.get("screen_when_busy", True),
            r.get("rate"),
        ),
    )
    clinc = [r for r in every if r.get("route_set", "clinc150") == "clinc150"]
    # The tiers of use-m3 (the screen's encoder); rows of runs that measured one setup name none.
    rows = [r for r in clinc if r.get("setup") == "use-m3"] or [
        r for r in clinc if "setup" not in r
    ]
    single = next(
        (r for r in rows if r.get("kind") == "in_process" and r["concurrency"] == 1), None
    )
    if single is None or "tiers" not in single:
        return ["No result: `.venv/bin/python -m benchmarks.decision`."]
    busy = next(
        (
            r
            for r in rows
            if r.get("kind") == "in_process"
            and r["concurrency"] == 32
            and r.get("screen_when_busy", True)
        ),
        None,
    )
    http = next((r for r in rows if r.get("kind") == "http"), None)
    parts = {f"tier: {tier}": cell for tier, cell in single["tiers"].items()}
    parts["whole decision, 1 caller"] = single
    if busy is not None:
        parts["whole decision, 32 callers"] = busy
    figure, axis = plt.subplots(figsize=(8, 3.5))
    names = list(parts)
    axis.barh(names, [c["p50_ms"] for c in parts.values()], color="#4c72b0", label="p50")
    axis.barh(
        names,
        [c["p99_ms"] - c["p50_ms"] for c in parts.values()],
        left=[c["p50_ms"] for c in parts.values()],
        color="#dd8452",
        label="p99",
    )
    axis.set_xscale("log")
    axis.set_xlabel("ms (log scale)")
    axis.legend()
    table = ["| part | p50 ms | p99 ms |", "|---|---:|---:|"]
    table += [f"| {name} | {c['p50_ms']:.3f} | {c['p99_ms']:.3f} |" for name, c in parts.items()]
    if http is not None:
        table.append(
            f"| over HTTP: /v1/route minus /healthz | {http['decision_p50_ms']:.3f} "
            f"| {http['decision_p99_ms']:.3f} |"
        )
    lines = [
        _save(figure, out, "decision.png"),
        "",
        "CLINC150 test prompts routed over an index of its train split "
        f"({single['routes']} routes, {single['exemplars']} exemplars); "
        f"{single['decisions']} decisions at 1 caller, {single['per_s']} per second. "
        f"Measured on {_where(single)}.",
        "",
        *table,
    ]
    if busy is not None:
        lines += [
            "",
            f"At 32 concurrent callers: {busy['per_s']} decisions per second; p99 is "
            f"{busy['p99_ms'] / single['p99_ms']:.1f}x the single caller's.",
        ]
    lines += _by_setup(clinc, "CLINC150's index built by each")
    lines += _by_setup(
        [r for r in every if r.get("route_set") == "taxonomy"],
        "the default taxonomy's index built by each, its two held-out sets routed",
    )
    tuned = [r for r in clinc if r.get("setup") == "e5-small tuned"]
    layouts = [
        r
        for r in tuned or rows
        if r.get("kind") in {"in_process", "layout"} and "encoder_workers" in r
    ]
    if any(r["kind"] == "layout" for r in layouts):
        lines += [
            "",
            "The encoder's layout on the two cores, same run (the default config's first):",
            "",
            "| workers x threads | callers | decisions/s | p50 ms | p99 ms |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {r['encoder_workers']} x {r['encoder_threads']} | {r['concurrency']} "
                f"| {r['per_s']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} |"
                for r in layouts
            ),
        ]
    return lines


def _by_setup(rows: list[Row], built: str) -> list[str]:
    """The decision by encoder setup and prompt length, when the run measured more than one."""
    setups = list(dict.fromkeys(r["setup"] for r in rows if "setup" in r))
    if len(setups) < 2:
        return []
    prompts = "CLINC150" if "CLINC150" in built else "held-out"

    def cell(setup: str, kind: str, concurrency: int, tokens: str | None, when_busy: bool) -> str:
        """``concurrency``: callers; for ``at_rate`` rows, the arrival rate."""
        found = next(
            (
                r
                for r in rows
                if r.get("setup") == setup
                and r.get("kind") == kind
                and r.get("tokens") == tokens
                and r.get("rate", r.get("concurrency", 1)) == concurrency
                and r.get("screen_when_busy", True) == when_busy
            ),
            None,
        )
        if found is None:
            return ""
        screened = found.get("screen_decided")
        share = "" if screened is None else f" ({screened:.0%} by the screen)"
        accuracy = "" if "accuracy" not in found else f", accuracy {found['accuracy']:.3f}"
        if kind == "in_process" and concurrency > 1:
            return f"{found['per_s']}/s{share}{accuracy}"
        return f"{found['p50_ms']:.2f} / {found['p99_ms']:.2f} ms{share}{accuracy}"

    measured = (
        (f"{prompts} prompts, 1 caller: p50 / p99", "in_process", 1, None, True),
        (f"{prompts} prompts, 32 callers: decisions", "in_process", 32, None, True),
        ("the same, the screen keeping its bar when busy", "in_process", 32, None, False),
        *(
            row
            for rate in RATES
            for row in (
                (f"{rate} arriving a second: p50 / p99", "at_rate", rate, None, True),
                ("the same, the screen keeping its bar", "at_rate", rate, None, False),
            )
        ),
        ("prompts of 48-64 tokens: p50 / p99", "by_length", 1, "48-64", True),
        ("prompts of 200-256 tokens: p50 / p99", "by_length", 1, "200-256", True),
    )
    return [
        "",
        f"By encoder, same run ({built}, as `turnout index rebuild` builds"
        " it; distinct prompts for the lengths):",
        "",
        "| | " + " | ".join(f"`{s}`" for s in setups) + " |",
        "|---|" + "---|" * len(setups),
        *(
            f"| {label} | " + " | ".join(cell(s, kind, c, t, when_busy) for s in setups) + " |"
            for label, kind, c, t, when_busy in measured
        ),
    ]


def _proxy(out: Path) -> list[str]:
    rows = latest("proxy_overhead", lambda r: (r.get("mode"), r.get("concurrency")))
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.proxy_overhead`."]
    figure, (added, rate) = plt.subplots(1, 2, figsize=(11, 3.5))
    for mode in ("json", "stream"):
        mine = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["concurrency"])
        levels = [r["concurrency"] for r in mine]
        added.plot(levels, [r["added_p50_ms"] for r in mine], marker="o", label=f"{mode} p50")
        added.plot(levels, [r["added_p99_ms"] for r in mine], marker="x", label=f"{mode} p99")
        rate.plot(levels, [r["routed_rps"] for r in mine], marker="o", label=f"{mode} routed")
        rate.plot(levels, [r["direct_rps"] for r in mine], linestyle="--", label=f"{mode} direct")
    for axis in (added, rate):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrent clients")
        axis.legend(fontsize=8)
    added.set_ylabel("ms added by turnout")
    rate.set_ylabel("requests per second")
    table = [
        "| mode | concurrency | direct p50 ms | routed p50 ms | added p50 ms | added p99 ms "
        "| routed req/s | direct req/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    table += [
        f"| {r['mode']} | {r['concurrency']} | {r['direct_p50_ms']:.2f} | {r['routed_p50_ms']:.2f} "
        f"| {r['added_p50_ms']:.2f} | {r['added_p99_ms']:.2f} | {r['routed_rps']:.0f} "
        f"| {r['direct_rps']:.0f} |"
        for r in sorted(rows, key=lambda r: (r["mode"], r["concurrency"]))
    ]
    return [
        _save(figure, out, "proxy.png"),
        "",
        "The same chat completion straight to a loopback simulated upstream and through "
        f"`turnout serve` (rules only, no encoder). Measured on {_where(rows[-1])}.",
        "",
        *table,
    ]


def _surfaces(_: Path) -> list[str]:
    rows = latest("surfaces", lambda r: (r.get("mode"), r.get("variant")))
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.surfaces`."]
    return [
        "Each API surface at concurrency 1, through a provider that speaks only Chat Completions"
        " (translated) and one that speaks the surface's API (native), against the same"
        " upstream called directly in the API it reached; the last column is the added p50"
        f" minus Chat Completions' in the same run (target: under 0.5 ms). {_where(rows[-1])}.",
        "",
        "| mode | surface | direct p50 ms | routed p50 ms | added p50 ms | added p99 ms "
        "| vs chat ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r['mode']} | {r['variant']} | {r['direct_p50_ms']:.3f} | {r['routed_p50_ms']:.3f}"
            f" | {r['added_p50_ms']:.3f} | {r['added_p99_ms']:.3f} | {r['vs_chat_p50_ms']:+.3f}"
            f" | {r['errors']} |"
            for r in rows
        ),
    ]


def _tokenizers(_: Path) -> list[str]:
    rows = latest("tokenizers", lambda r: r.get("tokenizer"))
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.tokenizers`."]
    return [
        "e5-small's tokenizer as served (its SentencePiece model) against its `tokenizers` file,"
        f" in one run: {rows[0]['same_ids']:,} of {rows[0]['prompts']:,} prompts got the same"
        f" ids. {_where(rows[-1]['machine'])}.",
        "",
        "| tokenizer | held once loaded MB | tokenizing µs/prompt | embedding p50 / p99 ms |",
        "|---|---:|---:|---|",
        *(
            f"| {r['tokenizer']} | {r['loaded_mb']:.1f} | {r['tokenize_us_per_prompt']:.1f}"
            f" | {r['embed']['p50_ms']:.2f} / {r['embed']['p99_ms']:.2f} |"
            for r in rows
        ),
    ]


def _quantization(_: Path) -> list[str]:
    timed = latest("quantization", lambda r: (r["kind"], r.get("case"), r["build"]))
    if not timed:
        return ["No result: `.venv/bin/python -m benchmarks.quantization`."]
    builds = list(dict.fromkeys(r["build"] for r in timed))
    cases = list(dict.fromkeys(r["case"] for r in timed if r["kind"] == "latency"))
    by = {(r.get("case"), r["build"]): r for r in timed}
    lines = [
        "e5-small as fp32, int8 on each batch's own activation ranges (`dynamic`, what shipped"
        " before) and int8 on ranges calibrated at build time (`calibrated`, what ships), built"
        " from the same graph and timed taking turns in one run (`benchmarks/quantization.py`;"
        f" p50 / p99 ms). {_where(timed[-1])}.",
        "",
        "| case | " + " | ".join(f"`{b}`" for b in builds) + " |",
        "|---|" + "---|" * len(builds),
        *(
            f"| {case} | "
            + " | ".join(
                f"{by[(case, b)]['p50_ms']:.2f} / {by[(case, b)]['p99_ms']:.2f}" for b in builds
            )
            + " |"
            for case in cases
        ),
        "",
        "| build | cosine to fp32: mean / min | alone against beside 7 others: p1 / min |",
        "|---|---|---|",
        *(
            f"| `{r['build']}` | {r['parity_mean']:.4f} / {r['parity_min']:.4f}"
            f" | {r['batched_p1']:.5f} / {r['batched_min']:.5f} |"
            for r in timed
            if r["kind"] == "vectors"
        ),
    ]
    mates = latest("batch_mates", lambda r: r["encoder"])
    if mates:
        lines += [
            "",
            "The shipped default index, each held-out prompt embedded alone and beside 7 others"
            f" (`benchmarks/batch_mates.py`; {_where(mates[-1]['machine'])}):",
            "",
            "| encoder | prompts | cosine p50 / min | routes changed |",
            "|---|---:|---|---:|",
            *(
                f"| `{r['encoder']}` | {r['prompts']} | {r['cosine_p50']:.4f} /"
                f" {r['cosine_min']:.4f} | {r['route_changed']} |"
                for r in mates
            ),
        ]
    return lines


def _failover(_: Path) -> list[str]:
    rows = latest("failover", lambda r: (r.get("topology"), r.get("server")))
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.failover`."]

    def cell(window: Row) -> str:
        return (
            f"{window['requests']} / {window['failed']} | {window['p50_ms']:.1f} /"
            f" {window['p99_ms']:.1f} / {window['max_ms']:.0f}"
        )

    return [
        "Two replicas share breakers and limits through Redis (`timeout_ms: 250`) under 6"
        " threads of requests; the primary holding the breaker is killed (SIGKILL) after 2 s."
        " Windows: before the kill; from it to 2 s after the promotion; after that. Each cell:"
        f" requests / failed | p50 / p99 / max ms. {_where(rows[-1]['machine'])}.",
        "",
        "| topology | server | promoted after s | before | | failover | | after | |",
        "|---|---|---:|---:|---|---:|---|---:|---|",
        *(
            f"| {r['topology']} | {r['server']} | {r['promotion_s']:.2f}"
            f" | {cell(r['before'])} | {cell(r['failover'])} | {cell(r['after'])} |"
            for r in rows
        ),
    ]


def _tracing(_: Path) -> list[str]:
    rows = latest(
        "tracing",
        lambda r: (r.get("traced"), r.get("sample_ratio"), r.get("mode"), r.get("concurrency")),
    )
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.tracing`."]
    sdk = latest("tracing_sdk", lambda r: r.get("sample_ratio"))
    return [
        "The same router with OpenTelemetry tracing off and on (OTLP/HTTP in batches to a local"
        " collector), in alternating blocks; added = on minus off, per percentile. `untraced` is"
        " both routers without tracing (`--same`): the method's own noise; one run each."
        f" {_where(rows[-1])}.",
        "",
        "| sample ratio | mode | callers | off p50 ms | on p50 ms | added p50 ms | added p99 ms "
        "| on requests/s | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r['sample_ratio'] if r['traced'] else 'untraced'} | {r['mode']}"
            f" | {r['concurrency']}"
            f" | {r['direct_p50_ms']:.3f} | {r['routed_p50_ms']:.3f} | {r['added_p50_ms']:.3f}"
            f" | {r['added_p99_ms']:.3f} | {r['routed_rps']:.0f} | {r['errors']} |"
            for r in sorted(rows, key=lambda r: (not r["traced"], -r["sample_ratio"]))
            if "traced" in r
        ),
        "",
        "The SDK's CPU per request, in one process: its three spans (SERVER, a tier, CLIENT with"
        " the `traceparent` it injects), and encoding them for OTLP (the batch exporter's work).",
        "",
        "| sample ratio | spans µs | encode µs |",
        "|---:|---:|---:|",
        *(f"| {r['sample_ratio']:g} | {r['spans_us']:.1f} | {r['encode_us']:.1f} |" for r in sdk),
    ]


def _workers(_: Path) -> list[str]:
    rows = latest("workers", lambda r: (r.get("kind"), r.get("workers"), r.get("concurrency")))
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.workers`."]
    single = {r["kind"]: r["requests_per_s"] for r in rows if r["workers"] == 1}
    return [
        "`turnout serve --workers N` in front of a simulated upstream, with the load generator"
        " and the upstream on the same cores; `pinned` names the model (the proxy alone),"
        " `semantic` routes every request through the encoder (decision cache off)."
        f" {_where(rows[-1])}.",
        "",
        "| kind | workers | callers | requests/s | vs 1 worker | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r['kind']} | {r['workers']} | {r['concurrency']} | {r['requests_per_s']:.0f}"
            f" | {r['requests_per_s'] / single[r['kind']]:.2f}x"
            f" | {r['latency']['p50_ms']:.2f} | {r['latency']['p99_ms']:.2f} | {r['errors']} |"
            for r in rows
            if r["kind"] in single
        ),
    ]


def _soak(out: Path) -> list[str]:
    path = RESULTS / "soak.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    summaries = [i for i, row in enumerate(rows) if row.get("kind") == "summary"]
    if not summaries:
        return ["No result: `.venv/bin/python -m benchmarks.soak`."]
    end = summaries[-1]
    begin = summaries[-2] + 1 if len(summaries) > 1 else 0
    run = [row for row in rows[begin:end] if row["requests"]]  # not the final drain
    summary = rows[end]
    figure, (memory, latency) = plt.subplots(1, 2, figsize=(11, 3.5))
    seconds = [r["t_s"] for r in run]
    memory.plot(seconds, [r["rss_mb"] for r in run], marker=".")
    memory.set_ylabel("router RSS, MB")
    latency.plot(seconds, [r["p50_ms"] for r in run], marker=".", label="p50")
    latency.plot(seconds, [r["p99_ms"] for r in run], marker=".", label="p99")
    latency.set_ylabel("ms")
    latency.legend(fontsize=8)
    for axis in (memory, latency):
        axis.set_xlabel("seconds into the run")
    return [
        _save(figure, out, "soak.png"),
        "",
        f"`turnout serve` with the default index and encoder for {summary['seconds']:.0f} s at"
        f" {summary['rate']:.0f} requests/s (Chat Completions, Responses and Messages; JSON and"
        " streams; 5% prompts over 100 KB; 2% streams left after their first chunk):"
        f" {summary['requests']} requests, {summary['errors']} errors; RSS"
        f" {summary['rss_warm_mb']} MB after warm-up, {summary['rss_last_mb']} MB at the end"
        f" ({summary['rss_growth_after_warmup']:+.1%}) and {summary['rss_max_mb']} MB at most;"
        f" at most {summary['fds_max']} open files"
        f" and {summary['threads_max']} threads; the worst interval's p99"
        f" {summary['p99_ms_max']} ms (the load generator shares the 2 cores). {_where(summary)}.",
    ]


def _hostile(_: Path) -> list[str]:
    rows = latest("hostile")
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.hostile`."]
    r = rows[-1]
    return [
        f"{r['seconds']:.0f} s of abuse at once against `turnout serve` (bodies nested 100,000"
        " deep, 7 MB prompts, 200 KB headers, bodies that never finish, 20 clients sending a"
        " header byte a second, 50 idle connections, streams left early) over an upstream"
        " that takes turns answering 64 MB, a gzip bomb, an endless stream, 401 and 503:"
        f" `/healthz` p50 {r['healthz_p50_ms']} ms, p99 {r['healthz_p99_ms']} ms, max"
        f" {r['healthz_max_ms']} ms over {r['healthz_checks']} checks; router RSS at most"
        f" {r['rss_max_mb']} MB; well-formed requests meanwhile: {r['requests_ok']} answered,"
        f" {r['requests_failed']} failed. {_where(r)}.",
    ]


def _accuracy(out: Path) -> list[str]:
    rows = [r for r in latest("classifier", lambda r: r.get("dataset")) if "dataset" in r]
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.classifier`."]
    deciders = [d for d in DECIDERS if d in rows[-1]]
    figure, axis = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(deciders)
    for i, decider in enumerate(deciders):
        axis.bar(
            [j + i * width for j in range(len(rows))],
            [r[decider]["accuracy"] for r in rows],
            width,
            label=decider,
        )
    middle = (len(deciders) - 1) / 2 * width
    axis.set_xticks([j + middle for j in range(len(rows))], [r["dataset"] for r in rows])
    axis.set_ylim(0.5, 1)
    axis.set_ylabel("test accuracy (in-scope for CLINC150)")
    axis.legend(fontsize=8)
    table = [
        f"| dataset | {' | '.join(deciders)} | classifier ECE |",
        f"|---|{'---:|' * len(deciders)}---:|",
    ]
    matched = []
    for r in rows:
        cells = []
        for decider in deciders:
            cell = r[decider]
            recall = f" (oos recall {cell['oos_recall']:.3f})" if "oos_recall" in cell else ""
            cells.append(f"{cell['accuracy']:.3f}{recall}")
            if "at_oos_recall" in cell:
                levels = cell["at_oos_recall"]
                matched.append(
                    f"| {r['dataset']} | {decider} | {' | '.join(map(str, levels.values()))} |"
                )
        table.append(f"| {r['dataset']} | {' | '.join(cells)} | {r['classifier_ece']:.3f} |")
    if matched:
        levels = next(r["fused"]["at_oos_recall"] for r in rows if "at_oos_recall" in r["fused"])
        table += [
            "",
            "In-scope test accuracy where each decider's threshold gives the same out-of-scope "
            "recall on test (a comparison of the deciders' curves, not an operating point), and "
            "with no threshold (each decider's ceiling):",
            "",
            "| dataset | decider | "
            + " | ".join(
                "no threshold" if level == "none" else f"recall {level}" for level in levels
            )
            + " |",
            f"|---|---|{'---:|' * len(levels)}",
            *matched,
        ]
    return [
        _save(figure, out, "accuracy.png"),
        "",
        "Per dataset, by decider: kNN alone, the classifier alone (as `turnout index rebuild` "
        "trains it), their fusion (what the service decides with: scaled by the nearest "
        "exemplar's similarity squared, as every decider's confidence here is), the fusion "
        "without that factor (`fused_unscaled`), and for comparison a "
        "student distilled from a two-encoder teacher, and that teacher; see "
        f"`benchmarks/classifier.py`. Measured on {_where(rows[-1])}.",
        "",
        *table,
    ]


SCREENED: Final = "e5-small tuned, screened by use-m3"


def _encoders(_: Path) -> list[str]:
    rows = latest("accuracy", lambda r: (r["setup"], r["dataset"]))
    if not rows:
        return ["No result: `.venv/bin/python -m benchmarks.accuracy`."]
    setups = list(dict.fromkeys(r["setup"] for r in rows))
    by = {(r["setup"], r["dataset"]): r for r in rows}

    def cell(row: Row | None) -> str:
        if row is None:
            return ""
        if "in_scope_accuracy" in row:
            return f"{row['in_scope_accuracy']:.3f} / {row['oos_recall']:.3f}"
        if "lowest" in row:
            shares = row["routed_to_math"]
            worst = min(shares, key=shares.get)
            return f"{row['lowest']:.3f} ({worst})"
        return f"{row['accuracy']:.3f}"

    names = {
        "clinc150": "CLINC150: in-scope / out-of-scope recall",
        "mmlu_pro": "MMLU-Pro's 14 domains",
        "mgsm": "MGSM to `math` from English routes: lowest language",
        "taxonomy": "default taxonomy, held-out set",
        "taxonomy heldout2": "default taxonomy, second held-out set",
        "taxonomy heldout3": "default taxonomy, third held-out set (chat prompts, Chinese)",
        "taxonomy heldout4": "default taxonomy, fourth held-out set (chat prompts, Chinese)",
        "taxonomy heldout5": "default taxonomy, fifth held-out set (chat prompts, Chinese)",
        "taxonomy mgsm": "MGSM to `math` by the default taxonomy: lowest language",
    }
    table = [
        "| route set | " + " | ".join(f"`{s}`" for s in setups) + " |",
        "|---|" + "---|" * len(setups),
        *[
            f"| {label} | " + " | ".join(cell(by.get((s, key))) for s in setups) + " |"
            for key, label in names.items()
        ],
    ]
    screened = [
        f"| {label} | {row['decided_by'].get('use-m3', 0):.0%} |"
        for key, label in names.items()
        for row in [by.get((SCREENED, key))]
        if row is not None and "decided_by" in row
    ]
    lines = [
        "Each route set built as `turnout index rebuild` builds it, by each encoder, frozen or"
        " tuned on the route set (`--tune`), screened or not (`--screen`), and its queries"
        f" routed by the app's router (`benchmarks/accuracy.py`). {_where(rows[-1])}.",
        "",
        *table,
    ]
    curve = (by.get((SCREENED, "clinc150")) or {}).get("thresholds_scaled")
    if curve:
        points = "; ".join(
            f"{factor}: {p['in_scope_accuracy']:.3f} / {p['oos_recall']:.3f}"
            for factor, p in curve.items()
        )
        lines += [
            "",
            f"CLINC150 by `{SCREENED}` with every route threshold scaled by a factor (in scope"
            f" / out-of-scope recall): {points}.",
        ]
    if screened:
        lines += [
            "",
            f"Of the queries routed by `{SCREENED}`, the share use-m3 decided alone:",
            "",
            "| route set | decided by the screen |",
            "|---|---:|",
            *screened,
        ]
    return lines


def _log_log(axis: Axes, title: str, ylabel: str) -> None:
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("vectors in the index")
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.legend(fontsize=8)


def _scaling(out: Path) -> list[str]:
    rows = latest(
        "scaling",
        lambda r: (r.get("case"), r.get("tokens"), r.get("vectors"), r.get("concurrency")),
    )
    lengths = [r for r in rows if r["case"] == "prompt_length"]
    sizes = [r for r in rows if r["case"] == "index_size"]
    levels = [r for r in rows if r["case"] == "concurrency"]
    if not (lengths and sizes and levels):
        return ["No result: `.venv/bin/python -m benchmarks.scaling`."]
    figure, ((length, size), (memory, load)) = plt.subplots(2, 2, figsize=(11, 7))
    tokens = [r["tokens"] for r in lengths]
    for part in ("decision", "semantic"):
        length.plot(tokens, [r[part]["p50_ms"] for r in lengths], marker="o", label=f"{part} p50")
        length.plot(tokens, [r[part]["p99_ms"] for r in lengths], marker="x", label=f"{part} p99")
    length.set_xscale("log", base=2)
    length.set_xlabel("prompt tokens")
    length.set_ylabel("ms")
    length.set_title("decision latency against prompt length")
    length.legend(fontsize=8)
    vectors = [r["vectors"] for r in sizes]
    size.plot(vectors, [r["p50_ms"] for r in sizes], marker="o", label="p50")
    size.plot(vectors, [r["p99_ms"] for r in sizes], marker="x", label="p99")
    for r in sizes:
        size.annotate(r["index"].removeprefix("Index"), (r["vectors"], r["p50_ms"]), fontsize=7)
    _log_log(size, "kNN latency against index size", "ms per query (k 10, one thread)")
    memory.plot(vectors, [r["index_mb"] for r in sizes], marker="o", label="index")
    memory.plot(vectors, [r["vectors_mb"] for r in sizes], marker="x", label="vectors alone")
    _log_log(memory, "memory against index size", "MiB")
    callers = [r["concurrency"] for r in levels]
    load.plot(callers, [r["per_s"] for r in levels], marker="o", color="#55a868")
    load.set_xscale("log", base=2)
    load.set_xlabel("concurrent callers")
    load.set_ylabel("decisions per second", color="#55a868")
    load.set_ylim(bottom=0)
    tail = load.twinx()
    tail.plot(callers, [r["p99_ms"] for r in levels], marker="x", color="#c44e52")
    tail.set_ylabel("p99 ms", color="#c44e52")
    load.set_title("throughput against concurrency")
    by_length = [
        "| prompt tokens | decision p50 ms | p99 ms | semantic tier p50 ms | p99 ms |",
        "|---:|---:|---:|---:|---:|",
    ]
    by_length += [
        f"| {r['tokens']} | {r['decision']['p50_ms']:.2f} | {r['decision']['p99_ms']:.2f} "
        f"| {r['semantic']['p50_ms']:.2f} | {r['semantic']['p99_ms']:.2f} |"
        for r in lengths
    ]
    by_size = [
        "| vectors | index | p50 ms | p99 ms | build s | index MiB | vectors alone MiB |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    by_size += [
        f"| {r['vectors']:,} | {r['index']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} "
        f"| {r['build_s']} | {r['index_mb']} | {r['vectors_mb']} |"
        for r in sizes
    ]
    by_load = ["| callers | decisions/s | p50 ms | p99 ms |", "|---:|---:|---:|---:|"]
    by_load += [
        f"| {r['concurrency']} | {r['per_s']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
        for r in levels
    ]
    return [
        _save(figure, out, "scaling.png"),
        "",
        "The default config's router for prompt length and concurrency; the index the service "
        f"builds for index size (see `benchmarks/scaling.py`). Measured on {_where(lengths[-1])}.",
        "",
        *by_length,
        "",
        *by_size,
        "",
        *by_load,
    ]


def _routing_peers(out: Path) -> list[str]:
    rows = latest("routing_peers", lambda r: (r.get("router"), r.get("dataset"), "threshold" in r))
    measured = [r for r in rows if "skipped" not in r]
    if not measured:
        skipped = [f"- {r['router']}: {r['skipped']}" for r in rows]
        return skipped or ["No result: `make bench-peers`."]
    figure, (accuracy, latency) = plt.subplots(1, 2, figsize=(11, 3.5))
    labels = [
        f"{r['router']} {r['dataset']}" + (" +threshold" if "threshold" in r else "")
        for r in measured
    ]
    accuracy.barh(labels, [r["accuracy"] for r in measured], color="#4c72b0")
    accuracy.set_xlim(0, 1)
    accuracy.set_xlabel("accuracy (all queries)")
    latency.barh(labels, [r["p50_ms"] for r in measured], color="#4c72b0", label="p50")
    latency.barh(
        labels,
        [r["p99_ms"] - r["p50_ms"] for r in measured],
        left=[r["p50_ms"] for r in measured],
        color="#dd8452",
        label="p99",
    )
    latency.set_xlabel("ms per query, one caller")
    latency.set_yticks([])
    latency.legend(fontsize=8)
    table = [
        "| router | dataset | queries | accuracy | in-scope accuracy | oos recall "
        "| p50 ms | p99 ms | index build |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in measured:
        router = r["router"] + (f" + val threshold {r['threshold']}" if "threshold" in r else "")
        table.append(
            f"| {router} | {r['dataset']} | {r['queries']} | {r['accuracy']:.3f} "
            f"| {r.get('in_scope_accuracy', '')} | {r.get('oos_recall', '')} "
            f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r.get('build_id', '')} |"
        )
    where = _where({key: value for key, value in measured[-1].items() if key != "build_id"})
    return [
        _save(figure, out, "routing_peers.png"),
        "",
        "Both routers embed with turnout's encoder (same weights, runtime and threads) and get "
        "the same exemplars; see `benchmarks/routing_peers.py` for how each is configured. "
        f"Measured in one run on {where}.",
        "",
        *table,
    ]


SECTIONS: Final = (
    ("Routing accuracy: the default taxonomy", _taxonomy),
    ("Routing accuracy: classifiers per dataset", _accuracy),
    ("Routing accuracy: encoders, frozen and tuned", _encoders),
    ("The whole decision and each tier", _decision),
    ("Longer prompts: accuracy and time by length", _long_prompts),
    ("Fast path: the rules tier", _rules),
    ("Cost: a traffic mix routed by the default config", _cost),
    ("Decision cache", _cache),
    ("Index rebuild", _rebuild),
    ("Speculative dispatch", _speculation),
    ("Proxy overhead against concurrency", _proxy),
    ("Proxy overhead per API surface", _surfaces),
    ("Worker processes", _workers),
    ("Tracing overhead", _tracing),
    ("Redis failover under load", _failover),
    ("Tokenizers: SentencePiece and tokenizers for e5-small", _tokenizers),
    ("Quantization: activation ranges, speed and batch-mates", _quantization),
    ("Soak: minutes at a fixed rate", _soak),
    ("Hostile input and broken upstreams", _hostile),
    ("Scaling: prompt length, index size, concurrency", _scaling),
    ("Peers: the LiteLLM proxy in front of the same upstream", _peers),
    ("Peers: aurelio's semantic-router on the same exemplars and encoder", _routing_peers),
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
