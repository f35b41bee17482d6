"""Write ``index/heldout2/``: a second held-out set from datasets the default exemplars never use.

The first held-out set (``index/heldout/``) shares its datasets with the exemplars (their held-out
halves). This one shares none of them: real users' questions and problems as they were written,
in many languages, each mapped to the route it belongs to:

- ``msvamp``: SVAMP math word problems in 10 languages (Bengali and Swahili among them): math;
- ``cmath``: Chinese elementary-school math problems: math;
- ``code_questions``: Stack Overflow question titles in English, Spanish, Japanese and Russian
  (ODEX, MCoNaLa; test splits): code;
- ``sql_questions``: Stack Overflow SQL question titles (StaQC): code;
- ``self_instruct_seed``: 175 hand-written instruction tasks; those whose task names one route
  (`SELF_INSTRUCT`), the rest left out.

MT-Bench in Japanese and Chinese is not used: it translates MT-Bench, which gives exemplars.

Seeded samples, so the output is the same on every run; nothing here is ever trained on.

    .venv/bin/python scripts/compose_heldout2.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any, Final

OUT: Final = Path(__file__).resolve().parents[1] / "index" / "heldout2"
SELF_INSTRUCT: Final = {
    "code": (
        "write_comments_in_python complete_python_code code_todo regular_expression_generation "
        "text_to_sql python_code_generation python_sorting code_for_bitcoin_price "
        "program_for_summation javascript_date_and_time python_leetcode code_syntax_error"
    ),
    "math": (
        "find_subset_of_numbers_with_target_sum perfect_numbers solving_equation "
        "math_word_problem_with_reasoning measurement_conversion numerical_question_answering "
        "solving_math_problem temperature_conversion word_math_with_algebra solve_equation_system"
    ),
    "reasoning": "analogy_completion syllogism",
    "creative_writing": (
        "english_haiku_generation horror_movie_opening story_composition three_sentence_story "
        "knock_knock_joke joke_about_phd dad_joke_intensified complete_the_lyrics proverbs "
        "question-answer_jokes cover_letter recommendation_letter negative_blender_review "
        "refuse_invitation_email decline_a_job_offer_email writing_article_from_outline"
    ),
    "translation": "dialect_translation english_to_chinese_translation",
    "summarization": "summarizing_news paper_summarization summarize_email",
    "extraction": "extract_country_names place_extraction",
    "knowledge": (
        "question_answering word_definition explain_natural_phenomenon fact_verification "
        "fact_checking ask_for_law question_answering_with_template"
    ),
    "general": (
        "breakfast_suggestion movie_recommendation game_suggestion grocery_list "
        "birthday_planning_checklist cooking_recipe school_lunches plan_a_trip city_todo_list "
        "monthly_budget travel_budget de-stress_list reducing_belly_fat_exercises "
        "pre-run_warmup snack_suggestion recipe_by_ingredient cocktails"
    ),
}
PER_LANGUAGE: Final = {"msvamp": 15, "code_questions": 20}
TAKE: Final = {"cmath": 45, "sql_questions": 40}
LICENCES: Final = {
    "msvamp": ("MSVAMP (Chen et al. 2023), microsoft/MathOctopus", "MIT"),
    "cmath": ("CMATH (Wei et al. 2023), XiaoMi/cmath", "CC BY 4.0"),
    "code_questions": ("ODEX and MCoNaLa Stack Overflow intents, zorazrw", "CC BY-SA 4.0"),
    "sql_questions": ("StaQC SQL question titles (Yao et al. 2018)", "CC BY-SA 4.0"),
    "self_instruct_seed": ("Self-Instruct seed tasks (Wang et al. 2023), yizhongw", "Apache-2.0"),
}


def rows(data: Path, name: str) -> list[dict[str, Any]]:
    path = data / name / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sample(found: list[dict[str, Any]], count: int, seed: str) -> list[dict[str, Any]]:
    return random.Random(seed).sample(found, min(count, len(found)))


def compose(data: Path) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def add(found: list[dict[str, Any]], route: str, source: str) -> None:
        out.extend(
            {"text": r["text"].strip(), "route": route, "source": source, "kind": "dataset"}
            for r in found
        )

    by_language: dict[str, list[dict[str, Any]]] = {}
    for row in rows(data, "msvamp"):
        by_language.setdefault(row["label"], []).append(row)
    ids = sorted({row["id"] for row in rows(data, "msvamp")})
    chosen = set(random.Random("msvamp").sample(ids, 60))
    for language in sorted(by_language):  # a different problem in each language
        pool = [row for row in by_language[language] if row["id"] in chosen]
        add(sample(pool, PER_LANGUAGE["msvamp"], f"msvamp {language}"), "math", "msvamp")
    add(sample(rows(data, "cmath"), TAKE["cmath"], "cmath"), "math", "cmath")
    tests: dict[str, list[dict[str, Any]]] = {}
    for row in rows(data, "code_questions"):
        if row.get("split") == "test":
            tests.setdefault(row.get("lang", "en"), []).append(row)
    for language in sorted(tests):
        found = sample(tests[language], PER_LANGUAGE["code_questions"], f"code {language}")
        add(found, "code", "code_questions")
    add(sample(rows(data, "sql_questions"), TAKE["sql_questions"], "sql"), "code", "sql_questions")
    routes = {task: route for route, tasks in SELF_INSTRUCT.items() for task in tasks.split()}
    for row in rows(data, "self_instruct_seed"):
        if row["label"] in routes:
            add([row], routes[row["label"]], "self_instruct_seed")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    args = parser.parse_args()
    found = compose(args.data)
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.jsonl"):
        old.unlink()
    by_route: dict[str, list[dict[str, str]]] = {}
    for row in found:
        by_route.setdefault(row["route"], []).append(row)
    for route, route_rows in sorted(by_route.items()):
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in route_rows)
        (OUT / f"{route}.jsonl").write_text(lines)
    counts: dict[tuple[str, str], int] = {}
    for row in found:
        counts[row["source"], row["route"]] = counts.get((row["source"], row["route"]), 0) + 1
    table = [
        "# Sources of the second held-out set",
        "",
        "Written by `scripts/compose_heldout2.py`; do not edit by hand. None of these datasets",
        "gives the default taxonomy an exemplar. Files holding CC BY-SA 4.0 rows (code) are",
        "shared under that licence as well.",
        "",
        "| source | what | licence | route | prompts |",
        "|---|---|---|---|---:|",
        *[
            f"| {source} | {LICENCES[source][0]} | {LICENCES[source][1]} | {route} | {n} |"
            for (source, route), n in sorted(counts.items())
        ],
        "",
        f"Total: {len(found)} prompts.",
        "",
    ]
    (OUT / "SOURCES.md").write_text("\n".join(table))
    print(f"{len(found)} prompts into {OUT}")


if __name__ == "__main__":
    main()
