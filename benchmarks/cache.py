"""Decision cache: hit rate on paraphrases, false-hit rate on opposites, and lookup latency.

Pairs written for this benchmark (no dataset has them): each paraphrase pair asks the same
thing in other words; each opposite pair differs in the one word that flips the request, the
known false hit of semantic caches ("enable 2FA" against "disable 2FA"). The first prompt of a
pair is cached, the second looked up, with the ``use-m3`` encoder, at several thresholds; the
shipped threshold must keep the opposites' false-hit rate at zero.

The L1 cache shortlists entries by their sign codes before it takes exact cosines
(`turnout.routing.cache`); its recall is measured on real prompts: 4,096 CLINC150 train prompts
cached, 2,000 of its test prompts looked up at a threshold of 0.85, and for each whose nearest
cached prompt (by exact cosine over every entry) clears it, whether the lookup found that one.

Latency: an L1 lookup among 4,096 entries, and an L2 (Redis) hit and miss against the Redis at
``--redis`` (default ``redis://127.0.0.1:6379/15``, a database this benchmark flushes) after
sharing 4,096 decisions, with the shipped 5 ms deadline raised so nothing is bypassed.

    .venv/bin/python -m benchmarks.cache [--redis URL]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import redis.asyncio as aioredis

from benchmarks.common import HOME, emit, machine, percentiles_ms, time_each
from benchmarks.data import load_rows
from turnout.config import CacheSettings
from turnout.routing.cache import MemoryDecisionCache
from turnout.routing.decision import RouteMatch, Tier
from turnout.routing.encoder import OnnxEmbedder
from turnout.routing.shared_cache import SharedDecisionCache

if TYPE_CHECKING:
    import numpy.typing as npt

PARAPHRASES = [
    ("how do I reverse a list in python", "what's the way to reverse a python list"),
    ("what is the capital of australia", "which city is australia's capital"),
    ("write a haiku about autumn leaves", "compose a haiku on the leaves of autumn"),
    ("translate good morning into spanish", "how do you say good morning in spanish"),
    ("summarize this article for me", "give me a summary of this article"),
    ("what's the weather tomorrow in paris", "how will the weather be in paris tomorrow"),
    ("explain how vaccines work", "can you explain how vaccines work"),
    (
        "fix the null pointer exception in my java code",
        "my java code throws a null pointer exception, fix it",
    ),
    ("what is 15 percent of 80", "calculate 15 percent of 80"),
    ("recommend a good sci-fi novel", "can you suggest a good science fiction novel"),
    ("how many calories are in an apple", "how many calories does an apple have"),
    ("tell me a joke", "tell me a funny joke"),
    (
        "enable two factor authentication on my account",
        "turn on two factor authentication for my account",
    ),
    ("cancel my subscription", "please cancel my subscription"),
    ("who wrote pride and prejudice", "who is the author of pride and prejudice"),
    ("convert 10 miles to kilometers", "how many kilometers is 10 miles"),
    ("what time is it in tokyo", "what is the current time in tokyo"),
    (
        "write a sql query to count orders per customer",
        "sql query that counts the orders of each customer",
    ),
    ("how do I make pancakes", "what's a recipe for pancakes"),
    ("what does photosynthesis mean", "explain what photosynthesis is"),
]

OPPOSITES = [
    (
        "enable two factor authentication on my account",
        "disable two factor authentication on my account",
    ),
    ("turn on dark mode", "turn off dark mode"),
    ("add milk to my shopping list", "remove milk from my shopping list"),
    ("increase the volume", "decrease the volume"),
    ("lock the front door", "unlock the front door"),
    ("subscribe me to the newsletter", "unsubscribe me from the newsletter"),
    ("should I buy tesla stock", "should I sell tesla stock"),
    ("start the timer", "stop the timer"),
    ("open the garage door", "close the garage door"),
    ("include weekends in the report", "exclude weekends from the report"),
    ("upload the file to the server", "download the file from the server"),
    ("show hidden files", "hide hidden files"),
    ("mute the microphone", "unmute the microphone"),
    ("install the package", "uninstall the package"),
    ("encrypt this message", "decrypt this message"),
    ("I want to book a flight to rome", "I want to cancel a flight to rome"),
    ("transfer 100 dollars to savings", "transfer 500 dollars to savings"),
    ("is it safe to eat raw eggs", "is it not safe to eat raw eggs"),
    ("allow notifications from this app", "block notifications from this app"),
    ("what is the maximum dose of ibuprofen", "what is the minimum dose of ibuprofen"),
]

MATCH = RouteMatch("any", Tier.SEMANTIC, 1.0, "benchmark")


def rates(embedder: OnnxEmbedder, threshold: float) -> dict[str, float]:
    out = {}
    for name, pairs in (
        ("paraphrase_hit_rate", PARAPHRASES),
        ("opposite_false_hit_rate", OPPOSITES),
    ):
        hits = 0
        for first, second in pairs:
            cache = MemoryDecisionCache(capacity=16, ttl_s=60, threshold=threshold)
            a, b = embedder.embed([first, second])
            cache.put("s", "tenant", a, first, MATCH)
            hits += cache.get("s", "tenant", b, second)[1] == "hit"
        out[name] = round(hits / len(pairs), 3)
    return out


async def shared_latency(
    url: str, vectors: npt.NDArray[np.float32], dim: int
) -> dict[str, dict[str, float]]:
    """p50/p99 of L2 hits (a stored vector) and misses (a fresh one), in milliseconds."""
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    settings = CacheSettings(shared_timeout_ms=1000)
    cache = SharedDecisionCache(client, settings, dim=dim, config_version="bench")
    for i, vector in enumerate(vectors):
        cache.put("s", "tenant", vector, f"prompt {i}", MATCH)
        await cache.flush()
    fresh = np.random.default_rng(1).standard_normal((500, dim)).astype(np.float32)
    fresh /= np.linalg.norm(fresh, axis=1, keepdims=True)
    out = {}
    for name, queries in (("l2_hit", vectors[:500]), ("l2_miss", fresh)):
        samples = []
        for vector in queries:
            started = time.perf_counter()
            await cache.get("s", "tenant", vector, "prompt 7")
            samples.append(time.perf_counter() - started)
        out[name] = percentiles_ms(samples)
    await client.flushdb()
    await client.aclose()
    return out


def shortlist_recall(embedder: OnnxEmbedder, threshold: float = 0.85) -> dict[str, float]:
    """How often the L1 lookup finds the nearest cached prompt that clears ``threshold``."""
    rows = load_rows("clinc150")
    cached = [row["text"] for row in rows if row["split"] == "train"][:4096]
    asked = [row["text"] for row in rows if row["split"] == "test"][:2000]
    stored = np.concatenate([embedder.embed(cached[i : i + 64]) for i in range(0, 4096, 64)])
    queries = np.concatenate([embedder.embed(asked[i : i + 64]) for i in range(0, 2000, 64)])
    cache = MemoryDecisionCache(capacity=4096, ttl_s=600, threshold=threshold)
    for vector in stored:
        cache.put("s", "tenant", vector, "same text", MATCH)
    nearest = (queries @ stored.T).max(axis=1)
    found = 0
    for vector, best in zip(
        queries[nearest >= threshold], nearest[nearest >= threshold], strict=True
    ):
        hit, _ = cache.get("s", "tenant", vector, "same text")
        found += hit is not None and abs(hit.similarity - float(best)) < 1e-5
    due = int((nearest >= threshold).sum())
    return {"lookups": len(queries), "due": due, "found": found, "recall": round(found / due, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    embedder = OnnxEmbedder(HOME.encoder(), threads=1, max_tokens=256)
    sims = {
        name: [float(np.dot(*embedder.embed([a, b]))) for a, b in pairs]
        for name, pairs in (("paraphrases", PARAPHRASES), ("opposites", OPPOSITES))
    }
    rows: list[dict[str, Any]] = [
        {"threshold": t, **rates(embedder, t)} for t in (0.80, 0.85, 0.90, 0.92, 0.95)
    ]
    cache = MemoryDecisionCache(capacity=4096, ttl_s=600, threshold=0.9)
    vectors = np.random.default_rng(0).standard_normal((4096, embedder.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i, vector in enumerate(vectors):
        cache.put("s", "tenant", vector, f"prompt {i}", MATCH)
    lookup = time_each(lambda v: cache.get("s", "tenant", v, "prompt 7"), list(vectors[:2000]))
    recall = shortlist_recall(embedder)
    shared = asyncio.run(shared_latency(args.redis, vectors, embedder.dim))
    meta = {"bench": "cache", **machine()}
    latency = {**meta, "l1_lookup_4096": lookup, "l1_shortlist": recall, **shared}
    emit("cache", [{**meta, **row} for row in rows] + [latency])
    for name, values in sims.items():
        low, mid, high = min(values), float(np.median(values)), max(values)
        print(f"similarity, {name}: min {low:.3f} median {mid:.3f} max {high:.3f}")
    for row in rows:
        print(row)
    print(f"L1 lookup with 4,096 entries: {lookup}")
    print(f"L1 shortlist on CLINC150 prompts: {recall}")
    print(f"L2 hit: {shared['l2_hit']}, L2 miss: {shared['l2_miss']}")


if __name__ == "__main__":
    main()
