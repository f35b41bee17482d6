"""Decision cache: hit rate on paraphrases, false-hit rate on opposites, and lookup latency.

Pairs written for this benchmark (no dataset has them): each paraphrase pair asks the same
thing in other words; each opposite pair differs in the one word that flips the request, the
known false hit of semantic caches ("enable 2FA" against "disable 2FA"). The first prompt of a
pair is cached, the second looked up, with the ``use-m3`` encoder, at several thresholds; the
shipped threshold must keep the opposites' false-hit rate at zero.

    .venv/bin/python -m benchmarks.cache
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.common import emit, machine, time_each
from service.routing.cache import MemoryDecisionCache
from service.routing.decision import RouteMatch, Tier
from service.routing.encoder import DEFAULT_ENCODER_DIR, OnnxEmbedder

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


def main() -> None:
    embedder = OnnxEmbedder(DEFAULT_ENCODER_DIR, threads=1, max_tokens=256)
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
    meta = {"bench": "cache", **machine()}
    emit("cache", [{**meta, **row} for row in rows] + [{**meta, "l1_lookup_4096": lookup}])
    for name, values in sims.items():
        low, mid, high = min(values), float(np.median(values)), max(values)
        print(f"similarity, {name}: min {low:.3f} median {mid:.3f} max {high:.3f}")
    for row in rows:
        print(row)
    print(f"L1 lookup with 4,096 entries: {lookup}")


if __name__ == "__main__":
    main()
