"""Nearest exemplars with FAISS, and similarity-weighted route votes.

Exact inner-product search while it stays fast, HNSW beyond: ``benchmarks/knn.py`` measured
exact search over 512 dimensions at 0.07 ms per query for 1k vectors and 0.56 ms for 5k on this
project's 2-core machine (HNSW: 0.13 ms at 5k, recall@10 0.998; an earlier state of the machine
crossed 0.5 ms only near 10k), so indexes past 4,096 vectors use HNSW (M 32, efConstruction 128,
efSearch 64). The same
benchmark gives recall@10 and latency at efSearch 32, 64 and 128: from 10k to 100k vectors, 64
kept 98.3 to 99.6% of the exact neighbours in about half the time of 128. IVF (4·√n lists, 16
probed) found only 96-97% of them, and was faster only up to about 20k vectors; HNSW stays
under a millisecond at a million vectors (``benchmarks/scaling.py``), which takes minutes to
build.
Vectors are unit length, so inner product is cosine similarity.

The fused route score (`fuse`) is the mean of the vote shares and the classifier's
probabilities, scaled by the nearest exemplar's similarity squared. Shares and probabilities are
relative: a prompt unlike every exemplar can still give one route all the votes and most of the
probability. The nearest similarity says how familiar the prompt is, so a threshold on the fused
score rejects it. On CLINC150 (``benchmarks/classifier.py``), the fused decision's in-scope
accuracy at test out-of-scope recall 0.8 rose from 0.879 to 0.916 with the square. The square
was chosen on the val split, where it gave 0.928 against 0.924 for the similarity itself (0.909
on test; a script outside ``benchmarks/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import faiss
import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

EXACT_LIMIT: Final = 4096
HNSW_M: Final = 32
HNSW_EF_CONSTRUCTION: Final = 128
HNSW_EF_SEARCH: Final = 64
FAMILIARITY_POWER: Final = 2


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The ``k`` nearest exemplars of each query: ``(n, k)`` similarities and exemplar ids."""

    similarities: npt.NDArray[np.float32]
    ids: npt.NDArray[np.int64]


def build_index(vectors: npt.NDArray[np.float32], *, exact: bool = False) -> faiss.Index:
    """An index over unit vectors ``(n, dim)``: exact up to `EXACT_LIMIT` rows, HNSW beyond.

    ``exact`` forces exact search, e.g. for one large batch of evaluation queries.
    """
    dim = vectors.shape[1]
    index: faiss.Index
    if exact or len(vectors) <= EXACT_LIMIT:
        index = faiss.IndexFlatIP(dim)
    else:
        hnsw = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        hnsw.hnsw.efSearch = HNSW_EF_SEARCH
        index = hnsw
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


class KnnRouter:
    """Votes for routes by the similarity of each query's nearest exemplars."""

    def __init__(
        self, index: faiss.Index, labels: npt.NDArray[np.int64], routes: tuple[str, ...]
    ) -> None:
        """``labels[i]`` is the route (an index into ``routes``) of exemplar ``i``."""
        self.index = index
        self.labels = labels
        self.routes = routes

    def neighbours(self, queries: npt.NDArray[np.float32], k: int) -> Neighbours:
        """The ``k`` nearest exemplars of each query ``(n, dim)``; missing slots have id -1."""
        similarities, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return Neighbours(similarities, ids)

    def votes(self, found: Neighbours) -> npt.NDArray[np.float32]:
        """Each route's share of the neighbours' positive similarity, ``(n, routes)``."""
        n, k = found.ids.shape
        votes = np.zeros((n, len(self.routes)), dtype=np.float32)
        valid = found.ids >= 0
        rows = np.repeat(np.arange(n), k).reshape(n, k)[valid]
        routes = self.labels[found.ids[valid]]
        np.add.at(votes, (rows, routes), np.maximum(found.similarities[valid], 0.0))
        totals = votes.sum(axis=1, keepdims=True)
        shares: npt.NDArray[np.float32] = np.divide(
            votes, totals, out=np.zeros_like(votes), where=totals > 0
        )
        return shares


def familiarity(found: Neighbours) -> npt.NDArray[np.float32]:
    """``(n, 1)``: the nearest similarity (at least 0) to the power `FAMILIARITY_POWER`."""
    nearest: npt.NDArray[np.float32] = (
        np.maximum(found.similarities[:, :1], 0.0) ** FAMILIARITY_POWER
    ).astype(np.float32)
    return nearest


def fuse(
    found: Neighbours, votes: npt.NDArray[np.float32], probabilities: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Fused route scores ``(n, routes)`` from kNN ``votes`` and classifier ``probabilities``.

    The mean of the two, times the prompt's `familiarity` (see the module's docstring); the
    best route is the same either way.
    """
    fused: npt.NDArray[np.float32] = np.multiply(votes + probabilities, familiarity(found) / 2)
    return fused
