"""Speculative dispatch on a traffic mix: how often a guess starts the call, agrees, and saves.

The mix is both of the default taxonomy's held-out sets (``index/heldout/`` and
``index/heldout2/``: 762 prompts over ten routes, with multi-paragraph, pasted-code and
non-English prompts). The router is the default config's over the shipped, screened index, with
speculation on for every route, in two configs: ``screen``, where only the screen guesses (its
best route for a prompt it passes on to the tuned encoder), and ``rules and screen``, with the
speculative rules below added (one keyword list per route, the words a user of that route often
types), whose guesses come first. For each prompt and guesser: whether a guess started an
upstream call before the semantic tier decided, whether the decision agreed, and the time the
call would have run ahead (the decision's time after the guess). Nothing is sent upstream: the
benchmark measures the decision side only.

    .venv/bin/python -m benchmarks.speculation
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any, Final

import msgspec

from benchmarks.accuracy import HELDOUT2
from benchmarks.common import (
    chat_body,
    default_index,
    emit,
    machine,
    open_router,
    percentiles_ms,
)
from benchmarks.taxonomy import heldout_rows
from turnout.config import RuleSettings, Settings, load_settings
from turnout.flow.router import Read, Routed
from turnout.routing.decision import MS, Tier
from turnout.wire.request import decode_request

HINTS: Final = {
    "code": ["python", "javascript", "function", "sql", "bug", "error", "code", "api"],
    "math": ["solve", "equation", "integral", "derivative", "probability", "calculate"],
    "translation": ["translate", "translation", "traduis", "übersetze", "traduce"],
    "summarization": ["summarize", "summary", "tl;dr", "key points", "recap"],
    "creative_writing": ["poem", "story", "haiku", "lyrics", "slogan", "limerick"],
    "extraction": ["extract", "json", "parse", "fields"],
}


def everywhere(settings: Settings) -> Settings:
    """``settings`` with speculation on for every route."""
    routes = tuple(msgspec.structs.replace(r, speculate=True) for r in settings.routes)
    return msgspec.structs.replace(settings, routes=routes)


def hinted(settings: Settings) -> Settings:
    """`everywhere`, with the hint rules added."""
    rules = tuple(
        msgspec.convert(
            {"name": f"hint-{route}", "route": route, "keywords": words, "speculative": True},
            RuleSettings,
        )
        for route, words in HINTS.items()
    )
    return msgspec.structs.replace(everywhere(settings), rules=settings.rules + rules)


async def measure(settings: Settings, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per guesser (rule, screen): the share of prompts guessed, agreement, time ahead.

    Also, over the prompts the semantic tier decided: the decision's time, and the time at
    which the call that answers starts (the guess's, when the decision agreed with it).
    """
    router = await open_router(settings)
    guessed: Counter[str] = Counter()
    agreed: Counter[str] = Counter()
    ahead: dict[str, list[float]] = {"rule": [], "screen": []}
    decided: list[float] = []
    started: list[float] = []
    for row in rows:
        read = router.read(decode_request(chat_body(row["text"])))
        if isinstance(read, Routed):
            continue
        rule = router.guess(read)
        told: list[tuple[str, float]] = []

        def tell(route: str, read: Read = read, told: list[tuple[str, float]] = told) -> None:
            if router.guessed(read, route, Tier.SEMANTIC) is not None:
                told.append((route, (time.perf_counter() - read.started) * MS))

        routed = await router.finish(read, tell)
        decided.append(routed.decision_ms / MS)
        started.append(decided[-1])
        if rule is not None:
            by, route, at_ms = "rule", rule.decision.route, rule.decision_ms
        elif told:
            by, (route, at_ms) = "screen", told[0]
        else:
            continue
        guessed[by] += 1
        if routed.decision.route == route:
            agreed[by] += 1
            ahead[by].append((routed.decision_ms - at_ms) / MS)
            started[-1] = at_ms / MS
    guesses = [
        {
            "guess": by,
            "guessed_share": round(guessed[by] / len(rows), 4),
            "agreement": round(agreed[by] / guessed[by], 4) if guessed[by] else None,
            "ahead": percentiles_ms(ahead[by]) if ahead[by] else None,
        }
        for by in ("rule", "screen")
    ]
    return {
        "prompts": len(rows),
        "semantic": len(decided),
        "decided": percentiles_ms(decided),
        "call_started": percentiles_ms(started),
        "guesses": guesses,
    }


def main() -> None:
    shipped = load_settings(None, {})
    rows = heldout_rows() + heldout_rows(HELDOUT2)
    results = []
    for config, settings in (
        ("screen", everywhere(shipped)),
        ("rules and screen", hinted(shipped)),
    ):
        found = asyncio.run(measure(settings, rows))
        results.append({"config": config, **found})
        print(
            f"{config}: of {found['semantic']} prompts the semantic tier decided, decided at p50 "
            f"{found['decided']['p50_ms']:.2f} / p99 {found['decided']['p99_ms']:.2f} ms, the "
            f"answering call started at p50 {found['call_started']['p50_ms']:.2f} / p99 "
            f"{found['call_started']['p99_ms']:.2f} ms"
        )
        for guess in found["guesses"]:
            if guess["guessed_share"]:
                print(
                    f"  {guess['guess']} guessed for {guess['guessed_share']:.1%} of "
                    f"{found['prompts']} prompts, the decision agreed for "
                    f"{guess['agreement']:.1%}, ahead by p50 {guess['ahead']['p50_ms']:.2f} ms"
                )
    emit("speculation", [{"machine": machine(index=default_index()), **r} for r in results])


if __name__ == "__main__":
    main()
