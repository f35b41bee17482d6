"""Proxy overhead per API surface: Chat Completions, Responses and Messages, JSON and streaming.

Three processes on loopback: a simulated upstream that speaks all three APIs (no added
latency), ``turnout serve`` in front of it, and this load generator. Each surface is measured
through a provider that speaks only Chat Completions (``translated``: the request and its answer
are translated both ways) and through one that speaks the surface's API (``native``: the body
goes as sent, the answer is rewritten). Every request is also sent straight to the upstream in
the API it reaches, the baseline of its added latency. At concurrency 1 all variants alternate
in small blocks, so drift on a noisy machine hits them alike. ``vs_chat`` is a variant's added
p50 minus Chat Completions' added p50, in the same run: the target is under 0.5 ms.

    .venv/bin/python -m benchmarks.surfaces [--rounds 40] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, Final

import msgspec

from benchmarks.common import emit, machine, percentiles_ms, router_over_fake_upstream
from benchmarks.loadgen import Samples, post_request, run_load
from benchmarks.proxy_overhead import CONFIG as PROXY_CONFIG
from benchmarks.proxy_overhead import PROMPT

NATIVE: Final = """  - name: native
    base_url: http://127.0.0.1:{port}/v1
    apis: [responses, messages]
    models:
      - {{id: sim, input_per_mtok: 1, output_per_mtok: 1, context_window: 128000}}
"""
# proxy_overhead's config, and a provider of the same upstream that speaks Responses and Messages
CONFIG: Final = PROXY_CONFIG.replace(
    "routes:\n", NATIVE + "routes:\n  - {{name: native, targets: [native/sim]}}\n", 1
)
SYSTEM: Final = "You are a concise analyst."
PATHS: Final = {
    "chat": "/v1/chat/completions",
    "responses": "/v1/responses",
    "messages": "/v1/messages",
}


def _body(surface: str, model: str, *, stream: bool) -> bytes:
    """A request of ``surface`` with the same system prompt, prompt and sampling."""
    if surface == "responses":
        body: dict[str, Any] = {"model": model, "instructions": SYSTEM, "input": PROMPT}
    elif surface == "messages":
        body = {"model": model, "system": SYSTEM, "max_tokens": 256}
        body["messages"] = [{"role": "user", "content": PROMPT}]
    else:
        body = {"model": model, "messages": [{"role": "system", "content": SYSTEM}]}
        body["messages"].append({"role": "user", "content": PROMPT})
    return msgspec.json.encode({**body, "temperature": 0.2, "stream": stream})


def _variants(upstream: int, router: int, *, stream: bool) -> dict[str, tuple[bytes, bytes, int]]:
    """Each variant's routed request and its baseline: (routed, direct, router port)."""
    direct = {
        name: post_request("127.0.0.1", upstream, path, _body(name, "sim", stream=stream))
        for name, path in PATHS.items()
    }
    variants = {"chat": ("chat", "auto", "chat")}
    for surface in ("responses", "messages"):
        variants[f"{surface} translated"] = (surface, "auto", "chat")
        variants[f"{surface} native"] = (surface, "native", surface)
    return {
        name: (
            post_request("127.0.0.1", router, PATHS[surface], _body(surface, model, stream=stream)),
            direct[reached],
            router,
        )
        for name, (surface, model, reached) in variants.items()
    }


async def measure(upstream: int, router: int, *, rounds: int) -> list[dict[str, Any]]:
    """Concurrency 1, every variant and baseline alternating in blocks of 25; JSON, then SSE."""
    rows = []
    for mode, stream in (("json", False), ("stream", True)):
        variants = _variants(upstream, router, stream=stream)
        routed = {name: Samples() for name in variants}
        direct = {name: Samples() for name in variants}
        for routed_request, direct_request, _ in variants.values():  # warm both paths
            await run_load(router, routed_request, concurrency=2, duration_s=0.3)
            await run_load(upstream, direct_request, concurrency=2, duration_s=0.3)
        for _ in range(rounds):
            for name, (routed_request, direct_request, port) in variants.items():
                routed[name].add(
                    await run_load(
                        port, routed_request, concurrency=1, duration_s=60, limit_per_worker=25
                    )
                )
                direct[name].add(
                    await run_load(
                        upstream, direct_request, concurrency=1, duration_s=60, limit_per_worker=25
                    )
                )
        chat_added = _added(routed["chat"], direct["chat"])
        for name in variants:
            added = _added(routed[name], direct[name])
            ours, theirs = (
                percentiles_ms(routed[name].latencies),
                percentiles_ms(direct[name].latencies),
            )
            rows.append(
                {
                    "bench": "surfaces",
                    "mode": mode,
                    "variant": name,
                    "requests": len(routed[name].latencies),
                    "direct_p50_ms": round(theirs["p50_ms"], 3),
                    "routed_p50_ms": round(ours["p50_ms"], 3),
                    "added_p50_ms": round(added[0], 3),
                    "added_p99_ms": round(added[1], 3),
                    "vs_chat_p50_ms": round(added[0] - chat_added[0], 3),
                    "errors": routed[name].errors + direct[name].errors,
                    "statuses": sorted(routed[name].statuses),
                }
            )
    return rows


def _added(routed: Samples, direct: Samples) -> tuple[float, float]:
    ours, theirs = percentiles_ms(routed.latencies), percentiles_ms(direct.latencies)
    return ours["p50_ms"] - theirs["p50_ms"], ours["p99_ms"] - theirs["p99_ms"]


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'mode':<7}{'variant':<22}{'direct p50':>11}{'routed p50':>11}{'added p50':>10}"
        f"{'added p99':>10}{'vs chat':>9}{'errors':>7}"
    )
    lines = [head, "-" * len(head)]
    lines += [
        f"{r['mode']:<7}{r['variant']:<22}{r['direct_p50_ms']:>11.3f}{r['routed_p50_ms']:>11.3f}"
        f"{r['added_p50_ms']:>10.3f}{r['added_p99_ms']:>10.3f}{r['vs_chat_p50_ms']:>9.3f}"
        f"{r['errors']:>7}"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="blocks of 25 requests per variant")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    with router_over_fake_upstream(CONFIG) as (upstream, router):
        rows = asyncio.run(measure(upstream, router, rounds=rounds))
    meta = machine()
    for row in rows:
        row.update(meta)
    path = emit("surfaces", rows)
    print(_table(rows))
    print(f"\n{meta}\nrows appended to {path}")


if __name__ == "__main__":
    main()
