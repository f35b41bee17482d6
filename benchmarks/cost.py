"""Cost report: a traffic mix routed by the default config, against one model for everything.

The mix (``MIX``) is drawn, seeded, from ``../shared/data``: chit-chat and everyday requests
(CLINC150 small talk and assistant requests), knowledge questions (XQuAD, MMLU-Pro), math
(GSM8K), code (MBPP), and the writing, roleplay, reasoning and extraction prompts of MT-Bench
and the Vicuna benchmark. Its shares follow the shape of general assistant traffic reported in
public chat logs (much small talk and everyday help, then knowledge, code and writing), not
any one tenant's: change ``MIX`` to your own.

Each prompt is routed by the default config (rules, then the default taxonomy's index); the
route's first model is charged at its prices (the models.dev catalog's) for the router's
prompt-token estimate and an assumed output length per route (``OUTPUT_TOKENS``). Compared
with sending everything to the priciest model the routes use (``openai/gpt-5.5``) and to the
cheapest (``groq/llama-3.1-8b-instant``).

    .venv/bin/python -m benchmarks.cost [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import random
from collections import Counter, defaultdict
from typing import Any, Final

import msgspec

from benchmarks.common import default_index, emit, machine, open_router
from benchmarks.data import load_rows
from turnout.catalog import Catalog, Target
from turnout.config import Settings, load_settings

PREMIUM: Final = "openai/gpt-5.5"
CHEAPEST: Final = "groq/llama-3.1-8b-instant"
# (dataset, file, label filter or None, how many of 1,000 requests)
MIX: Final = (
    ("clinc150", "clinc150", "small_talk", 200),
    ("clinc150", "clinc150", "kitchen_and_dining", 100),
    ("xquad_questions", "xquad_questions", "en", 120),
    ("mmlu_pro", "mmlu_pro", None, 80),
    ("gsm8k", "gsm8k", None, 100),
    ("code_prompts", "mbpp_test", None, 150),
    ("mt_bench", "mt_bench", None, 80),
    ("vicuna_bench", "vicuna_bench", None, 70),
    ("mgsm", "mgsm", "fr", 50),
    ("xquad_questions", "xquad_questions", "de", 50),
)
OUTPUT_TOKENS: Final = {
    "chit_chat": 60,
    "general": 300,
    "knowledge": 250,
    "math": 400,
    "reasoning": 600,
    "code": 500,
    "creative_writing": 600,
    "translation": 200,
    "summarization": 250,
    "extraction": 200,
}


def traffic(rng: random.Random, scale: float) -> list[tuple[str, str]]:
    """``(source, prompt)`` pairs of the mix."""
    out = []
    for dataset, file, label, count in MIX:
        rows = load_rows(dataset, file=file)
        if label is not None:
            rows = [r for r in rows if label in (r.get("label"), r.get("domain"))]
        picked = rng.sample(rows, min(len(rows), max(1, round(count * scale))))
        out += [(f"{file}:{label or 'all'}", row["text"]) for row in picked]
    return out


def price(target: Target, prompt_tokens: int, output_tokens: int) -> float:
    model = target.model
    return (prompt_tokens * model.input_per_mtok + output_tokens * model.output_per_mtok) / 1e6


async def report(settings: Settings, requests: list[tuple[str, str]]) -> dict[str, Any]:
    catalog = Catalog(settings)
    router = await open_router(settings)
    premium, cheapest = catalog.targets[PREMIUM], catalog.targets[CHEAPEST]
    totals: Counter[str] = Counter()
    by_route: dict[str, Counter[str]] = defaultdict(Counter)
    for _, text in requests:
        body = msgspec.json.encode(
            {"model": "auto", "messages": [{"role": "user", "content": text}]}
        )
        routed = await router.route(body)
        route = routed.decision.route or settings.default_route
        tokens, output = routed.inp.token_estimate, OUTPUT_TOKENS[route]
        chosen = routed.candidates[0]
        spent = {
            "routed": price(chosen, tokens, output),
            "premium": price(premium, tokens, output),
            "cheapest": price(cheapest, tokens, output),
        }
        totals.update(spent)
        by_route[route].update({"requests": 1, **spent})
        by_route[route][f"model:{chosen.id}"] += 1
    per_1000 = {name: round(value / len(requests) * 1000, 4) for name, value in totals.items()}
    return {
        "requests": len(requests),
        "usd_per_1000": per_1000,
        "saving_vs_premium": round(1 - totals["routed"] / totals["premium"], 4),
        "premium_over_routed": round(totals["premium"] / totals["routed"], 2),
        "routed_over_cheapest": round(totals["routed"] / totals["cheapest"], 2),
        "routes": {
            route: {key: round(v, 6) if isinstance(v, float) else v for key, v in c.items()}
            for route, c in sorted(by_route.items())
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the mix")
    args = parser.parse_args()
    requests = traffic(random.Random(0), 0.1 if args.quick else 1.0)
    result = asyncio.run(report(load_settings(None, {}), requests))
    emit("cost", [{"machine": machine(index=default_index()), **result}])
    usd = result["usd_per_1000"]
    print(
        f"{result['requests']} requests, $ per 1,000: routed {usd['routed']:.3f}, all premium "
        f"({PREMIUM}) {usd['premium']:.3f}, all cheapest ({CHEAPEST}) {usd['cheapest']:.3f}; "
        f"routing saves {result['saving_vs_premium']:.1%} against premium"
    )
    for route, row in result["routes"].items():
        models = {k[6:]: v for k, v in row.items() if k.startswith("model:")}
        print(f"  {route:17} {row['requests']:4} requests  ${row['routed']:.4f}  {models}")


if __name__ == "__main__":
    main()
