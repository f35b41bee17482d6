"""Soak: ``turnout serve`` at a fixed request rate for minutes, with the semantic tier on.

Three processes on loopback: a simulated upstream, ``turnout serve`` (the default taxonomy's
index and encoder, every route on the simulated upstream) and this open-loop load generator,
which starts requests on a fixed schedule whatever the answers' latency. The traffic mixes
Chat Completions, Responses and Messages, JSON and streams; 5% of prompts are over 100 KB;
2% are streams the client leaves after the first chunk. Every ``--every`` seconds it samples
the router's RSS, open file descriptors and threads (from ``/proc``), and the interval's
requests, errors and latency p50/p99. The summary gives RSS growth after warm-up (the first
fifth of the run) and the errors (non-200 answers and failed requests; the planned early
disconnects are not errors).

With ``--redis URL`` the state is Redis and the decision cache is shared (L2; ``--no-l2``
turns the sharing off, for a comparison): the summary then also counts the L2 lookups by
outcome (``hit``, ``miss``, ``guarded``, ``bypass``), from the router's ``/metrics``.

    .venv/bin/python -m benchmarks.soak [--minutes 10] [--rate 200] [--quick]
        [--redis redis://127.0.0.1:6379/0 [--no-l2]] [--index DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import httpx

from benchmarks.common import (
    emit,
    fake_upstream,
    free_port,
    machine,
    percentiles_ms,
    serve_router,
)

ROUTES: Final = (
    "chit_chat",
    "code",
    "creative_writing",
    "extraction",
    "general",
    "knowledge",
    "math",
    "reasoning",
    "summarization",
    "translation",
)  # the default taxonomy's
CONFIG: Final = """
routing: {{index: "{index}", cache: {{shared: {shared}}}}}
state: {state}
providers:
  - name: bench
    base_url: http://127.0.0.1:{port}/v1
    apis: [chat_completions, responses, messages]
    models:
      - {{id: sim, input_per_mtok: 1, output_per_mtok: 1, context_window: 1000000}}
routes:
{routes}
default_route: general
"""
TOPICS: Final = (
    "Write a Python function that merges two sorted lists, case {i}.",
    "What is {i} times 37, and how do you check the answer?",
    "Translate into French: the meeting {i} moved to Thursday.",
    "Summarize the plot of a film about a lighthouse keeper, take {i}.",
    "Extract the dates and names from: Ana met Luis on 3 May {i}.",
    "Tell me a short story about a fox and a crow, number {i}.",
    "Why does ice float on water? Explain it for reader {i}.",
    "hello there, how are you today? ({i})",
)
LONG: Final = "Here is our log dump, find the failing step:\n" + "step ok 200 ms\n" * 7_000


@dataclass
class Interval:
    """What one sampling interval saw."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    left: int = 0


def request_body(i: int) -> tuple[str, dict[str, Any], bool]:
    """Request ``i``'s path and body, and whether the client leaves after the first chunk."""
    text = LONG if i % 100 < 5 else TOPICS[i % len(TOPICS)].format(i=i)
    leaves = i % 100 in {5, 6}
    stream = leaves or i % 3 == 0
    surface = i % 5
    if surface == 3:
        return (
            "/v1/responses",
            {"model": "auto", "input": text, "stream": stream, "store": False},
            leaves,
        )
    if surface == 4:
        body = {"model": "auto", "max_tokens": 256, "stream": stream}
        return "/v1/messages", {**body, "messages": [{"role": "user", "content": text}]}, leaves
    body = {"model": "auto", "stream": stream, "messages": [{"role": "user", "content": text}]}
    return "/v1/chat/completions", body, leaves


async def _one(session: aiohttp.ClientSession, url: str, i: int, into: Interval) -> None:
    path, body, leaves = request_body(i)
    started = time.perf_counter()
    try:
        async with session.post(url + path, json=body) as answer:
            if leaves:
                await answer.content.readany()
                into.left += 1
                return
            await answer.read()
            if answer.status != 200:
                into.errors += 1
                return
    except (aiohttp.ClientError, TimeoutError):
        into.errors += 1
        return
    into.latencies.append(time.perf_counter() - started)


def process_sample(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
        "threads": int(fields["Threads"]),
        "fds": len(list(Path(f"/proc/{pid}/fd").iterdir())),
    }


async def soak(
    url: str, pid: int, *, rate: float, seconds: float, every: float
) -> list[dict[str, Any]]:
    """Load ``url`` at ``rate`` requests a second for ``seconds``; a row per ``every`` s."""
    rows: list[dict[str, Any]] = []
    interval, tasks = Interval(), set()
    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        next_sample, i = start + every, 0
        while (now := time.perf_counter()) - start < seconds:
            due = start + i / rate
            if due > now:
                await asyncio.sleep(due - now)
            task = asyncio.create_task(_one(session, url, i, interval))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
            if time.perf_counter() >= next_sample:
                rows.append(_row(pid, start, interval, len(tasks)))
                interval, next_sample = Interval(), next_sample + every
        await asyncio.gather(*tasks)
    rows.append(_row(pid, start, interval, 0))
    return rows


def _row(pid: int, start: float, interval: Interval, in_flight: int) -> dict[str, Any]:
    latency = percentiles_ms(interval.latencies) if interval.latencies else {}
    return {
        "bench": "soak",
        "kind": "interval",
        "t_s": round(time.perf_counter() - start, 1),
        "requests": len(interval.latencies) + interval.errors + interval.left,
        "errors": interval.errors,
        "left_early": interval.left,
        "in_flight": in_flight,
        "p50_ms": round(latency.get("p50_ms", 0.0), 2),
        "p99_ms": round(latency.get("p99_ms", 0.0), 2),
        **process_sample(pid),
    }


def _shared_cache(metrics: str) -> dict[str, float]:
    """``turnout_shared_cache_total`` by outcome, from a Prometheus exposition."""
    found = {}
    for line in metrics.splitlines():
        if line.startswith("turnout_shared_cache_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            found[outcome] = float(line.rsplit(" ", 1)[1])
    return found


def _summary(rows: list[dict[str, Any]], rate: float) -> dict[str, Any]:
    warm = rows[max(0, len(rows) // 5 - 1)]
    last = rows[-1]
    return {
        "bench": "soak",
        "kind": "summary",
        "rate": rate,
        "seconds": last["t_s"],
        "requests": sum(r["requests"] for r in rows),
        "errors": sum(r["errors"] for r in rows),
        "rss_warm_mb": warm["rss_mb"],
        "rss_last_mb": last["rss_mb"],
        "rss_max_mb": max(r["rss_mb"] for r in rows),
        "rss_growth_after_warmup": round(last["rss_mb"] / warm["rss_mb"] - 1, 4),
        "fds_max": max(r["fds"] for r in rows),
        "threads_max": max(r["threads"] for r in rows),
        "p99_ms_max": max(r["p99_ms"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--quick", action="store_true", help="30 s at 50 requests/s")
    parser.add_argument("--redis", default=None, help="a Redis URL: shared state and L2 cache")
    parser.add_argument("--no-l2", action="store_true", help="with --redis, no shared cache")
    parser.add_argument(
        "--index", default="default", help="an index build of the default taxonomy's routes"
    )
    args = parser.parse_args()
    minutes, rate = (0.5, 50.0) if args.quick else (args.minutes, args.rate)
    router = free_port()
    routes = "\n".join(f"  - {{name: {name}, targets: [bench/sim]}}" for name in ROUTES)
    with tempfile.TemporaryDirectory() as folder, fake_upstream() as upstream:
        config = Path(folder) / "soak.yaml"
        state = (
            "{backend: memory}" if args.redis is None else f"{{backend: redis, url: {args.redis}}}"
        )
        shared = "false" if args.no_l2 else "true"
        config.write_text(
            CONFIG.format(
                port=upstream, routes=routes, state=state, shared=shared, index=args.index
            )
        )
        with serve_router(config, router) as process:
            url = f"http://127.0.0.1:{router}"
            rows = asyncio.run(
                soak(url, process.pid, rate=rate, seconds=minutes * 60, every=args.every)
            )
            outcomes = _shared_cache(httpx.get(f"{url}/metrics", timeout=10).text)
    summary = _summary(rows, rate)
    if args.redis is not None:
        summary["l2"] = "off" if args.no_l2 else "on"
        summary["shared_cache"] = outcomes
    rows.append(summary)
    meta = machine()
    for row in rows:
        row.update(meta)
    path = emit("soak", rows)
    for row in rows[:-1]:
        print(
            f"{row['t_s']:>7.1f}s  {row['requests']:>5} req  {row['errors']:>3} err  "
            f"p50 {row['p50_ms']:>7.2f}  p99 {row['p99_ms']:>8.2f} ms  "
            f"RSS {row['rss_mb']:>7.1f} MB  fds {row['fds']:>4}  threads {row['threads']:>3}"
        )
    print(rows[-1])
    print(f"rows appended to {path}")


if __name__ == "__main__":
    main()
