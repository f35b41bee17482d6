"""Speculative dispatch on a traffic mix: how often a guess starts the call, agrees, and saves.

The mix is the default taxonomy's held-out set (``index/heldout/``: 375 prompts over ten
routes, with multi-paragraph, pasted-code and non-English prompts). The router is the default
config's with the speculative rules below added (one keyword list per route, the words a user
of that route often types) and speculation on for every route. For each prompt: whether a
guess started an upstream call before the semantic tier decided, whether the decision agreed,
and the time the call would have run ahead (the decision's time after the guess). Nothing is
sent upstream: the benchmark measures the decision side only.

    .venv/bin/python -m benchmarks.speculation
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import msgspec

from benchmarks.common import default_index, emit, machine, open_router, percentiles_ms
from benchmarks.taxonomy import heldout_rows
from turnout.config import RuleSettings, Settings, load_settings
from turnout.flow.router import Routed
from turnout.wire.request import decode_request

HINTS: Final = {
    "code": ["python", "javascript", "function", "sql", "bug", "error", "code", "api"],
    "math": ["solve", "equation", "integral", "derivative", "probability", "calculate"],
    "translation": ["translate", "translation", "traduis", "übersetze", "traduce"],
    "summarization": ["summarize", "summary", "tl;dr", "key points", "recap"],
    "creative_writing": ["poem", "story", "haiku", "lyrics", "slogan", "limerick"],
    "extraction": ["extract", "json", "parse", "fields"],
}


def speculative(settings: Settings) -> Settings:
    """The default config with hint rules and speculation on every route."""
    rules = tuple(
        msgspec.convert(
            {"name": f"hint-{route}", "route": route, "keywords": words, "speculative": True},
            RuleSettings,
        )
        for route, words in HINTS.items()
    )
    routes = tuple(msgspec.structs.replace(r, speculate=True) for r in settings.routes)
    return msgspec.structs.replace(settings, rules=settings.rules + rules, routes=routes)


async def measure(settings: Settings, rows: list[dict[str, Any]]) -> dict[str, Any]:
    router = await open_router(settings)
    guessed = agreed = 0
    ahead: list[float] = []
    for row in rows:
        body = msgspec.json.encode(
            {"model": "auto", "messages": [{"role": "user", "content": row["text"]}]}
        )
        read = router.read(decode_request(body))
        if isinstance(read, Routed):
            continue
        guess = router.guess(read)
        if guess is None:
            continue
        routed = await router.finish(read)
        guessed += 1
        if routed.decision.route == guess.decision.route:
            agreed += 1
            ahead.append((routed.decision_ms - guess.decision_ms) / 1000)
    return {
        "prompts": len(rows),
        "guessed_share": round(guessed / len(rows), 4),
        "agreement": round(agreed / guessed, 4) if guessed else None,
        "ahead": percentiles_ms(ahead),
    }


def main() -> None:
    settings = speculative(load_settings(None, {}))
    result = asyncio.run(measure(settings, heldout_rows()))
    emit("speculation", [{"machine": machine(index=default_index()), **result}])
    print(
        f"{result['prompts']} prompts: a guess started the call for "
        f"{result['guessed_share']:.1%}, the decision agreed for {result['agreement']:.1%} of "
        f"those; the call ran ahead by p50 {result['ahead']['p50_ms']:.2f} ms, "
        f"p99 {result['ahead']['p99_ms']:.2f} ms"
    )


if __name__ == "__main__":
    main()
