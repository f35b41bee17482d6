"""Does the encoder route non-English prompts? MGSM's math problems in 11 languages.

Routes are learned from English only, as a user's exemplars often are: nearest class centroid
over ``math`` (GSM8K), ``code`` (MBPP), ``knowledge`` (MMLU-Pro) and ``questions`` (XQuAD, English
questions about Wikipedia paragraphs). Each MGSM problem should land on ``math``; the share that
does is reported per language, with the cosine between each translation and its English original.

    .venv/bin/python -m benchmarks.multilingual
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.common import emit, machine
from benchmarks.data import load_rows
from service.routing.encoder import DEFAULT_ENCODER_DIR, OnnxEmbedder

EXEMPLARS = 200


def _embed(embedder: OnnxEmbedder, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.concatenate([embedder.embed(texts[i : i + 16]) for i in range(0, len(texts), 16)])


def main() -> None:
    embedder = OnnxEmbedder(DEFAULT_ENCODER_DIR, threads=2, max_tokens=256)
    routes = {
        "math": [r["text"] for r in load_rows("gsm8k")][:EXEMPLARS],
        "code": [r["text"] for r in load_rows("code_prompts", file="mbpp_test")][:EXEMPLARS],
        "knowledge": [r["text"] for r in load_rows("mmlu_pro")][:EXEMPLARS],
        "questions": [r["text"] for r in load_rows("xquad_questions") if r["label"] == "en"][
            :EXEMPLARS
        ],
    }
    names = list(routes)
    centroids = np.stack([_embed(embedder, texts).mean(axis=0) for texts in routes.values()])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    problems = load_rows("mgsm")
    by_language: dict[str, list[dict[str, Any]]] = {}
    for row in problems:
        by_language.setdefault(row["label"], []).append(row)
    english = _embed(embedder, [row["text"] for row in by_language["en"]])
    english_by_idx = {row["idx"]: english[i] for i, row in enumerate(by_language["en"])}
    results = []
    for language, rows in by_language.items():
        vectors = _embed(embedder, [row["text"] for row in rows])
        chosen = (vectors @ centroids.T).argmax(axis=1)
        aligned = [
            float(v @ english_by_idx[row["idx"]]) for v, row in zip(vectors, rows, strict=True)
        ]
        results.append(
            {
                "language": language,
                "routed_to_math": round(float((chosen == names.index("math")).mean()), 3),
                "cosine_to_english": round(float(np.mean(aligned)), 3),
            }
        )
    meta = {"bench": "multilingual", "encoder": embedder.manifest["name"], **machine()}
    emit("multilingual", [{**meta, **row} for row in results])
    print(f"{'language':<10}{'routed to math':>16}{'cosine to English':>19}")
    for row in results:
        print(
            f"{row['language']:<10}{row['routed_to_math']:>16.3f}{row['cosine_to_english']:>19.3f}"
        )


if __name__ == "__main__":
    main()
