"""The whole routing decision through the semantic tier: in-process and over HTTP.

An index is rebuilt from CLINC150's train split (151 routes, 15,100 exemplars) twice, as
``turnout index rebuild`` builds it: with ``use-m3`` (frozen) and with ``e5-small`` tuned on the
routes (`SETUPS`); the router is built by the same functions as the app's lifespan. Measured
for each, over CLINC150 test prompts: the decision's p50/p99 at 1 caller and at 32 concurrent
callers (with decisions per second), and at 1 caller over distinct longer prompts (MMLU-Pro,
GSM8K and MT-Bench texts of 48 to 64 and of 200 to 256 tokens, as the setup's tokenizer counts
them). For the tuned setup also over HTTP, ``POST /v1/route`` minus ``GET /healthz`` on a served
``turnout serve`` at concurrency 1, and the in-process levels once more with the other layout
of the encoder on two cores (two workers of one thread each against one worker of two threads;
the default config's is the first), so the default stays a measured choice.

    .venv/bin/python -m benchmarks.decision [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any, Final

from benchmarks.common import (
    HOME,
    chat_body,
    decide_all,
    emit,
    free_port,
    machine,
    open_router,
    percentiles_ms,
    route_set_config,
    serve,
)
from benchmarks.data import load_rows
from benchmarks.loadgen import run_load
from turnout.config import parse_settings
from turnout.routing.encoder import OnnxEmbedder
from turnout.training.exemplars import load_exemplars
from turnout.training.index import rebuild

# (encoder_workers, encoder_threads) on two cores
LAYOUTS: Final = ((1, 2), (2, 1))
SETUPS: Final = (("use-m3", "use-m3", False), ("e5-small tuned", "e5-small", True))
LENGTHS: Final = ((48, 64), (200, 256))


def _config(index: Path, routes: list[str], layout: tuple[int, int] | None = None) -> str:
    workers = f", encoder_workers: {layout[0]}, encoder_threads: {layout[1]}" if layout else ""
    return route_set_config(f"index: {index}{workers}", routes, "general")


async def in_process(config: str, prompts: list[str]) -> list[dict[str, Any]]:
    """Decisions at 1 and at 32 callers, each on its own half of ``prompts`` (so the decision
    cache never answers from the other level), with each tier's own time at 1 caller."""
    settings = parse_settings(config.encode(), {})
    router = await open_router(settings)
    bodies = [chat_body(prompt) for prompt in prompts]
    for body in bodies[-50:]:
        await router.route(body)
    half = (len(bodies) - 50) // 2
    rows = []
    for concurrency, share in ((1, bodies[:half]), (32, bodies[half : 2 * half])):
        samples, timings, wall = await decide_all(router, share, concurrency)
        tiers: dict[str, list[float]] = {}
        for decision in timings:
            for tier, ms in decision.items():
                tiers.setdefault(tier, []).append(ms / 1000)
        rows.append(
            {
                "kind": "in_process",
                "concurrency": concurrency,
                "decisions": len(samples),
                "per_s": round(len(samples) / wall, 1),
                **percentiles_ms(samples),
                "tiers": {tier: percentiles_ms(times) for tier, times in tiers.items()},
            }
        )
    return rows


async def over_http(port: int, prompts: list[str]) -> dict[str, Any]:
    route_times: list[float] = []
    health_times: list[float] = []
    health = f"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode()
    for prompt in prompts:
        body = chat_body(prompt)
        head = (
            f"POST /v1/route HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        routed = await run_load(
            port, head.encode() + body, concurrency=1, duration_s=5, limit_per_worker=1
        )
        healthy = await run_load(port, health, concurrency=1, duration_s=5, limit_per_worker=1)
        route_times += routed.latencies
        health_times += healthy.latencies
    route, health_ms = percentiles_ms(route_times), percentiles_ms(health_times)
    return {
        "kind": "http",
        "concurrency": 1,
        "route": route,
        "healthz": health_ms,
        "decision_p50_ms": round(route["p50_ms"] - health_ms["p50_ms"], 3),
        "decision_p99_ms": round(route["p99_ms"] - health_ms["p99_ms"], 3),
    }


async def by_length(config: str, prompts: list[str]) -> dict[str, Any]:
    """Each of ``prompts`` (distinct, so the decision cache never answers) routed once."""
    router = await open_router(parse_settings(config.encode(), {}))
    bodies = [chat_body(prompt) for prompt in prompts]
    for body in bodies[:10]:
        await router.route(body)
    samples, _, _ = await decide_all(router, bodies[10:], 1)
    return percentiles_ms(samples)


def long_prompts(encoder: OnnxEmbedder, low: int, high: int, count: int) -> list[str]:
    """Distinct dataset texts of ``low`` to ``high`` tokens, as ``encoder`` counts them."""
    pool = [r["text"] for name in ("mmlu_pro", "gsm8k", "mt_bench") for r in load_rows(name)]
    found = []
    for text, ids in zip(pool, encoder.tokenizer.ids(pool), strict=True):
        if low <= len(ids) <= high:
            found.append(text)
            if len(found) == count:
                break
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = load_rows("clinc150")
    train = [row for row in rows if row["split"] == "train"]
    prompts = [row["text"] for row in rows if row["split"] == "test"][: 300 if args.quick else 2300]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        exemplars = Path(folder) / "exemplars.jsonl"
        exemplars.write_text(
            "".join(json.dumps({"text": r["text"], "route": r["label"]}) + "\n" for r in train)
        )
        found = load_exemplars(exemplars)
        for name, encoder, tune in SETUPS:
            index = Path(folder) / encoder
            embedder = OnnxEmbedder(HOME.encoder(encoder), threads=2, max_tokens=256)
            rebuild(found, index, embedder, tune=tune)
            config = _config(index, list(found.routes))
            routing = parse_settings(config.encode(), {}).routing
            default = (routing.encoder_workers, routing.encoder_threads)
            # The tuned setup's encoder in the other layout too, so the default stays measured.
            layouts = [default, *(other for other in LAYOUTS if tune and other != default)]
            for layout in layouts:
                kind = {} if layout == default else {"kind": "layout"}
                place = {"encoder_workers": layout[0], "encoder_threads": layout[1]}
                config_of = _config(index, list(found.routes), layout)
                for row in asyncio.run(in_process(config_of, prompts)):
                    results.append({"setup": name, **row, **kind, **place})
            count = 60 if args.quick else 300
            for low, high in LENGTHS:
                chosen = long_prompts(embedder, low, high, count)
                timing = asyncio.run(by_length(config, chosen))
                results.append(
                    {
                        "setup": name,
                        "kind": "by_length",
                        "tokens": f"{low}-{high}",
                        "decisions": len(chosen) - 10,
                        **timing,
                    }
                )
            if tune:
                (Path(folder) / "turnout.yaml").write_text(config)
                port = free_port()
                argv = [
                    "-m",
                    "turnout",
                    "serve",
                    "--config",
                    f"{folder}/turnout.yaml",
                    "--port",
                    str(port),
                ]
                with serve(argv, f"http://127.0.0.1:{port}/healthz", env={}):
                    results.append({"setup": name, **asyncio.run(over_http(port, prompts[:1000]))})
    meta = {"bench": "decision", "routes": len(found.routes), "exemplars": len(train), **machine()}
    emit("decision", [{**meta, **row} for row in results])
    for row in results:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
