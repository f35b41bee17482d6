"""Proxy overhead: latency through turnout minus latency straight to the same upstream.

Three processes on loopback: a simulated upstream (no added latency), ``turnout serve`` in front
of it, and this load generator. At concurrency 1 the direct and routed requests alternate in
small blocks, so drift on a noisy machine hits both alike; at concurrency 4, 16, 32 and 64 each
side runs for the same time, twice, alternating. JSON and streaming. Reports p50/p99 of both
paths, the added latency (routed minus direct, per percentile) and the routed requests per
second.

    .venv/bin/python -m benchmarks.proxy_overhead [--duration 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from typing import Any

import msgspec

from benchmarks.common import emit, machine, percentiles_ms, router_over_fake_upstream
from benchmarks.loadgen import Samples, post_request, run_load

CONFIG = """
providers:
  - name: bench
    base_url: http://127.0.0.1:{port}/v1
    models:
      - {{id: sim, input_per_mtok: 1, output_per_mtok: 1, context_window: 128000}}
routes:
  - {{name: general, targets: [bench/sim]}}
  - {{name: code, targets: [bench/sim]}}
rules:
  - {{name: code-fence, regex: "```", route: code}}
  - {{name: greet, keywords: [hello, good morning, thanks], route: general}}
default_route: general
"""

LEVELS = (4, 16, 32, 64)  # besides concurrency 1
PROMPT = (
    "Our quarterly report shows revenue grew 12% while costs grew 9%. "
    "Explain what that means for operating margin, in two sentences."
)


def _body(*, stream: bool) -> bytes:
    return msgspec.json.encode(
        {
            "model": "auto",
            "messages": [
                {"role": "system", "content": "You are a concise analyst."},
                {"role": "user", "content": PROMPT},
            ],
            "temperature": 0.2,
            "stream": stream,
        }
    )


@dataclass(frozen=True)
class Phase:
    """How to load each side: ``rounds`` alternations of a run bounded by time or count."""

    rounds: int
    concurrency: int
    duration_s: float
    limit: int | None = None


async def _alternate(
    requests: tuple[bytes, bytes], ports: tuple[int, int], phase: Phase
) -> tuple[Samples, Samples]:
    """Run direct then routed, ``phase.rounds`` times, so drift hits both sides alike."""
    both = (Samples(), Samples())
    for _ in range(phase.rounds):
        for request, port, into in zip(requests, ports, both, strict=True):
            run = await run_load(
                port,
                request,
                concurrency=phase.concurrency,
                duration_s=phase.duration_s,
                limit_per_worker=phase.limit,
            )
            into.add(run)
    return both


def _row(mode: str, concurrency: int, direct: Samples, routed: Samples) -> dict[str, Any]:
    ours, theirs = percentiles_ms(routed.latencies), percentiles_ms(direct.latencies)
    return {
        "bench": "proxy_overhead",
        "mode": mode,
        "concurrency": concurrency,
        "requests": len(routed.latencies),
        "direct_p50_ms": round(theirs["p50_ms"], 3),
        "direct_p99_ms": round(theirs["p99_ms"], 3),
        "routed_p50_ms": round(ours["p50_ms"], 3),
        "routed_p99_ms": round(ours["p99_ms"], 3),
        "added_p50_ms": round(ours["p50_ms"] - theirs["p50_ms"], 3),
        "added_p99_ms": round(ours["p99_ms"] - theirs["p99_ms"], 3),
        "direct_rps": round(direct.rate, 1),
        "routed_rps": round(routed.rate, 1),
        "errors": direct.errors + routed.errors,
    }


@dataclass(frozen=True)
class Plan:
    """``rounds`` blocks of 25 requests per side at concurrency 1, then ``duration_s`` per side
    at each of ``levels``, in ``blocks`` alternations."""

    rounds: int
    duration_s: float
    levels: tuple[int, ...] = (32,)
    blocks: int = 2


async def measure(upstream: int, router: int, plan: Plan) -> list[dict[str, Any]]:
    """Concurrency 1 (alternating blocks), then each level of ``plan``; JSON, then streaming."""
    rows = []
    for mode, stream in (("json", False), ("stream", True)):
        body = _body(stream=stream)
        direct = post_request("127.0.0.1", upstream, "/v1/chat/completions", body)
        routed = post_request("127.0.0.1", router, "/v1/chat/completions", body)
        await run_load(upstream, direct, concurrency=4, duration_s=0.5)
        await run_load(router, routed, concurrency=4, duration_s=0.5)
        pair, ports = (direct, routed), (upstream, router)
        single = await _alternate(pair, ports, Phase(plan.rounds, 1, 60.0, limit=25))
        rows.append(_row(mode, 1, *single))
        for concurrency in plan.levels:
            phase = Phase(plan.blocks, concurrency, plan.duration_s / plan.blocks)
            loaded = await _alternate(pair, ports, phase)
            rows.append(_row(mode, concurrency, *loaded))
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'mode':<7}{'conc':>5}{'direct p50':>12}{'routed p50':>12}{'added p50':>11}"
        f"{'added p99':>11}{'routed rps':>12}{'errors':>8}"
    )
    lines = [head, "-" * len(head)]
    lines += [
        f"{r['mode']:<7}{r['concurrency']:>5}{r['direct_p50_ms']:>12.3f}{r['routed_p50_ms']:>12.3f}"
        f"{r['added_p50_ms']:>11.3f}{r['added_p99_ms']:>11.3f}{r['routed_rps']:>12.1f}{r['errors']:>8}"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=6.0, help="seconds per side at concurrency 32"
    )
    parser.add_argument(
        "--rounds", type=int, default=60, help="blocks of 25 requests per side at concurrency 1"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    rounds, duration = (4, 1.0) if args.quick else (args.rounds, args.duration)
    with router_over_fake_upstream(CONFIG) as (upstream, router):
        rows = asyncio.run(measure(upstream, router, Plan(rounds, duration, LEVELS)))
    meta = machine()
    for row in rows:
        row.update(meta)
    path = emit("proxy_overhead", rows)
    print(_table(rows))
    print(f"\n{meta}\nrows appended to {path}")


if __name__ == "__main__":
    main()
