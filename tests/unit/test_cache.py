"""The L1 decision cache: similarity threshold, TTL, capacity, scopes, and the opposites guard."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tests.fakes.embedder import HashEmbedder
from turnout.routing.cache import MemoryDecisionCache, polarity_terms
from turnout.routing.decision import RouteMatch, Tier

if TYPE_CHECKING:
    import numpy.typing as npt

MATCH = RouteMatch("security", Tier.SEMANTIC, 0.9, "test")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_polarity_terms() -> None:
    assert polarity_terms("Please ENABLE 2FA on my account") == frozenset({"enable", "2fa", "on"})
    assert polarity_terms("what is the weather like") == frozenset()
    assert polarity_terms("I don't want 3 apples") == frozenset({"don't", "3"})


def test_hits_need_similarity_ttl_and_the_same_polarity() -> None:
    clock = FakeClock()
    cache = MemoryDecisionCache(capacity=8, ttl_s=10, threshold=0.9, clock=clock)
    embed = HashEmbedder(64).embed
    vector = embed(["enable two factor authentication on my account"])[0]
    assert cache.get("b1", "tenant", vector, "x") == (None, "miss")
    cache.put("b1", "tenant", vector, "enable two factor authentication on my account", MATCH)
    hit, outcome = cache.get(
        "b1", "tenant", vector, "Enable two factor authentication on my account!"
    )
    assert outcome == "hit"
    assert hit is not None
    assert hit.match == MATCH
    assert hit.similarity > 0.99
    opposite = "disable two factor authentication on my account"
    assert cache.get("b1", "tenant", vector, opposite) == (None, "guarded")
    unrelated = embed(["recommend a restaurant in rome"])[0]
    assert cache.get("b1", "tenant", unrelated, "recommend a restaurant in rome") == (None, "miss")
    assert (
        cache.get("b2", "tenant", vector, "enable two factor authentication on my account")[1]
        == "miss"
    )
    other = cache.get(
        "b1", "another-tenant", vector, "enable two factor authentication on my account"
    )
    assert other == (None, "miss")  # one tenant's prompts never decide another's
    clock.now = 10.0
    assert (
        cache.get("b1", "tenant", vector, "enable two factor authentication on my account")[1]
        == "miss"
    )


def test_capacity_and_scopes_are_bounded() -> None:
    cache = MemoryDecisionCache(capacity=2, ttl_s=60, threshold=0.99)
    rows = np.eye(4, dtype=np.float32)
    for i in range(3):
        cache.put("s", "tenant", rows[i], f"text {i}", MATCH)
    assert cache.get("s", "tenant", rows[0], "text 0")[1] == "miss"  # overwritten by the third
    assert cache.get("s", "tenant", rows[2], "text 2")[1] == "hit"
    for scope in ("a", "b", "c", "d"):
        cache.put(scope, "tenant", rows[3], "t", MATCH)
    assert cache.get("s", "tenant", rows[2], "text 2")[1] == "miss"  # the oldest scope made room
    assert cache.get("d", "tenant", rows[3], "t")[1] == "hit"


def _unit(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    unit: npt.NDArray[np.float32] = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(
        np.float32
    )
    return unit


def test_a_full_ring_finds_the_nearest_entry_a_scan_of_every_entry_finds() -> None:
    """The code shortlist keeps the best entry, whatever other tenants hold."""
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((300, 64))
    stored = _unit(np.repeat(centres, 10, axis=0) + 0.04 * rng.standard_normal((3000, 64)))
    queries = _unit(centres[:200] + 0.04 * rng.standard_normal((200, 64)))
    cache = MemoryDecisionCache(capacity=8192, ttl_s=60, threshold=0.85)
    for vector in stored:
        cache.put("s", "tenant", vector, "same text", MATCH)
    for vector in queries:  # another tenant's exact copies of every query come nearest
        cache.put("s", "other", vector, "same text", MATCH)
    for vector in queries:
        hit, outcome = cache.get("s", "tenant", vector, "same text")
        assert outcome == "hit"
        assert hit is not None
        assert abs(hit.similarity - float((stored @ vector).max())) < 1e-5


def test_polarity_terms_of_a_long_prompt_come_from_its_ends_only() -> None:
    numbers = " ".join(str(n) for n in range(200_000))
    terms = polarity_terms("cancel " + numbers + " refund")
    assert {"cancel", "refund"} <= terms
    assert len(terms) < 1_000
