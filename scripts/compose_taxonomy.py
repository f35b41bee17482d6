"""Compose the default taxonomy's exemplars and held-out set from public data and written prompts.

    .venv/bin/python scripts/compose_taxonomy.py --data ../shared/data

Writes ``service/turnout/defaults/exemplars/<route>.jsonl`` (what ``turnout setup`` builds the
default index from), ``index/heldout/<route>.jsonl`` (what ``benchmarks/taxonomy.py`` scores) and
``index/SOURCES.md`` (every source, its licence and how many rows each file took from it).
Run it again only to change the taxonomy: its output is committed, so serving and tests never
need the datasets. It is deterministic: each draw is shuffled with a seed made of its route
and source.

Where a dataset covers a route, rows are drawn from it; parallel datasets (``mgsm``,
``xquad``) are split by question, so no held-out question appears in the exemplars in any
language. Written prompts (``index/written/``) fill the routes no dataset covers, and
templates (``index/written/templates/``) wrap passages and dataset texts in the instructions
users give for summaries, extractions and translations. The held-out set uses only its own
written prompts, templates, passages and topics (``index/written/heldout/``), so it holds
multi-paragraph prompts, pasted code and data, and other languages unlike the exemplars.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

INDEX: Final = Path(__file__).resolve().parents[1] / "index"
EXEMPLARS: Final = (
    Path(__file__).resolve().parents[1] / "service" / "turnout" / "defaults" / "exemplars"
)
WRITTEN: Final = INDEX / "written"

LICENCES: Final = {
    "written": ("turnout authors: prompts written for this taxonomy", "Apache-2.0"),
    "mbpp": ("MBPP test split (Austin et al. 2021), via nlpxucan/WizardLM", "CC BY 4.0"),
    "humaneval": ("HumanEval (Chen et al. 2021), openai/human-eval", "MIT"),
    "gsm8k": ("GSM8K (Cobbe et al. 2021), via lm-sys/RouteLLM", "MIT"),
    "mgsm": ("MGSM (Shi et al. 2022), google-research/url-nlp", "CC BY 4.0"),
    "mmlu_pro": ("MMLU-Pro test split (Wang et al. 2024), TIGER-AI-Lab/MMLU-Pro", "MIT"),
    "xquad": ("XQuAD questions (Artetxe et al. 2020), google-deepmind/xquad", "CC BY-SA 4.0"),
    "clinc150": ("CLINC150 (Larson et al. 2019), clinc/oos-eval", "CC BY 3.0"),
    "mt_bench": ("MT-Bench questions (Zheng et al. 2023), lm-sys/FastChat", "Apache-2.0"),
    "vicuna_bench": ("Vicuna benchmark questions (LMSYS 2023), lm-sys/FastChat", "Apache-2.0"),
}
FILES: Final = {
    "mbpp": "code_prompts/mbpp_test.jsonl",
    "humaneval": "code_prompts/humaneval.jsonl",
    "gsm8k": "gsm8k/gsm8k.jsonl",
    "mgsm": "mgsm/mgsm.jsonl",
    "mmlu_pro": "mmlu_pro/mmlu_pro.jsonl",
    "xquad": "xquad_questions/xquad_questions.jsonl",
    "clinc150": "clinc150/clinc150.jsonl",
    "mt_bench": "mt_bench/mt_bench.jsonl",
    "vicuna_bench": "vicuna_bench/vicuna_bench.jsonl",
}
# Languages the default encoder (Universal Sentence Encoder multilingual) was trained on.
LANGUAGES: Final = ("de", "es", "fr", "ja", "ru", "zh", "ar", "tr", "th")
KNOWLEDGE_SUBJECTS: Final = {
    "history", "law", "biology", "health", "psychology", "philosophy", "other",
}  # fmt: skip
CHIT_CHAT_INTENTS: Final = "small_talk"
GENERAL_INTENTS: Final = {
    "travel_suggestion", "meal_suggestion", "recipe", "restaurant_suggestion",
    "improve_credit_score", "ingredient_substitution", "oil_change_how", "jump_start",
    "tire_change", "cook_time", "food_last", "international_visa", "vaccines", "plug_type",
    "carry_on", "restaurant_reviews", "nutrition_info",
}  # fmt: skip
TRANSLATE_TO: Final = ("French", "Spanish", "German", "Japanese", "Chinese", "Italian")

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Draw:
    """Rows of one dataset for one route: ``exemplars`` to learn from, ``heldout`` to score."""

    source: str
    keep: Callable[[Row], bool]
    exemplars: int
    heldout: int
    wrap: Callable[[Row, int], str] | None = None  # a template around the row's text


@dataclass(frozen=True, slots=True)
class Composed:
    """Prompts made from templates and fillers, e.g. a summary request around a passage."""

    name: str
    fill: str  # "passages" ({text} in the templates) or a file of topics ({topic})
    exemplars: int
    heldout: int


def _label(*labels: str) -> Callable[[Row], bool]:
    return lambda row: row["label"] in labels


def _domain(domain: str) -> Callable[[Row], bool]:
    return lambda row: row["domain"] == domain


def _intents(intents: set[str]) -> Callable[[Row], bool]:
    return lambda row: row["label"] in intents


def _wrapped(templates: str) -> Callable[[Row, int], str]:
    """Wrap a row's text in a written instruction, e.g. to translate it (chosen by number)."""

    def wrap(row: Row, number: int) -> str:
        lines = _lines(WRITTEN / templates)
        return lines[number % len(lines)].replace("{text}", row["text"])

    return wrap


def _foreign(row: Row) -> bool:
    return row["label"] in LANGUAGES


DRAWS: Final[dict[str, tuple[Draw, ...]]] = {
    "code": (
        Draw("mbpp", _label("code"), 110, 15),
        Draw("humaneval", _label("code"), 30, 8),
    ),
    "math": (
        Draw("gsm8k", _label("math"), 80, 12),
        Draw("mmlu_pro", _label("math"), 25, 5),
        Draw("mgsm", _foreign, 30, 8),
        Draw("clinc150", _intents({"calculator"}), 15, 3),
    ),
    "knowledge": (
        Draw("mmlu_pro", _intents(KNOWLEDGE_SUBJECTS), 60, 8),
        Draw("xquad", _label("en"), 50, 8),
        Draw("xquad", _foreign, 20, 6),
        Draw("clinc150", _intents({"definition"}), 15, 3),
        Draw("vicuna_bench", _label("knowledge"), 7, 3),
        Draw("mt_bench", _label("stem", "humanities"), 14, 6),
    ),
    "chit_chat": (Draw("clinc150", _domain(CHIT_CHAT_INTENTS), 115, 15),),
    "reasoning": (
        Draw("mt_bench", _label("reasoning"), 7, 3),
        Draw("vicuna_bench", _label("fermi"), 7, 3),
        Draw("vicuna_bench", _label("counterfactual"), 7, 3),
    ),
    "creative_writing": (
        Draw("mt_bench", _label("writing"), 7, 3),
        Draw("mt_bench", _label("roleplay"), 7, 3),
        Draw("vicuna_bench", _label("writing"), 7, 3),
        Draw("vicuna_bench", _label("roleplay"), 7, 3),
    ),
    "translation": (
        Draw("clinc150", _intents({"translate"}), 80, 10),
        Draw("xquad", _foreign, 30, 0, _wrapped("templates/translation.txt")),
        Draw("mgsm", _foreign, 15, 0, _wrapped("templates/translation.txt")),
        Draw("xquad", _label("en"), 30, 0, _wrapped("templates/translation_from_english.txt")),
    ),
    "extraction": (Draw("mt_bench", _label("extraction"), 7, 3),),
    "summarization": (),
    "general": (
        Draw("vicuna_bench", _label("generic"), 7, 3),
        Draw("vicuna_bench", _label("common-sense"), 7, 3),
        Draw("clinc150", _intents(GENERAL_INTENTS), 90, 10),
    ),
}
COMPOSED: Final[dict[str, tuple[Composed, ...]]] = {
    "summarization": (Composed("summarization", "passages", 130, 10),),
    "extraction": (Composed("extraction", "passages", 120, 10),),
    "creative_writing": (
        Composed("creative_forms", "creative_topics", 70, 6),
        # The passages that summarization and extraction wrap, under a request to write from
        # them: the instruction, not the material, names the route. None held out, so that
        # ``index/heldout`` stays as it was scored before (``index/heldout4`` scores these).
        Composed("creative_writing", "passages", 60, 0),
    ),
}
# Held-out wrappers for foreign or English texts drawn from the held-out halves of datasets.
HELDOUT_WRAPS: Final = {
    "translation": (
        Draw("xquad", _foreign, 0, 6, _wrapped("heldout/templates/translation.txt")),
        Draw(
            "xquad",
            _label("en"),
            0,
            4,
            _wrapped("heldout/templates/translation_from_english.txt"),
        ),
    ),
}
# Passages: the first 14 serve the exemplars, the rest only the held-out set.
EXEMPLAR_PASSAGES: Final = 14


def _lines(path: Path) -> list[str]:
    """One prompt per line; a literal backslash-n is a line break inside the prompt."""
    text = path.read_text(encoding="utf-8")
    return [line.replace("\\n", "\n") for line in text.splitlines() if line.strip()]


def _read(data: Path, source: str) -> list[Row]:
    with (data / FILES[source]).open(encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def _group(row: Row) -> str:
    """Parallel rows (one question in many languages) share a group."""
    for key in ("idx", "qid"):
        if key in row:
            return f"{key}:{row[key]}"
    return str(row["text"])


def _split(rows: list[Row], draw: Draw, seed: str) -> tuple[list[Row], list[Row]]:
    """Shuffle by group and deal ``draw.exemplars`` rows, then ``draw.heldout`` more.

    Groups dealt to the exemplars are never dealt to the held-out set, so translations of an
    exemplar's question stay out of it.
    """
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if draw.keep(row):
            groups[_group(row)].append(row)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    chosen: tuple[list[Row], list[Row]] = ([], [])
    wanted = (draw.exemplars, draw.heldout)
    side = 0 if draw.exemplars else 1
    for key in order:
        if side == 1 and len(chosen[1]) >= wanted[1]:
            break
        members = groups[key]
        chosen[side].append(members[random.Random(f"{seed}:{key}").randrange(len(members))])
        if side == 0 and len(chosen[0]) >= wanted[0]:
            side = 1
    if len(chosen[0]) < wanted[0] or len(chosen[1]) < wanted[1]:
        raise SystemExit(f"{seed}: not enough rows ({len(chosen[0])}, {len(chosen[1])})")
    return chosen


def _compose(spec: Composed, *, heldout: bool) -> list[str]:
    """Templates filled with passages or topics; the held-out set has its own of both."""
    count = spec.heldout if heldout else spec.exemplars
    if count == 0:
        return []
    folder = WRITTEN / "heldout" if heldout else WRITTEN
    if spec.fill == "passages":
        templates = _lines(folder / "templates" / f"{spec.name}.txt")
        passages = _lines(WRITTEN / "passages.txt")
        fillers = passages[EXEMPLAR_PASSAGES:] if heldout else passages[:EXEMPLAR_PASSAGES]
        placeholder = "{text}"
    else:
        templates = _lines(folder / f"{spec.name}.txt")
        fillers = _lines(folder / f"{spec.fill}.txt")
        placeholder = "{topic}"
    pairs = list(itertools.product(templates, fillers))
    random.Random(f"{spec.name}:{heldout}").shuffle(pairs)
    if len(pairs) < count:
        raise SystemExit(f"{spec.name}: {len(pairs)} combinations, {count} wanted")
    return [template.replace(placeholder, filler) for template, filler in pairs[:count]]


def _drawn(draw: Draw, rows: list[Row]) -> list[Row]:
    kind = "composed" if draw.wrap else "dataset"
    return [
        {
            "text": draw.wrap(row, n) if draw.wrap else row["text"],
            "source": draw.source,
            "kind": kind,
        }
        for n, row in enumerate(rows)
    ]


def compose(data: Path) -> tuple[dict[str, list[Row]], dict[str, list[Row]]]:
    """The exemplars and the held-out rows of every route, each row with its source."""
    cache: dict[str, list[Row]] = {}

    def rows_of(source: str) -> list[Row]:
        if source not in cache:
            cache[source] = _read(data, source)
        return cache[source]

    exemplars: dict[str, list[Row]] = defaultdict(list)
    heldout: dict[str, list[Row]] = defaultdict(list)
    for route, draws in DRAWS.items():
        for draw in (*draws, *HELDOUT_WRAPS.get(route, ())):
            seed = f"{route}:{draw.source}:{draw.exemplars}:{draw.heldout}"
            taught, held = _split(rows_of(draw.source), draw, seed)
            exemplars[route] += _drawn(draw, taught)
            heldout[route] += _drawn(draw, held)
        for folder, side in ((WRITTEN, exemplars), (WRITTEN / "heldout", heldout)):
            path = folder / f"{route}.txt"
            if path.exists():
                side[route] += [
                    {"text": text, "source": "written", "kind": "written"} for text in _lines(path)
                ]
    for route, specs in COMPOSED.items():
        for spec in specs:
            for side, held in ((exemplars, False), (heldout, True)):
                side[route] += [
                    {"text": text, "source": "written", "kind": "composed"}
                    for text in _compose(spec, heldout=held)
                ]
    return exemplars, heldout


def _write_jsonl(path: Path, rows: Iterable[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def _sources(exemplars: dict[str, list[Row]], heldout: dict[str, list[Row]]) -> str:
    counts: Counter[tuple[str, str, str]] = Counter()
    for part, routes in (("exemplars", exemplars), ("heldout", heldout)):
        for route, rows in routes.items():
            counts.update((row["source"], route, part) for row in rows)
    lines = [
        "# Sources of the default taxonomy",
        "",
        "Written by `scripts/compose_taxonomy.py`; do not edit by hand. Every row of",
        "`service/turnout/defaults/exemplars/` and `index/heldout/` names its source in its",
        "`source` field.",
        "Rows drawn from a dataset are its texts unchanged, or wrapped in a written instruction",
        "(`kind: composed`), e.g. a request to translate an XQuAD question. Files that hold",
        "rows under CC BY-SA 4.0 (XQuAD) are shared under that licence as well.",
        "",
        "| source | what | licence | route | exemplars | held out |",
        "|---|---|---|---|---:|---:|",
    ]
    pairs = sorted({(source, route) for source, route, _ in counts})
    for source, route in pairs:
        citation, licence = LICENCES[source]
        lines.append(
            f"| {source} | {citation} | {licence} | {route} | {counts[source, route, 'exemplars']} "
            f"| {counts[source, route, 'heldout']} |"
        )
    total_e = sum(len(rows) for rows in exemplars.values())
    total_h = sum(len(rows) for rows in heldout.values())
    lines += ["", f"Total: {total_e} exemplars, {total_h} held-out prompts.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    args = parser.parse_args()
    exemplars, heldout = compose(args.data)
    for route in sorted(exemplars):
        _write_jsonl(EXEMPLARS / f"{route}.jsonl", exemplars[route])
        rows = [{"route": route, **row} for row in heldout[route]]
        _write_jsonl(INDEX / "heldout" / f"{route}.jsonl", rows)
        print(f"{route:18} {len(exemplars[route]):4} exemplars {len(heldout[route]):4} held out")
    (INDEX / "SOURCES.md").write_text(_sources(exemplars, heldout))


if __name__ == "__main__":
    main()
