"""The fast path: the rules tier with 1,000 rules on 2,000-character prompts, and language ID.

Rules are generated (seeded) from the vocabulary of ``mmlu_pro`` questions: each has 3 keywords
(any of them), a tenth of them also a regex of their own, and a tenth a metadata condition.
Keywords are words of 5 letters or more, drawn from ranks 300 to 20,000 by frequency (rules
name distinctive terms, not "which" or "following"); a harsher case draws them from the 2,000
most frequent words, so that most prompts hit dozens of keywords.
Prompts are ``mmlu_pro``, ``gsm8k`` and ``mbpp`` texts joined until they reach 2,000
characters, so the automaton finds real hits and some rules get to their regexes. Timed: the
rules tier's ``match`` on an analyzed request (p50/p99 over 1,000 prompts), for keyword-only
rules and for the mix; and ``LanguageDetector`` on the same prompts.

    .venv/bin/python -m benchmarks.rules [--quick]
"""

from __future__ import annotations

import argparse
import random
import re
from collections import Counter

import msgspec

from benchmarks.common import chat_body, emit, machine, time_each
from benchmarks.data import load_rows
from turnout.caller import Caller
from turnout.config import RuleSettings
from turnout.routing.analyze import RoutingInput, analyze
from turnout.routing.language import LanguageDetector
from turnout.routing.rules import RuleTier
from turnout.wire.chat import decode_chat

PROMPT_CHARS = 2000
WORD = re.compile(r"[a-z]{5,}")


def prompts(count: int, rng: random.Random) -> list[str]:
    texts = [row["text"] for name in ("mmlu_pro", "gsm8k") for row in load_rows(name)]
    texts += [row["text"] for row in load_rows("code_prompts", file="mbpp_test")]
    rng.shuffle(texts)
    out, current = [], ""
    for text in texts:
        current = f"{current}\n\n{text}" if current else text
        if len(current) >= PROMPT_CHARS:
            out.append(current[:PROMPT_CHARS])
            current = ""
            if len(out) == count:
                break
    return out


def rules(
    count: int, rng: random.Random, *, mixed: bool, ranks: tuple[int, int] = (300, 20_000)
) -> list[RuleSettings]:
    counts = Counter(
        word for row in load_rows("mmlu_pro") for word in WORD.findall(row["text"].lower())
    )
    vocabulary = [word for word, _ in counts.most_common(ranks[1])[ranks[0] :]]
    made = []
    for i in range(count):
        fields: dict[str, object] = {
            "name": f"rule-{i}",
            "route": "r",
            "keywords": rng.sample(vocabulary, 3),
            "priority": rng.randrange(3),
        }
        if mixed and i % 10 == 0:
            fields["regex"] = rf"(?i)\b{rng.choice(vocabulary)}\s+\w+ing\b"
        if mixed and i % 10 == 1:
            fields["tiers"] = ["premium"]
        made.append(msgspec.convert(fields, RuleSettings))
    return made


def analyzed(text: str) -> RoutingInput:
    return analyze(decode_chat(chat_body(text))[1], Caller("benchmark"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="100 prompts")
    args = parser.parse_args()
    rng = random.Random(0)
    texts = prompts(100 if args.quick else 1000, rng)
    inputs = [analyzed(text) for text in texts]
    results = []
    cases = (
        ("1000 keyword rules", False, (300, 20_000)),
        ("1000 rules, 10% regex", True, (300, 20_000)),
        ("1000 rules, common words", True, (0, 2_000)),
    )
    for name, mixed, ranks in cases:
        tier = RuleTier(rules(1000, rng, mixed=mixed, ranks=ranks))
        matched = sum(tier.match(inp) is not None for inp in inputs)
        for inp in inputs[:50]:
            tier.match(inp)
        timing = time_each(tier.match, inputs)
        row = {"case": name, "prompts": len(inputs), "matched": matched, **timing}
        results.append(row)
        p50, p99 = timing["p50_ms"] * 1000, timing["p99_ms"] * 1000
        print(
            f"{name:26} p50 {p50:6.1f} µs  p99 {p99:6.1f} µs"
            f"  ({matched}/{len(inputs)} prompts matched a rule)"
        )
    detect = LanguageDetector()
    timing = time_each(detect, texts)
    results.append({"case": "language detection", "prompts": len(texts), **timing})
    print(
        f"{'language detection':26} p50 {timing['p50_ms'] * 1000:6.1f} µs  "
        f"p99 {timing['p99_ms'] * 1000:6.1f} µs"
    )
    emit("rules", [{"machine": machine(), **row} for row in results])


if __name__ == "__main__":
    main()
