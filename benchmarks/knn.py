"""kNN search latency and recall against index size: exact (flat), HNSW and IVF, one thread.

Vectors are real ``use-m3`` embeddings of prompts from ``../shared/data``, extended to the
larger sizes by jittered copies (Gaussian noise, renormalised), so the neighbourhoods keep the
structure of real text. Queries are held-out prompts. Reports p50/p99 per query (batch 1, k 10),
HNSW's recall@10 against exact search (at efSearch 32, 64 as served, and 128) and its build
time; the crossing of exact search over 0.5 ms sets `turnout.routing.knn.EXACT_LIMIT`. IVF
(``IndexIVFFlat``, 4·√n lists, 16 probed), the other approximate index FAISS offers without
compressing vectors, is measured beside HNSW from 10k vectors: recall, latency and build time
(training included), to back the choice of HNSW.

    .venv/bin/python -m benchmarks.knn [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import faiss
import numpy as np

from benchmarks.common import HOME, emit, machine, time_each
from benchmarks.data import load_rows
from turnout.routing.encoder import OnnxEmbedder
from turnout.routing.knn import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M


def corpus(count: int, queries: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    texts = [r["text"] for r in load_rows("clinc150")]
    texts += [r["text"] for r in load_rows("snips")]
    texts += [r["text"] for r in load_rows("xquad_questions")]
    order = np.random.default_rng(0).permutation(len(texts))
    picked = [texts[i] for i in order[: count + queries]]
    embedder = OnnxEmbedder(HOME.encoder(), threads=2, max_tokens=64)
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


def ivf(
    vectors: np.ndarray[Any, Any],
    queries: np.ndarray[Any, Any],
    exact: np.ndarray[Any, Any],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """IVF's latency, recall@10 against ``exact`` and build time, for comparison with HNSW."""
    lists = int(4 * np.sqrt(len(vectors)))
    index = faiss.IndexIVFFlat(
        faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], lists, faiss.METRIC_INNER_PRODUCT
    )
    started = time.perf_counter()
    index.train(vectors[rng.choice(len(vectors), min(len(vectors), 40 * lists), replace=False)])
    index.add(vectors)
    build_s = time.perf_counter() - started
    index.nprobe = 16
    found = index.search(queries, 10)[1]
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(found, exact, strict=True)])
    singles = [queries[i : i + 1] for i in range(len(queries))]
    return {
        "ivf": time_each(lambda q: index.search(q, 10), singles),
        "ivf_recall_at_10": round(float(recall), 4),
        "ivf_build_s": round(build_s, 2),
    }


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
        singles = [queries[i : i + 1] for i in range(len(queries))]
        exact = flat.search(queries, 10)[1]
        by_ef: dict[int, dict[str, float]] = {}
        for ef in (32, HNSW_EF_SEARCH, 128):
            hnsw.hnsw.efSearch = ef
            approx = hnsw.search(queries, 10)[1]
            found = [len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)]
            timing = time_each(lambda q: hnsw.search(q, 10), singles)  # noqa: B023 - called at once
            by_ef[ef] = {"recall_at_10": round(float(np.mean(found)), 4), **timing}
        hnsw.hnsw.efSearch = HNSW_EF_SEARCH
        rows.append(
            {
                "size": size,
                "flat": time_each(lambda q: flat.search(q, 10), singles),  # noqa: B023 - called at once
                "hnsw": {k: v for k, v in by_ef[HNSW_EF_SEARCH].items() if k != "recall_at_10"},
                "hnsw_recall_at_10": by_ef[HNSW_EF_SEARCH]["recall_at_10"],
                "hnsw_build_s": round(build_s, 2),
                "hnsw_by_ef_search": by_ef,
            }
            | (ivf(vectors, queries, exact, rng) if size >= 10_000 else {})
        )
    meta = {"bench": "knn", "dim": int(base.shape[1]), **machine()}
    emit("knn", [{**meta, **row} for row in rows])
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
