"""Runs aurelio's ``semantic-router`` on turnout's encoder; started by `benchmarks.peers`.

This file runs under the peer's own interpreter (``.peers/semantic-router/bin/python``), with
the repository root on ``PYTHONPATH`` so that it can load turnout's ONNX encoder
(`turnout.routing.encoder` needs only numpy, onnxruntime and ``tokenizers``, which
``scripts/peers`` installs beside the peer at turnout's versions). Both routers then embed with
the same weights, the same runtime and the same thread count, and differ only in how they
decide.

It reads a JSON job from stdin: ``encoder`` (a build folder), ``threads``, ``max_tokens``,
``routes`` (route name to utterances) and ``queries``. It builds an ``IndexedRouter`` over a
``LocalIndex`` with the library's defaults (5 nearest utterances, mean score per route), routes
each query once, in order, one call at a time, as an application would, and writes JSON to
stdout: the library's version, seconds to build the index, and per query the top route, its
score and the call's duration.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr
from semantic_router import Route, __version__
from semantic_router.encoders import DenseEncoder
from semantic_router.routers import IndexedRouter

from turnout.routing.encoder import OnnxEmbedder

BATCH = 32
WARM_UP = 20


class TurnoutEncoder(DenseEncoder):  # type: ignore[misc]  # the peer's untyped base
    """semantic-router's encoder interface over turnout's ONNX encoder."""

    name: str = "turnout-onnx"
    _embedder: Any = PrivateAttr()

    def __init__(self, folder: str, threads: int, max_tokens: int) -> None:
        super().__init__()
        self._embedder = OnnxEmbedder(Path(folder), threads=threads, max_tokens=max_tokens)

    def __call__(self, docs: list[Any]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(docs), BATCH):
            out += self._embedder.embed([str(doc) for doc in docs[start : start + BATCH]]).tolist()
        return out


def main() -> None:
    job = json.load(sys.stdin)
    encoder = TurnoutEncoder(job["encoder"], job["threads"], job["max_tokens"])
    started = time.perf_counter()
    routes = [Route(name=name, utterances=texts) for name, texts in job["routes"].items()]
    router = IndexedRouter(encoder=encoder, routes=routes)
    index_s = time.perf_counter() - started
    for query in job["queries"][:WARM_UP]:
        router(query)
    decisions = []
    for query in job["queries"]:
        started = time.perf_counter()
        choice = router(query)
        took = time.perf_counter() - started
        decisions.append([choice.name, choice.confidence, took])
    json.dump({"version": __version__, "index_s": index_s, "decisions": decisions}, sys.stdout)


if __name__ == "__main__":
    main()
