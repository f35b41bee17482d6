"""How often a conversation's second turn leaves the model that answered its first.

MT-Bench's 80 two-turn conversations (``../shared/data/mt_bench``; the second turn builds on the
first: "Rewrite your previous response...") are routed by the default config turn by turn,
with the conversation so far in the messages and a placeholder assistant answer between the
turns. The first turn's first candidate is the session's model; the second turn keeps it when
that model is still one of its candidates (`turnout.policy.sessions`), and switches otherwise.
Reported: the switch rate with sessions, and how often the second turn's best model would have
differed without them.

Also: how often the second turn's route is right, read with the first turn as context (a short
follow-up brings the previous user turn: `turnout.routing.analyze`) and read alone. The right
route is MT-Bench's category mapped onto the default taxonomy (below), counted only over the
conversations whose first turn is not one of the shipped exemplars (the context would otherwise
be an exemplar itself).

    .venv/bin/python -m benchmarks.sessions
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import msgspec

from benchmarks.common import default_index, emit, machine, open_router
from benchmarks.data import load_rows
from turnout.config import default_exemplars, load_settings
from turnout.training.exemplars import load_exemplars, normalized

EXEMPLARS: Final = default_exemplars()
ROUTE_OF: Final = {
    "writing": "creative_writing",
    "roleplay": "creative_writing",
    "reasoning": "reasoning",
    "math": "math",
    "coding": "code",
    "extraction": "extraction",
    "stem": "knowledge",
    "humanities": "knowledge",
}


def _body(messages: list[dict[str, str]]) -> bytes:
    return msgspec.json.encode({"model": "auto", "messages": messages})


async def measure() -> dict[str, Any]:
    settings = load_settings(None, {})
    router = await open_router(settings)
    shipped = {normalized(exemplar.text) for exemplar in load_exemplars(EXEMPLARS).exemplars}
    switched = moved = clean = right_first = right_with = right_alone = with_context = 0
    conversations = load_rows("mt_bench")
    for row in conversations:
        first, second = row["turns"][:2]
        messages = [{"role": "user", "content": first}]
        first_routed = await router.route(_body(messages))
        opened = first_routed.candidates[0]
        messages += [
            {"role": "assistant", "content": "(the first answer)"},
            {"role": "user", "content": second},
        ]
        routed = await router.route(_body(messages))
        later = routed.candidates
        switched += opened not in later
        moved += later[0] != opened
        if normalized(first) in shipped:
            continue
        alone = await router.route(_body([{"role": "user", "content": second}]))
        clean += 1
        right_first += first_routed.decision.route == ROUTE_OF[row["label"]]
        with_context += routed.inp.context is not None
        right_with += routed.decision.route == ROUTE_OF[row["label"]]
        right_alone += alone.decision.route == ROUTE_OF[row["label"]]
    count = len(conversations)
    return {
        "conversations": count,
        "switch_rate_with_sessions": round(switched / count, 4),
        "switch_rate_without": round(moved / count, 4),
        "second_turn": {
            "conversations": clean,
            "read_with_context": with_context,
            "first_turn_accuracy": round(right_first / clean, 4),
            "accuracy_with_context": round(right_with / clean, 4),
            "accuracy_alone": round(right_alone / clean, 4),
        },
    }


def main() -> None:
    result = asyncio.run(measure())
    emit("sessions", [{"machine": machine(index=default_index()), **result}])
    print(
        f"{result['conversations']} two-turn conversations: the second turn switched models in "
        f"{result['switch_rate_with_sessions']:.1%} with sessions, "
        f"{result['switch_rate_without']:.1%} without"
    )
    second = result["second_turn"]
    print(
        f"second turns of {second['conversations']} conversations whose first turn is not an "
        f"exemplar ({second['read_with_context']} read with context): right route "
        f"{second['accuracy_with_context']:.1%} with context, {second['accuracy_alone']:.1%} alone "
        f"(first turns: {second['first_turn_accuracy']:.1%})"
    )


if __name__ == "__main__":
    main()
