"""Encoder speed on this machine: batch-1 latency by prompt length, and throughput with batching.

Latency: p50/p99 of `OnnxEmbedder.embed([text])` (tokenize plus model) at 16, 64, 256 and 512
tokens, and over real prompts from ``../shared/data/clinc150`` (test split, all under 64
tokens), for 1 and 2 intra-op threads in the same run. Throughput: `MicroBatcher` under 1, 8
and 32 concurrent callers, against 1/latency of a lone request.

    .venv/bin/python -m benchmarks.encoder [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import anyio

from benchmarks.common import HOME, emit, machine, percentiles_ms, time_each
from benchmarks.data import load_rows
from turnout.routing.batcher import MicroBatcher
from turnout.routing.encoder import OnnxEmbedder

FILLER = (
    "Our service routes each request to the model that suits it best, and we measure "
    "how long the encoder takes for prompts of different lengths on two cores. "
) * 40


def text_of(embedder: OnnxEmbedder, tokens: int) -> str:
    """The longest run of filler words that tokenizes to at most ``tokens`` ids, all included."""
    words = FILLER.split()
    low, high = 1, len(words)
    while low < high:
        middle = (low + high + 1) // 2
        if len(embedder.tokenizer.ids([" ".join(words[:middle])])[0]) <= tokens:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low])


def latency(threads: int, prompts: list[str], repeats: int) -> list[dict[str, Any]]:
    embedder = OnnxEmbedder(HOME.encoder(), threads=threads, max_tokens=512)
    rows = []
    for tokens in (16, 64, 256, 512):
        text = text_of(embedder, tokens)
        for _ in range(10):
            embedder.embed([text])
        timing = time_each(embedder.embed, [[text]] * repeats)
        rows.append({"case": f"{tokens} tokens", "threads": threads, **timing})
    timing = time_each(embedder.embed, [[prompt] for prompt in prompts])
    rows.append({"case": "clinc150 test prompts", "threads": threads, **timing})
    return rows


async def _load(batcher: MicroBatcher, prompts: list[str], concurrency: int) -> dict[str, Any]:
    samples: list[float] = []
    cursor = iter(prompts)

    async def client() -> None:
        for prompt in cursor:
            started = time.perf_counter()
            await batcher.embed(prompt)
            samples.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(client)
    wall = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "per_s": round(len(samples) / wall, 1),
        "mean_batch": round(batcher.embedded / max(batcher.batches, 1), 2),
        **percentiles_ms(samples),
    }


def throughput(prompts: list[str]) -> list[dict[str, Any]]:
    rows = []
    for workers, threads in ((2, 1), (1, 2)):
        embedder = OnnxEmbedder(HOME.encoder(), threads=threads, max_tokens=256)
        for concurrency in (1, 8, 32):
            batcher = MicroBatcher(embedder, workers=workers, max_batch=32)
            result = anyio.run(_load, batcher, prompts, concurrency)
            rows.append({"workers": workers, "threads": threads, **result})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    rows = load_rows("clinc150", split="test")
    prompts = [row["text"] for row in rows][: 200 if args.quick else 1000]
    repeats = 30 if args.quick else 300
    meta = {"bench": "encoder", **machine()}
    lat = [row for threads in (1, 2) for row in latency(threads, prompts, repeats)]
    thr = throughput(prompts * (1 if args.quick else 3))
    emit("encoder", [{**meta, "kind": "latency", **row} for row in lat])
    emit("encoder", [{**meta, "kind": "throughput", **row} for row in thr])
    print(f"{'case':<24}{'threads':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for row in lat:
        print(f"{row['case']:<24}{row['threads']:>8}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}")
    lone = statistics.median(r["p50_ms"] for r in lat if r["case"].startswith("clinc"))
    head = f"{'workers x threads':<18}{'callers':>8}{'per s':>9}{'batch':>7}"
    print(f"\n{head}{'p50 ms':>9}{'p99 ms':>9}")
    for row in thr:
        print(
            f"{row['workers']} x {row['threads']:<14}{row['concurrency']:>8}{row['per_s']:>9.0f}"
            f"{row['mean_batch']:>7.1f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
        )
    print(f"\n1/latency of a lone real prompt: {1000 / lone:.0f}/s   {machine()}")


if __name__ == "__main__":
    main()
