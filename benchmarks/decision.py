"""The whole routing decision through the semantic tier: in-process and over HTTP.

Two route sets, each built by every setup (`SETUPS`) as ``turnout index rebuild`` builds it:
``use-m3`` (frozen), ``e5-small`` tuned on the routes, and ``e5-small`` tuned and screened by
``use-m3`` (`turnout.training.screen`). The route sets: CLINC150's train split (151 routes,
15,100 exemplars), its test prompts routed; and the default taxonomy's exemplars, both its
held-out sets routed (the prompts a screen meets in the default config). The router is built
by the same functions as the app's lifespan. Measured for each: the decision's p50/p99 at 1
caller and at 32 concurrent callers (with decisions per second and, screened, the share the
screen decided alone, and the accuracy: in scope, on CLINC150), and at 1 caller over distinct
longer prompts (MMLU-Pro, GSM8K and MT-Bench texts of 48 to 64 and of 200 to 256 tokens, as the
setup's tokenizer counts them). Screened, 32 callers once more with ``screen_when_busy`` off,
and decisions arriving at fixed rates (`RATES`, open loop) with it on and off, so the screen's
busy bar is a measured trade of accuracy for speed under load.
For the tuned setup on CLINC150 also over HTTP, ``POST /v1/route`` minus ``GET /healthz`` on
a served ``turnout serve`` at concurrency 1, and the in-process levels once more with the
other layout of the encoder on two cores (two workers of one thread each against one worker
of two threads; the default config's is the first), so the default stays a measured choice.

    .venv/bin/python -m benchmarks.decision [--quick] [--only clinc150|taxonomy] [--setup NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from benchmarks.accuracy import HELDOUT2, OUT_OF_SCOPE, Setup, encoders, slug
from benchmarks.common import (
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
from benchmarks.taxonomy import HELDOUT, heldout_rows
from turnout.config import default_exemplars, parse_settings
from turnout.training.exemplars import ExemplarSet, load_exemplars
from turnout.training.index import rebuild

if TYPE_CHECKING:
    from turnout.flow.router import Router
    from turnout.routing.encoder import OnnxEmbedder

# (encoder_workers, encoder_threads) on two cores
LAYOUTS: Final = ((1, 2), (2, 1))
PLACES: Final = ("encoder_workers", "encoder_threads")
# (name, encoder, tuned, the encoder that screens it or None)
SETUPS: Final = (
    ("use-m3", "use-m3", False, None),
    ("e5-small tuned", "e5-small", True, None),
    ("e5-small tuned, screened by use-m3", "e5-small", True, "use-m3"),
)
LENGTHS: Final = ((48, 64), (200, 256))
RATES: Final = (300, 450)
"""Fixed arrival rates (decisions per second) a screened build is measured at, open loop."""


def _config(
    index: Path, routes: list[str], layout: tuple[int, int] | None = None, *, when_busy: bool = True
) -> str:
    workers = f", encoder_workers: {layout[0]}, encoder_threads: {layout[1]}" if layout else ""
    busy = "" if when_busy else ", screen_when_busy: false"
    return route_set_config(f"index: {index}{workers}{busy}", routes, "general")


async def _warmed(config: str, bodies: list[bytes]) -> Router:
    """``config``'s router, warmed on the last 50 of ``bodies`` (which are then not measured)."""
    router = await open_router(parse_settings(config.encode(), {}))
    for body in bodies[-50:]:
        await router.route(body)
    return router


async def in_process(
    config: str, prompts: list[tuple[str, str]], *, levels: tuple[int, ...] = (1, 32)
) -> list[dict[str, Any]]:
    """Decisions at 1 and at 32 callers, each on its own half of ``prompts`` (text, route; so
    the decision cache never answers from the other level), with each tier's own time and the
    accuracy: of the prompts whose route is not `OUT_OF_SCOPE`, the share routed there."""
    bodies = [chat_body(prompt) for prompt, _ in prompts]
    router = await _warmed(config, bodies)
    half = (len(bodies) - 50) // 2
    rows = []
    for concurrency, start in ((1, 0), (32, half)):
        if concurrency not in levels:
            continue
        samples, decisions, wall = await decide_all(
            router, bodies[start : start + half], concurrency
        )
        tiers: dict[str, list[float]] = {}
        for decision in decisions:
            for tier, ms in decision.timings_ms.items():
                tiers.setdefault(tier, []).append(ms / 1000)
        scored = [
            (decision.route, route)
            for decision, (_, route) in zip(decisions, prompts[start : start + half], strict=True)
            if route != OUT_OF_SCOPE
        ]
        rows.append(
            {
                "kind": "in_process",
                "concurrency": concurrency,
                "decisions": len(samples),
                "per_s": round(len(samples) / wall, 1),
                **percentiles_ms(samples),
                "accuracy": round(sum(got == want for got, want in scored) / len(scored), 4),
                "tiers": {tier: percentiles_ms(times) for tier, times in tiers.items()},
                "screen_decided": screen_decided([d.timings_ms for d in decisions]),
            }
        )
    return rows


async def at_rate(config: str, prompts: list[tuple[str, str]], rate: int) -> dict[str, Any]:
    """Decisions arriving at ``rate`` a second whether or not earlier ones are done (open loop).

    Each decision's time counts from when it was due, so a lagging event loop is counted too.
    """
    bodies = [chat_body(prompt) for prompt, _ in prompts]
    router = await _warmed(config, bodies)
    bodies = bodies[: min(len(bodies) - 50, 4 * rate)]
    samples: list[float] = []

    async def arrive(body: bytes, due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await router.route(body)
        samples.append(time.perf_counter() - due)

    start = time.perf_counter() + 0.05
    await asyncio.gather(*(arrive(body, start + i / rate) for i, body in enumerate(bodies)))
    return {"kind": "at_rate", "rate": rate, "decisions": len(samples), **percentiles_ms(samples)}


def screen_decided(timings: list[dict[str, float]]) -> float | None:
    """Of decisions a screened build made, the share its screen made alone; None unscreened."""
    screened = [t for t in timings if "semantic.screen" in t]
    if not screened:
        return None
    return round(sum("semantic.encoder" not in t for t in screened) / len(screened), 3)


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
    samples, decisions, _ = await decide_all(router, bodies[10:], 1)
    timings = [decision.timings_ms for decision in decisions]
    return percentiles_ms(samples) | {"screen_decided": screen_decided(timings)}


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


def route_sets(quick: bool) -> list[tuple[str, list[dict[str, str]], list[tuple[str, str]]]]:
    """Each route set's exemplars (text, route) and the prompts (text, route) routed over it."""
    rows = load_rows("clinc150")
    train = [{"text": r["text"], "route": r["label"]} for r in rows if r["split"] == "train"]
    test = [(r["text"], r["label"]) for r in rows if r["split"] == "test"][: 300 if quick else 2300]
    taxonomy = [
        {"text": e.text, "route": e.route} for e in load_exemplars(default_exemplars()).exemplars
    ]
    heldout = [
        (r["text"], r["route"]) for folder in (HELDOUT, HELDOUT2) for r in heldout_rows(folder)
    ]
    return [("clinc150", train, test), ("taxonomy", taxonomy, heldout[: 300 if quick else None])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("clinc150", "taxonomy"), help="one route set")
    parser.add_argument("--setup", choices=[s[0] for s in SETUPS], action="append")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        for route_set, train, prompts in route_sets(args.quick):
            if args.only not in (None, route_set):
                continue
            exemplars = Path(folder) / f"{route_set}.jsonl"
            exemplars.write_text("".join(json.dumps(row) + "\n" for row in train))
            found = load_exemplars(exemplars)
            for setup in SETUPS:
                if args.setup and setup[0] not in args.setup:
                    continue
                rows = measure(setup, found, Path(folder) / route_set, prompts, quick=args.quick)
                results += [{"route_set": route_set, "exemplars": len(train), **r} for r in rows]
                # The layouts and HTTP once, on CLINC150.
                if route_set == "clinc150" and setup[2] and setup[3] is None:
                    results += [
                        {"route_set": route_set, "exemplars": len(train), **r}
                        for r in extra(setup[0], found, Path(folder) / route_set, prompts)
                    ]
    emit("decision", [{"bench": "decision", **machine(), **row} for row in results])
    for row in results:
        print(json.dumps(row))


def measure(
    setup: Setup,
    found: ExemplarSet,
    folder: Path,
    prompts: list[tuple[str, str]],
    *,
    quick: bool,
) -> list[dict[str, Any]]:
    """One setup's build of ``found``: in-process at 1 and 32 callers, and by prompt length.

    Screened, at 32 callers also with ``screen_when_busy`` off: the screen keeps its bar.
    """
    name, _, tune, screen = setup
    index = folder / slug(name)
    embedder, screener = encoders(setup)
    rebuild(found, index, embedder, tune=tune, screen=screener)
    config = _config(index, list(found.routes))
    results = [
        {"setup": name, "routes": len(found.routes), **row}
        for row in asyncio.run(in_process(config, prompts))
    ]
    if screen is not None:
        unbusy = _config(index, list(found.routes), when_busy=False)
        results += [
            {"setup": name, "routes": len(found.routes), "screen_when_busy": False, **row}
            for row in asyncio.run(in_process(unbusy, prompts, levels=(32,)))
        ]
        for rate in RATES:
            for when_busy, serving in ((True, config), (False, unbusy)):
                row = asyncio.run(at_rate(serving, prompts, rate))
                results.append({"setup": name, "screen_when_busy": when_busy, **row})
    count = 60 if quick else 300
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
    return results


def extra(
    name: str, found: ExemplarSet, folder: Path, prompts: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The tuned build (as `measure` built it) in the encoder's other layout, and over HTTP."""
    index = folder / slug(name)
    config = _config(index, list(found.routes))
    routing = parse_settings(config.encode(), {}).routing
    default = (routing.encoder_workers, routing.encoder_threads)
    results: list[dict[str, Any]] = [
        {"setup": name, **row, "kind": "layout", **dict(zip(PLACES, layout, strict=True))}
        for layout in LAYOUTS
        if layout != default
        for row in asyncio.run(in_process(_config(index, list(found.routes), layout), prompts))
    ]
    (folder / "turnout.yaml").write_text(config)
    port = free_port()
    argv = ["-m", "turnout", "serve", "--config", f"{folder}/turnout.yaml", "--port", str(port)]
    with serve(argv, f"http://127.0.0.1:{port}/healthz", env={}):
        texts = [text for text, _ in prompts[:1000]]
        results.append({"setup": name, **asyncio.run(over_http(port, texts))})
    return results


if __name__ == "__main__":
    main()
