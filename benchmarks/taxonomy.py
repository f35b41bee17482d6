"""The default taxonomy on its held-out set: accuracy per route, per kind of prompt, per tier.

The router is the default config's (``turnout/defaults/config.yaml``: rules, then the semantic
tier over the default index that ``turnout setup`` builds), built by the same functions as the
app's lifespan. Every prompt of ``index/heldout/`` is routed once; a prompt counts as right
when the decision names its route, so a prompt sent to the default route for low confidence
counts as wrong unless it belongs there. Reported as well: the semantic tier alone (rules off),
accuracy by kind of prompt (multi-paragraph, with code or data pasted in, not in English, in
Chinese, drawn from a dataset) and the confusion matrix.

    .venv/bin/python -m benchmarks.taxonomy [--show-errors] [--heldout index/heldout3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Final

import msgspec

from benchmarks.common import chat_body, emit, machine, open_router
from turnout.config import Settings, load_settings

HELDOUT: Final = Path(__file__).resolve().parents[1] / "index" / "heldout"
_CODE: Final = re.compile(r"[{}();=<>]|\bdef |\bfn |\bSELECT\b|```|^\s{2,}\S", re.MULTILINE)
_ACCENTED: Final = re.compile(r"[àâçéèêëîïôûùüÿñæœßäöü¿¡]")
NON_ASCII_SHARE: Final = 0.3
_HAN: Final = re.compile(r"[\u4e00-\u9fff]")
_KANA_HANGUL: Final = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")
_DATA: Final = re.compile(r"(\d[\d,.]*\s*[,;|]\s*){3,}|^\S+,\S+,\S+$", re.MULTILINE)


def heldout_rows(folder: Path = HELDOUT) -> list[dict[str, Any]]:
    """Every held-out prompt with its route and source, in file order."""
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def kinds(text: str) -> list[str]:
    """What makes a prompt unlike a one-line English question."""
    found = []
    if "\n\n" in text or text.count("\n") >= 3:
        found.append("multi_paragraph")
    if _CODE.search(text) or _DATA.search(text):
        found.append("code_or_data")
    letters = [c for c in text if c.isalpha()]
    foreign = letters and sum(not c.isascii() for c in letters) / len(letters) > NON_ASCII_SHARE
    if foreign or _ACCENTED.search(text):
        found.append("non_english")
    han = len(_HAN.findall(text)) / len(letters) if letters else 0.0
    if han > NON_ASCII_SHARE and not _KANA_HANGUL.search(text):
        found.append("chinese")
    return found


async def route_all(settings: Settings, texts: list[str]) -> list[tuple[str, str]]:
    """The route and tier of each text, decided by ``settings``' router."""
    router = await open_router(settings)
    out = []
    for text in texts:
        routed = await router.route(chat_body(text))
        out.append((routed.decision.route or settings.default_route, str(routed.decision.tier)))
    return out


def score(rows: list[dict[str, Any]], decided: list[tuple[str, str]]) -> dict[str, Any]:
    """Accuracy overall, per route, per kind of prompt and per tier; the confusion matrix."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for row, (route, tier) in zip(rows, decided, strict=True):
        ok = route == row["route"]
        confusion[row["route"]][route] += 1
        groups = ["all", f"route:{row['route']}", f"tier:{tier}", f"source:{row['kind']}"]
        groups += [f"kind:{kind}" for kind in kinds(row["text"])]
        for group in groups:
            total[group] += 1
            right[group] += ok
    accuracy = {group: round(right[group] / total[group], 4) for group in sorted(total)}
    return {
        "accuracy": accuracy,
        "counts": dict(sorted(total.items())),
        "confusion": {gold: dict(found) for gold, found in sorted(confusion.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--show-errors", action="store_true", help="print each wrong decision")
    parser.add_argument("--index", type=Path, help="another index build (default: the shipped one)")
    parser.add_argument("--encoder", type=Path, help="the encoder build that index was made with")
    parser.add_argument("--heldout", type=Path, default=HELDOUT, help="a folder of held-out JSONL")
    args = parser.parse_args()
    settings = load_settings(None, {})
    if args.index:
        routing = msgspec.structs.replace(
            settings.routing, index=str(args.index), encoder=str(args.encoder)
        )
        settings = msgspec.structs.replace(settings, routing=routing)
    rows = heldout_rows(args.heldout)
    texts = [row["text"] for row in rows]
    manifest = json.loads((Path(str(settings.routing.index)) / "manifest.json").read_text())
    for name, config in (
        ("router", settings),
        ("semantic_only", msgspec.structs.replace(settings, rules=())),
    ):
        decided = asyncio.run(route_all(config, texts))
        result = score(rows, decided)
        fields = {"config": name, "build_id": manifest["build_id"], "prompts": len(rows)}
        emit("taxonomy", [{"machine": machine(), **fields, **result}])
        print(f"{name}: held-out accuracy {result['accuracy']['all']:.3f} over {len(rows)}")
        for group, value in result["accuracy"].items():
            print(f"  {group:28} {value:.3f}  ({result['counts'][group]})")
        if args.show_errors and name == "router":
            for row, (route, tier) in zip(rows, decided, strict=True):
                if route != row["route"]:
                    text = row["text"][:100].replace("\n", " ")
                    print(f"  {row['route']:>16} -> {route:16} [{tier}] {text}")


if __name__ == "__main__":
    main()
