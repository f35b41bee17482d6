"""The default router on longer prompts: accuracy and decision time by length, and how much to read.

The prompts are dataset texts that are not default exemplars, with the default taxonomy's
route for each: GSM8K problems (``math``), MMLU-Pro questions (``math`` for its math domain,
else ``knowledge``) and MT-Bench questions (by category). They are grouped by length in the
tuned encoder's tokens, up to `PER_GROUP` per group in file order. The router is the default
config's over the shipped index (`open_router`), at 1 caller, each prompt decided once (no
two are alike, so the decision cache never answers).

Measured three times in one run: as shipped, where the tuned encoder reads the head and tail
128 tokens of a longer prompt, the length it was tuned on (``read_tokens`` in its manifest);
with that cap taken off a copy of the build, so that it reads ``routing.max_tokens`` (256);
and with it lowered to `SHORT_READ` on another copy (cheaper, if it kept the routes).

    .venv/bin/python -m benchmarks.long_prompts
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

from benchmarks.common import chat_body, default_index, emit, machine, open_router, percentiles_ms
from benchmarks.data import load_rows
from turnout.config import READ_TOKENS, Settings, default_exemplars, load_settings
from turnout.routing.encoder import OnnxEmbedder
from turnout.training.exemplars import load_exemplars

if TYPE_CHECKING:
    from collections.abc import Sequence

GROUPS: Final = ((100, 160), (160, 256), (256, 10_000))
SHORT_READ: Final = 64
PER_GROUP: Final = 150
MT_BENCH: Final = {
    "writing": "creative_writing",
    "roleplay": "creative_writing",
    "extraction": "extraction",
    "math": "math",
    "coding": "code",
    "reasoning": "reasoning",
    "stem": "knowledge",
    "humanities": "knowledge",
}


def labelled() -> list[tuple[str, str]]:
    """Each dataset text that is not a default exemplar, with its route."""
    pool = [(r["text"], "math") for r in load_rows("gsm8k")]
    pool += [
        (r["text"], "math" if r["label"] == "math" else "knowledge") for r in load_rows("mmlu_pro")
    ]
    pool += [(r["text"], MT_BENCH[r["label"]]) for r in load_rows("mt_bench")]
    exemplars = {e.text for e in load_exemplars(default_exemplars()).exemplars}
    return [(text, route) for text, route in pool if text not in exemplars]


def grouped(encoder: OnnxEmbedder, pool: Sequence[tuple[str, str]]) -> dict[str, list[Any]]:
    """``pool`` by `GROUPS` of length, as ``encoder``'s tokenizer counts it."""
    lengths = [len(ids) for ids in encoder.tokenizer.ids([text for text, _ in pool])]
    groups = {}
    for low, high in GROUPS:
        chosen = [row for row, n in zip(pool, lengths, strict=True) if low <= n < high]
        groups[f"{low}-{high}" if high < GROUPS[-1][1] else f"{low}+"] = chosen[:PER_GROUP]
    return groups


def reading(index: Path, folder: Path, tokens: int | None) -> Path:
    """A copy of ``index`` whose tuned encoder reads ``tokens``, or as much as any other."""
    copy = folder / f"reads-{tokens}"
    shutil.copytree(index, copy)
    path = copy / "encoder" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.pop("read_tokens")
    if tokens is not None:
        manifest["read_tokens"] = tokens
    path.write_text(json.dumps(manifest))
    return copy


async def measure(settings: Settings, rows: list[tuple[str, str]]) -> dict[str, Any]:
    """Accuracy and decision time of ``settings``' router over ``rows``."""
    router = await open_router(settings)
    for i in range(5):
        await router.route(chat_body(f"warm-up number {i}"))
    right = 0
    samples = []
    for text, route in rows:
        started = time.perf_counter()
        routed = await router.route(chat_body(text))
        samples.append(time.perf_counter() - started)
        right += (routed.decision.route or settings.default_route) == route
    return {
        "prompts": len(rows),
        "accuracy": round(right / len(rows), 4),
        **percentiles_ms(samples),
    }


def main() -> None:
    shipped = load_settings(None, {})
    index = Path(str(shipped.routing.index))
    encoder = OnnxEmbedder(index / "encoder", threads=2, max_tokens=READ_TOKENS)
    groups = grouped(encoder, labelled())
    results = []
    with tempfile.TemporaryDirectory() as folder:

        def served(tokens: int | None) -> Settings:
            copy = str(reading(index, Path(folder), tokens))
            routing = msgspec.structs.replace(shipped.routing, index=copy, encoder=None)
            return msgspec.structs.replace(shipped, routing=routing)

        variants = {
            f"reads {encoder.max_tokens} (shipped)": shipped,
            f"reads {READ_TOKENS}": served(None),
            f"reads {SHORT_READ}": served(SHORT_READ),
        }
        for group, rows in groups.items():
            for name, settings in variants.items():
                found = asyncio.run(measure(settings, rows))
                results.append({"tokens": group, "variant": name, **found})
                print(json.dumps(results[-1]), flush=True)
    emit("long_prompts", [{"machine": machine(index=default_index()), **r} for r in results])


if __name__ == "__main__":
    main()
