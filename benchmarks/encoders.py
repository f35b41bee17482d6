"""Which encoder routes best? Every built encoder, the same data, the same run.

Accuracy of three simple deciders over each encoder's embeddings, on fixed splits:
``clinc150`` (150 intents; train → test, out-of-scope rows left out), ``snips`` (7 intents;
train → test) and ``mmlu_pro`` (14 domains; a seeded 70/30 split). Deciders: weighted 10-NN,
nearest class centroid, and the route classifier's softmax regression
(`turnout.training.classifier.train`).

Then MGSM: routes learned from English only (``math`` from GSM8K, ``code`` from MBPP,
``knowledge`` from MMLU-Pro, ``questions`` from XQuAD's English questions; centroids), and each
of MGSM's math problems in 11 languages should land on ``math``. Also the batch-1 latency of
CLINC150 test prompts.

    .venv/bin/python -m benchmarks.encoders [--quick]
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.common import HOME, emit, machine, time_each
from benchmarks.data import load_rows
from turnout.routing.encoder import OnnxEmbedder
from turnout.training import classifier

if TYPE_CHECKING:
    import numpy.typing as npt


def embed(embedder: OnnxEmbedder, texts: list[str]) -> npt.NDArray[np.float32]:
    return np.concatenate([embedder.embed(texts[i : i + 32]) for i in range(0, len(texts), 32)])


def accuracy(
    embedder: OnnxEmbedder, train: list[dict[str, Any]], test: list[dict[str, Any]]
) -> dict[str, float]:
    labels = sorted({row["label"] for row in train})
    index = {label: i for i, label in enumerate(labels)}
    y_train = np.array([index[row["label"]] for row in train])
    y_test = np.array([index[row["label"]] for row in test])
    x_train = embed(embedder, [row["text"] for row in train])
    x_test = embed(embedder, [row["text"] for row in test])
    sims = x_test @ x_train.T
    top = np.argsort(-sims, axis=1)[:, :10]
    votes = np.zeros((len(test), len(labels)))
    rows = np.arange(len(test))
    for j in range(10):
        np.add.at(votes, (rows, y_train[top[:, j]]), sims[rows, top[:, j]])
    centroids = np.stack([x_train[y_train == c].mean(axis=0) for c in range(len(labels))])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    weights, bias = classifier.train(x_train, classifier.one_hot(y_train, len(labels)))
    return {
        "knn10": round(float((votes.argmax(axis=1) == y_test).mean()), 4),
        "centroid": round(float(((x_test @ centroids.T).argmax(axis=1) == y_test).mean()), 4),
        "logistic": round(
            float(((x_test @ weights * classifier.LOGIT_SCALE + bias).argmax(1) == y_test).mean()),
            4,
        ),
    }


def datasets(quick: bool) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    clinc = [row for row in load_rows("clinc150") if row["label"] != "oos"]
    snips = load_rows("snips")
    mmlu = load_rows("mmlu_pro")
    order = np.random.default_rng(0).permutation(len(mmlu))
    cut = int(len(mmlu) * 0.7)
    found = {
        "clinc150": (
            [r for r in clinc if r["split"] == "train"],
            [r for r in clinc if r["split"] == "test"],
        ),
        "snips": (
            [r for r in snips if r["split"] == "train"],
            [r for r in snips if r["split"] == "test"],
        ),
        "mmlu_pro": ([mmlu[i] for i in order[:cut]], [mmlu[i] for i in order[cut:]]),
    }
    if quick:
        found = {name: (train[::10], test[::10]) for name, (train, test) in found.items()}
    return found


def multilingual(embedder: OnnxEmbedder) -> dict[str, float]:
    routes = {
        "math": [r["text"] for r in load_rows("gsm8k")][:200],
        "code": [r["text"] for r in load_rows("code_prompts", file="mbpp_test")][:200],
        "knowledge": [r["text"] for r in load_rows("mmlu_pro")][:200],
        "questions": [r["text"] for r in load_rows("xquad_questions") if r["label"] == "en"][:200],
    }
    centroids = np.stack([embed(embedder, texts).mean(axis=0) for texts in routes.values()])
    problems: dict[str, list[str]] = {}
    for row in load_rows("mgsm"):
        problems.setdefault(row["label"], []).append(row["text"])
    return {
        language: round(
            float(((embed(embedder, texts) @ centroids.T).argmax(axis=1) == 0).mean()), 3
        )
        for language, texts in problems.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of each dataset")
    args = parser.parse_args()
    prompts = [r["text"] for r in load_rows("clinc150", split="test")][:500]
    rows = []
    for name in ("use-m3", "minilm-l6"):
        embedder = OnnxEmbedder(HOME.encoder(name), threads=1, max_tokens=256)
        row: dict[str, Any] = {
            "bench": "encoders",
            "encoder": name,
            **time_each(lambda text: embedder.embed([text]), prompts),  # noqa: B023 - called at once
        }
        for dataset, (train, test) in datasets(args.quick).items():
            row[dataset] = accuracy(embedder, train, test)
        row["mgsm_routed_to_math"] = multilingual(embedder)
        rows.append({**row, **machine()})
    emit("encoders", rows)
    for row in rows:
        speed = f"CLINC150 test prompt p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms"
        print(f"\n{row['encoder']}: {speed}")
        for dataset in ("clinc150", "snips", "mmlu_pro"):
            print(f"  {dataset:<9} " + "  ".join(f"{k} {v:.3f}" for k, v in row[dataset].items()))
        print(
            "  MGSM routed to math: "
            + " ".join(f"{k} {v:.2f}" for k, v in row["mgsm_routed_to_math"].items())
        )


if __name__ == "__main__":
    main()
