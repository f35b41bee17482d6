"""Tracing overhead: the same router with OpenTelemetry tracing off and on, alternating.

Four processes on loopback: a simulated upstream that is also the OTLP/HTTP collector
(`benchmarks.fake_upstream`), ``turnout serve`` twice in front of it (one with ``tracing:
{enabled: true}`` exporting every span there in batches, one without), and this load generator.
The two routers take the same requests in alternating blocks (`benchmarks.proxy_overhead`'s
method, with 6 alternations at concurrency 32), JSON and streaming, at concurrency 1 and 32:
"added" is traced minus untraced. ``--same`` serves both without tracing, which measures the
method's own noise and the second router's place.

Then, in this process, what the SDK costs for one request's spans (a SERVER span, a tier span
with explicit times, a CLIENT span and the ``traceparent`` it injects), sampled or not, and
what encoding them for OTLP costs (the batch exporter's work, off the event loop but on the
same cores).

    .venv/bin/python -m benchmarks.tracing [--sample-ratio 1] [--same] [--duration 12] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from benchmarks.common import emit, fake_upstream, free_port, machine, serve_router
from benchmarks.proxy_overhead import CONFIG, Plan, measure

TRACED = (
    "tracing: {{enabled: true, endpoint: 'http://127.0.0.1:{port}/v1/traces',"
    " sample_ratio: {ratio}}}\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per side at c32")
    parser.add_argument("--rounds", type=int, default=60, help="blocks of 25 requests at c1")
    parser.add_argument("--sample-ratio", type=float, default=1.0, help="tracing.sample_ratio")
    parser.add_argument("--same", action="store_true", help="both routers untraced: the noise")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    rounds, duration = (4, 1.0) if args.quick else (args.rounds, args.duration)
    plain, traced = free_port(), free_port()
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(fake_upstream())
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for name, text, port in (
            ("plain", CONFIG, plain),
            ("traced", CONFIG if args.same else TRACED + CONFIG, traced),
        ):
            path = folder / f"{name}.yaml"
            path.write_text(text.format(port=upstream, ratio=args.sample_ratio))
            stack.enter_context(serve_router(path, port))
        rows = asyncio.run(measure(plain, traced, Plan(rounds, duration, blocks=6)))
    meta = machine()
    print(f"{'mode':<7}{'conc':>5}{'off p50':>10}{'on p50':>10}{'added p50':>11}{'added p99':>11}")
    for row in rows:
        row.update(meta, bench="tracing", sample_ratio=args.sample_ratio, traced=not args.same)
        print(
            f"{row['mode']:<7}{row['concurrency']:>5}{row['direct_p50_ms']:>10.3f}"
            f"{row['routed_p50_ms']:>10.3f}{row['added_p50_ms']:>11.3f}{row['added_p99_ms']:>11.3f}"
        )
    costs = [span_cost(ratio, 2_000 if args.quick else 20_000) | meta for ratio in (1.0, 0.1)]
    for cost in costs:
        print(cost)
    print(f"rows appended to {emit('tracing', rows)} and {emit('tracing_sdk', costs)}")


def span_cost(ratio: float, requests: int) -> dict[str, Any]:
    """Microseconds of CPU per request for its spans at ``ratio``, and to encode them."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("benchmark")
    propagator = TraceContextTextMapPropagator()
    started = time.perf_counter()
    for _ in range(requests):
        with tracer.start_as_current_span(
            "chat", kind=SpanKind.SERVER, attributes={"gen_ai.operation.name": "chat"}
        ) as span:
            span.update_name("chat auto")
            span.set_attributes({"turnout.route": "code", "turnout.tier": "rule"})
            now = time.time_ns()
            tier = tracer.start_span("turnout.tier rule", set_span_in_context(span), start_time=now)
            tier.end(end_time=now + 1000)
            with tracer.start_as_current_span("chat m", kind=SpanKind.CLIENT):
                propagator.inject({})
    spans_us = (time.perf_counter() - started) / requests * 1e6
    finished = exporter.get_finished_spans()
    began = time.perf_counter()
    encode_spans(finished).SerializeToString()
    encode_us = (time.perf_counter() - began) / requests * 1e6
    return {
        "sample_ratio": ratio,
        "spans_per_request": 3,
        "spans_us": round(spans_us, 1),
        "encode_us": round(encode_us, 1),
    }


if __name__ == "__main__":
    main()
