"""How often a conversation's second turn leaves the model that answered its first.

MT-Bench's 80 two-turn conversations (``../shared/data/mt_bench``; the second turn builds on the
first: "Rewrite your previous response...") are routed by the default config turn by turn,
with the conversation so far in the messages and a placeholder assistant answer between the
turns. The first turn's first candidate is the session's model; the second turn keeps it when
that model is still one of its candidates (`service.policy.sessions`), and switches otherwise.
Reported: the switch rate with sessions, and how often the second turn's best model would have
differed without them.

    .venv/bin/python -m benchmarks.sessions
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from benchmarks.common import emit, machine
from benchmarks.data import load_rows
from service.app import build_router
from service.config import load_settings
from service.metrics import Metrics
from service.policy.catalog import Catalog
from service.routing.semantic import open_semantic


def _body(messages: list[dict[str, str]]) -> bytes:
    return msgspec.json.encode({"model": "auto", "messages": messages})


async def measure() -> dict[str, Any]:
    settings = load_settings(None, {})
    metrics = Metrics()
    router = build_router(
        settings, Catalog(settings), metrics, await open_semantic(settings, metrics)
    )
    switched = moved = 0
    conversations = load_rows("mt_bench")
    for row in conversations:
        first, second = row["turns"][:2]
        messages = [{"role": "user", "content": first}]
        opened = (await router.route(_body(messages))).candidates[0]
        messages += [
            {"role": "assistant", "content": "(the first answer)"},
            {"role": "user", "content": second},
        ]
        later = (await router.route(_body(messages))).candidates
        switched += opened not in later
        moved += later[0] != opened
    count = len(conversations)
    return {
        "conversations": count,
        "switch_rate_with_sessions": round(switched / count, 4),
        "switch_rate_without": round(moved / count, 4),
    }


def main() -> None:
    result = asyncio.run(measure())
    emit("sessions", [{"machine": machine(), **result}])
    print(
        f"{result['conversations']} two-turn conversations: the second turn switched models in "
        f"{result['switch_rate_with_sessions']:.1%} with sessions, "
        f"{result['switch_rate_without']:.1%} without"
    )


if __name__ == "__main__":
    main()
