"""kNN search latency and recall against index size: exact (flat) and HNSW, one thread.

Vectors are real ``use-m3`` embeddings of prompts from ``../shared/data``, extended to the
larger sizes by jittered copies (Gaussian noise, renormalised), so the neighbourhoods keep the
structure of real text. Queries are held-out prompts. Reports p50/p99 per query (batch 1, k 10)
and HNSW's recall@10 against exact search; the crossing of exact search over 0.5 ms sets
`service.routing.knn.EXACT_LIMIT`.

    .venv/bin/python -m benchmarks.knn [--quick]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import faiss
import numpy as np

from benchmarks.common import emit, machine, time_each
from benchmarks.data import load_rows
from service.routing.encoder import DEFAULT_ENCODER_DIR, OnnxEmbedder
from service.routing.knn import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M


def corpus(count: int, queries: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    texts = [r["text"] for r in load_rows("clinc150")]
    texts += [r["text"] for r in load_rows("snips")]
    texts += [r["text"] for r in load_rows("xquad_questions")]
    order = np.random.default_rng(0).permutation(len(texts))
    picked = [texts[i] for i in order[: count + queries]]
    embedder = OnnxEmbedder(DEFAULT_ENCODER_DIR, threads=2, max_tokens=64)
    vectors = np.concatenate(
        [embedder.embed(picked[i : i + 64]) for i in range(0, len(picked), 64)]
    )
    return vectors[queries:], vectors[:queries]


def grow(base: np.ndarray[Any, Any], size: int, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    if size <= len(base):
        return base[:size]
    extra = base[rng.integers(0, len(base), size - len(base))]
    extra = extra + rng.normal(0, 0.02, extra.shape).astype(np.float32)
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    return np.concatenate([base, extra]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    sizes = (1_000, 5_000, 10_000) if args.quick else (1_000, 5_000, 10_000, 20_000, 100_000)
    base, queries = corpus(20_000 if not args.quick else 10_000, 300)
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    for size in sizes:
        vectors = grow(base, size, rng)
        flat = faiss.IndexFlatIP(vectors.shape[1])
        flat.add(vectors)
        hnsw = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        started = time.perf_counter()
        hnsw.add(vectors)
        build_s = time.perf_counter() - started
        hnsw.hnsw.efSearch = HNSW_EF_SEARCH
        singles = [queries[i : i + 1] for i in range(len(queries))]
        exact = flat.search(queries, 10)[1]
        approx = hnsw.search(queries, 10)[1]
        recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
        rows.append(
            {
                "size": size,
                "flat": time_each(lambda q: flat.search(q, 10), singles),  # noqa: B023 - called at once
                "hnsw": time_each(lambda q: hnsw.search(q, 10), singles),  # noqa: B023 - called at once
                "hnsw_recall_at_10": round(float(recall), 4),
                "hnsw_build_s": round(build_s, 2),
            }
        )
    meta = {"bench": "knn", "dim": int(base.shape[1]), **machine()}
    emit("knn", [{**meta, **row} for row in rows])
    head = f"{'vectors':>9}{'flat p50':>10}{'flat p99':>10}{'hnsw p50':>10}{'hnsw p99':>10}"
    print(f"{head}{'recall@10':>11}")
    for row in rows:
        print(
            f"{row['size']:>9}{row['flat']['p50_ms']:>10.3f}{row['flat']['p99_ms']:>10.3f}"
            f"{row['hnsw']['p50_ms']:>10.3f}{row['hnsw']['p99_ms']:>10.3f}"
            f"{row['hnsw_recall_at_10']:>11.3f}"
        )


if __name__ == "__main__":
    main()
