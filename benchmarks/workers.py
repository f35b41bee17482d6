"""Throughput against worker processes: ``turnout serve --workers N`` on one port.

Three kinds of process on loopback: a simulated upstream (`benchmarks.fake_upstream`, no added
latency), ``turnout serve --workers N`` in front of it, and this load generator
(`benchmarks.loadgen`, keep-alive connections spread over the workers by the kernel). Two kinds
of request:

- ``pinned``: ``model`` names the upstream model, so no routing runs: the proxy alone;
- ``semantic``: ``model: auto`` over the default taxonomy's index with the decision cache off,
  so every request runs the encoder: the proxy and a whole semantic decision.

Each worker runs ``routing.encoder_threads`` threads (2 by default), so on a machine with fewer
cores than workers times threads they contend. Every process of the run shares this machine's
cores, the load generator and the upstream included: on 2 cores the second worker has little
left to gain, and the figure says how much. Requests per second, p50 and p99, per level.

    .venv/bin/python -m benchmarks.workers [--workers 1 2] [--duration 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.common import (
    default_index,
    emit,
    fake_upstream,
    free_port,
    machine,
    percentiles_ms,
    serve_router,
)
from benchmarks.loadgen import post_request, run_load

CONFIG = """
routing: {{index: {index}, cache: {{enabled: false}}, unsure: best_route}}
providers:
  - name: bench
    base_url: http://127.0.0.1:{port}/v1
    models: [{{id: sim, input_per_mtok: 1, output_per_mtok: 1, context_window: 128000}}]
routes:
{routes}
default_route: general
"""
ROUTES = (
    "code",
    "math",
    "reasoning",
    "creative_writing",
    "translation",
    "summarization",
    "extraction",
    "knowledge",
    "chit_chat",
    "general",
)
PROMPT = (
    "Our quarterly report shows revenue grew 12% while costs grew 9%. "
    "Explain what that means for operating margin, in two sentences."
)


def _body(model: str) -> bytes:
    return msgspec.json.encode(
        {"model": model, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0.2}
    )


async def _measure(
    port: int, workers: int, concurrency: int, duration_s: float
) -> list[dict[str, Any]]:
    rows = []
    for kind, model in (("pinned", "bench/sim"), ("semantic", "auto")):
        request = post_request("127.0.0.1", port, "/v1/chat/completions", _body(model))
        await run_load(port, request, concurrency=concurrency, duration_s=1.0)  # warm every worker
        samples = await run_load(port, request, concurrency=concurrency, duration_s=duration_s)
        latency = percentiles_ms(samples.latencies)
        rows.append(
            {
                "kind": kind,
                "workers": workers,
                "concurrency": concurrency,
                "requests_per_s": round(samples.rate, 1),
                "errors": samples.errors,
                "latency": latency,
            }
        )
        print(
            f"workers {workers} {kind:<9} c{concurrency:<3} {samples.rate:8.0f} req/s"
            f"  p50 {latency['p50_ms']:7.2f} ms  p99 {latency['p99_ms']:7.2f} ms"
            f"  errors {samples.errors}",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="3 s per level")
    args = parser.parse_args()
    duration = 3.0 if args.quick else args.duration
    routes = "\n".join(f"  - {{name: {route}, targets: [bench/sim]}}" for route in ROUTES)
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(fake_upstream())
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        config = folder / "workers.yaml"
        config.write_text(CONFIG.format(index=default_index(), port=upstream, routes=routes))
        for workers in args.workers:
            port = free_port()
            with serve_router(config, port, workers=workers):
                rows += asyncio.run(_measure(port, workers, args.concurrency, duration))
    emit(
        "workers",
        [
            {"machine": machine(index=default_index()), "cpus": len(os.sched_getaffinity(0))} | row
            for row in rows
        ],
    )


if __name__ == "__main__":
    main()
