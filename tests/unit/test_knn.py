"""kNN over exemplars: the right index kind by size, neighbours, and similarity-weighted votes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import faiss
import numpy as np

from tests.fakes.embedder import HashEmbedder
from turnout.routing.knn import EXACT_LIMIT, KnnRouter, Neighbours, build_index, fuse

if TYPE_CHECKING:
    import numpy.typing as npt


def unit_rows(count: int, dim: int, seed: int) -> npt.NDArray[np.float32]:
    rows = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    unit: npt.NDArray[np.float32] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit


def test_exact_index_up_to_the_limit_then_hnsw() -> None:
    assert isinstance(build_index(unit_rows(10, 8, 0)), faiss.IndexFlatIP)
    large = build_index(unit_rows(EXACT_LIMIT + 1, 8, 1))
    assert isinstance(large, faiss.IndexHNSWFlat)
    assert large.ntotal == EXACT_LIMIT + 1


def test_neighbours_and_votes_follow_similarity() -> None:
    embedder = HashEmbedder(64)
    texts = [
        "reverse a linked list in python",
        "sort a list in python quickly",
        "what is the weather in paris",
        "will it rain in paris tomorrow",
    ]
    labels = np.array([0, 0, 1, 1], dtype=np.int64)
    knn = KnnRouter(build_index(embedder.embed(texts)), labels, ("code", "weather"))
    query = embedder.embed(["reverse a list in python", "rain in paris"])
    found = knn.neighbours(query, 3)
    assert found.ids.shape == (2, 3)
    assert found.ids[0, 0] == 0
    assert found.ids[1, 0] in {2, 3}
    votes = knn.votes(found)
    np.testing.assert_allclose(votes.sum(axis=1), 1.0, rtol=1e-5)
    assert votes[0].argmax() == 0
    assert votes[1].argmax() == 1


def test_votes_ignore_missing_slots_and_negative_similarity() -> None:
    knn = KnnRouter(build_index(unit_rows(2, 4, 2)), np.array([0, 1]), ("a", "b"))
    found = Neighbours(
        np.array([[0.9, -0.5, 0.0]], dtype=np.float32), np.array([[1, 0, -1]], dtype=np.int64)
    )
    np.testing.assert_allclose(knn.votes(found), [[0.0, 1.0]])
    nothing = Neighbours(np.array([[-0.2]], dtype=np.float32), np.array([[0]], dtype=np.int64))
    np.testing.assert_allclose(knn.votes(nothing), [[0.0, 0.0]])


def test_fused_scores_fall_with_the_nearest_similarity() -> None:
    """Votes and probabilities alike, a prompt far from every exemplar is less sure."""
    votes = np.array([[0.9, 0.1], [0.9, 0.1]], dtype=np.float32)
    probabilities = np.array([[0.7, 0.3], [0.7, 0.3]], dtype=np.float32)
    ids = np.array([[0, 1], [0, 1]], dtype=np.int64)
    found = Neighbours(np.array([[0.9, 0.8], [0.5, 0.4]], dtype=np.float32), ids)
    fused = fuse(found, votes, probabilities)
    np.testing.assert_allclose(fused[0], [0.8 * 0.81, 0.2 * 0.81], rtol=1e-5)
    np.testing.assert_allclose(fused[1], [0.8 * 0.25, 0.2 * 0.25], rtol=1e-5)
    assert (fused.argmax(axis=1) == 0).all()
    opposite = Neighbours(np.array([[-0.3, -0.4]], dtype=np.float32), ids[:1])
    np.testing.assert_allclose(fuse(opposite, votes[:1], probabilities[:1]), [[0.0, 0.0]])
