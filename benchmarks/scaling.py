"""How turnout's costs grow with the work: prompt length, index size, concurrency.

- **Prompt length.** The default config's router (rules, then the semantic tier over the
  default index that ``turnout setup`` builds), built by the same functions as the app's
  lifespan, decides prompts of 16 to 2,048 ``use-m3`` tokens, cut from MMLU-Pro questions
  joined together. p50/p99 of the whole decision and of the semantic tier. The encoder keeps
  head and tail within ``routing.max_tokens`` (256 by default), so the cost should stop
  growing past it.
- **Index size.** `turnout.routing.knn.build_index`, the index the service builds (exact search
  up to 4,096 vectors, HNSW beyond), over real ``use-m3`` embeddings grown by jittered copies
  (`benchmarks.knn.grow`), 1k to 1M vectors: search p50/p99 (batch 1, k 10, one thread),
  seconds to build (on every core, as ``turnout index rebuild`` builds), and the index's size
  serialized, which is what it holds in memory (the
  vectors, and HNSW's links).
- **Concurrency.** The same router, 1 to 64 concurrent callers in one event loop, each level on
  its own CLINC150 test prompts (so the decision cache never answers from an earlier level):
  decisions per second and p50/p99.

    .venv/bin/python -m benchmarks.scaling [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np
from tokenizers import Tokenizer

from benchmarks.common import (
    HOME,
    chat_body,
    decide_all,
    default_index,
    emit,
    machine,
    open_router,
    percentiles_ms,
)
from benchmarks.data import load_rows
from benchmarks.knn import corpus, grow
from turnout.config import load_settings
from turnout.routing.knn import build_index

if TYPE_CHECKING:
    from collections.abc import Callable

    from turnout.flow.router import Router

LENGTHS = (16, 64, 256, 512, 1024, 2048)
SIZES = (1_000, 10_000, 100_000, 1_000_000)
CONCURRENCY = (1, 2, 4, 8, 16, 32, 64)


async def _router() -> Router:
    settings = load_settings(None, {})
    return await open_router(settings)


def prompts_of(tokens: int, count: int, pool: list[str], tokenizer: Tokenizer) -> list[str]:
    """``count`` distinct prompts of exactly ``tokens`` tokens, cut from texts of ``pool``."""
    out: list[str] = []
    cursor = 0
    while len(out) < count:
        text = ""
        while len(tokenizer.encode(text, add_special_tokens=False).ids) < tokens:
            text += pool[cursor % len(pool)] + "\n\n"
            cursor += 1
        offsets = tokenizer.encode(text, add_special_tokens=False).offsets
        out.append(text[: offsets[tokens - 1][1]])
    return out


async def by_length(count: int) -> list[dict[str, Any]]:
    pool = [row["text"] for row in load_rows("mmlu_pro")]
    tokenizer = Tokenizer.from_file(str(HOME.encoder() / "tokenizer.json"))
    router = await _router()
    for text in prompts_of(64, 20, pool[::-1], tokenizer):
        await router.route(chat_body(text))
    rows = []
    for tokens in LENGTHS:
        whole, semantic = [], []
        for text in prompts_of(tokens, count, pool, tokenizer):
            body = chat_body(text)
            started = time.perf_counter()
            routed = await router.route(body)
            whole.append(time.perf_counter() - started)
            if "semantic" in routed.decision.timings_ms:  # not when a rule decided
                semantic.append(routed.decision.timings_ms["semantic"] / 1000)
        rows.append(
            {
                "case": "prompt_length",
                "tokens": tokens,
                "prompts": count,
                "decision": percentiles_ms(whole),
                "semantic": percentiles_ms(semantic),
            }
        )
        pool = pool[count * 4 :] + pool[: count * 4]  # fresh texts for the next length
    return rows


def by_size(sizes: tuple[int, ...], queries: int) -> list[dict[str, Any]]:
    cores = faiss.omp_get_max_threads()
    base, probes = corpus(20_000, queries)
    rng = np.random.default_rng(0)
    rows = []
    for size in sizes:
        vectors = grow(base, size, rng)
        faiss.omp_set_num_threads(cores)  # as `turnout index rebuild` builds
        started = time.perf_counter()
        index = build_index(vectors)
        build_s = time.perf_counter() - started
        faiss.omp_set_num_threads(1)  # a query is searched on one thread
        samples = []
        for i in range(len(probes)):
            began = time.perf_counter()
            index.search(probes[i : i + 1], 10)
            samples.append(time.perf_counter() - began)
        rows.append(
            {
                "case": "index_size",
                "vectors": size,
                "index": type(index).__name__,
                "build_s": round(build_s, 2),
                "index_mb": round(len(faiss.serialize_index(index)) / 2**20, 1),
                "vectors_mb": round(vectors.nbytes / 2**20, 1),
                **percentiles_ms(samples),
            }
        )
        del index, vectors
    return rows


async def by_concurrency(per_level: int) -> list[dict[str, Any]]:
    texts = [row["text"] for row in load_rows("clinc150", split="test")]
    router = await _router()
    for text in texts[-50:]:
        await router.route(chat_body(text))
    rows = []
    for level, concurrency in enumerate(CONCURRENCY):
        bodies = [chat_body(t) for t in texts[level * per_level : (level + 1) * per_level]]
        samples, _, wall = await decide_all(router, bodies, concurrency)
        rows.append(
            {
                "case": "concurrency",
                "concurrency": concurrency,
                "decisions": len(samples),
                "per_s": round(len(samples) / wall, 1),
                **percentiles_ms(samples),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small samples, up to 100k vectors")
    args = parser.parse_args()
    meta = {"bench": "scaling", **machine(index=default_index())}
    parts: tuple[Callable[[], list[dict[str, Any]]], ...] = (
        lambda: asyncio.run(by_length(20 if args.quick else 200)),
        lambda: asyncio.run(by_concurrency(100 if args.quick else 700)),
        lambda: by_size(SIZES[:2] if args.quick else SIZES, 100 if args.quick else 500),
    )
    for part in parts:  # each part's rows are kept as soon as it ends
        rows = part()
        emit("scaling", [{**meta, **row} for row in rows])
        for row in rows:
            print(row, flush=True)


if __name__ == "__main__":
    main()
