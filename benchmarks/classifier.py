"""Route classifier quality: kNN, the classifier, their fusion, a distilled student, the teacher.

Served encoder ``use-m3``. The classifier is the one ``turnout index rebuild`` trains: a softmax
regression over ``use-m3`` embeddings fitted to the labels and calibrated by a temperature fitted
on the validation split. kNN: the service's, 10 nearest training rows (exact search),
similarity-weighted votes. Fusion: the service's (`turnout.routing.knn.fuse`), the mean of kNN's
vote shares and the classifier's probabilities, times the nearest training row's similarity
squared; ``fused_unscaled`` leaves that factor out. Every other decider's confidence is scaled
by the same factor, so a threshold on any of them rejects unfamiliar prompts alike.
For comparison, the teacher is a softmax regression over both encoders' views (``use-m3`` and
``minilm-l6`` embeddings side by side), and the distilled student, a softmax regression over
``use-m3`` alone like the classifier, is trained on the teacher's softened probabilities
(temperature 2) mixed half and half with the labels. The rebuild does not distil: measured here,
the student is no better than the classifier, and the teacher needs a second encoder pass.

Datasets: ``clinc150`` (train / val / test; out-of-scope rows are the ``oos`` class, and a
confidence threshold fitted on val, the one with the best in-scope accuracy at out-of-scope
recall of at least 0.8, also sends low-confidence prompts to ``oos``), ``snips`` (train, 10% of
it held out as val, test) and ``mmlu_pro`` (14 domains; a seeded 60/10/30 split of 6,000 rows).
Deciders land on slightly different test recalls through a val threshold, so for CLINC150 each
decider's curve is also read at equal test out-of-scope recall (0.7, 0.8, 0.9): the in-scope
accuracy there compares the deciders, it is not an operating point. With no threshold at all, it
is the decider's ceiling: what in-scope accuracy no out-of-scope recall can exceed.

    .venv/bin/python -m benchmarks.classifier [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.common import HOME, emit, machine, time_each
from benchmarks.data import load_rows
from turnout.routing.classifier import OnnxClassifier
from turnout.routing.encoder import OnnxEmbedder
from turnout.routing.knn import KnnRouter, Neighbours, build_index, familiarity, fuse
from turnout.training.classifier import (
    Classifier,
    Examples,
    distillation_targets,
    expected_calibration_error,
    fit,
)
from turnout.training.index import NEIGHBOURS

if TYPE_CHECKING:
    import numpy.typing as npt

    Floats = npt.NDArray[np.float32]

OUT_OF_SCOPE = "oos"
MATCHED_RECALLS = (0.7, 0.8, 0.9)
DECIDERS = ("knn", "classifier", "fused", "fused_unscaled", "distilled", "teacher")


def _embed(embedder: OnnxEmbedder, texts: list[str]) -> Floats:
    return np.concatenate([embedder.embed(texts[i : i + 32]) for i in range(0, len(texts), 32)])


def _splits(name: str, quick: bool) -> list[dict[str, Any]]:
    if name == "clinc150":
        rows = load_rows("clinc150")
    elif name == "snips":
        rows = load_rows("snips")
        rng = np.random.default_rng(0)
        for row in rows:
            if row["split"] == "train" and rng.random() < 0.1:
                row["split"] = "val"
    else:
        every = load_rows("mmlu_pro")
        order = np.random.default_rng(0).permutation(len(every))[:6000]
        rows = [every[i] for i in order]
        for i, row in enumerate(rows):
            row["split"] = "train" if i < 3600 else "val" if i < 4200 else "test"
    return rows[::8] if quick else rows


def _knn(
    train_x: Floats, train_y: npt.NDArray[np.int64], x: Floats, classes: int
) -> tuple[Neighbours, Floats]:
    """The service's kNN over the training rows (exact search): neighbours and vote shares."""
    routes = tuple(str(i) for i in range(classes))
    knn = KnnRouter(build_index(train_x, exact=True), train_y, routes)
    found = knn.neighbours(x, NEIGHBOURS)
    return found, knn.votes(found)


def _score(
    probs: dict[str, Floats], y: npt.NDArray[np.int64], oos: int | None
) -> tuple[float, float | None]:
    """(in-scope accuracy on test, out-of-scope recall on test) with the val-fitted threshold."""

    def decide(p: Floats, threshold: float) -> npt.NDArray[np.int64]:
        chosen: npt.NDArray[np.int64] = p.argmax(axis=1)
        if oos is not None:
            chosen = np.where(p.max(axis=1) < threshold, oos, chosen).astype(np.int64)
        return chosen

    val, test = probs["val"], probs["test"]
    y_val, y_test = y[: len(val)], y[len(val) :]
    threshold = 0.0
    if oos is not None:
        best = -1.0
        for candidate in np.linspace(0, 1, 101):
            chosen = decide(val, candidate)
            inside = y_val != oos
            val_recall = float((chosen[~inside] == oos).mean())
            val_accuracy = float((chosen[inside] == y_val[inside]).mean())
            if val_recall >= 0.8 and val_accuracy > best:
                best, threshold = val_accuracy, float(candidate)
    chosen = decide(test, threshold)
    inside = y_test != oos if oos is not None else np.ones(len(y_test), dtype=bool)
    accuracy = float((chosen[inside] == y_test[inside]).mean())
    recall = float((chosen[~inside] == oos).mean()) if oos is not None else None
    return accuracy, recall


def _at_recall(test: Floats, y_test: npt.NDArray[np.int64], oos: int) -> dict[str, float]:
    """In-scope test accuracy where the confidence threshold gives each recall on test.

    Under ``"none"``, with no threshold: the decider's ceiling, what no threshold can exceed.
    """
    inside = y_test != oos
    confidence, chosen = test.max(axis=1), test.argmax(axis=1)
    out = {"none": round(float((chosen[inside] == y_test[inside]).mean()), 4)}
    for recall in MATCHED_RECALLS:
        threshold = np.quantile(confidence[~inside], recall)
        decided = np.where(confidence < threshold, oos, chosen)
        out[str(recall)] = round(float((decided[inside] == y_test[inside]).mean()), 4)
    return out


def evaluate(name: str, encoders: dict[str, OnnxEmbedder], quick: bool) -> dict[str, Any]:
    rows = _splits(name, quick)
    names = tuple(sorted({row["label"] for row in rows}))
    index = {label: i for i, label in enumerate(names)}
    y = np.array([index[row["label"]] for row in rows], dtype=np.int64)
    split = np.array([row["split"] for row in rows])
    texts = [row["text"] for row in rows]
    started = time.perf_counter()
    served = _embed(encoders["use-m3"], texts)
    both = np.hstack([served, _embed(encoders["minilm-l6"], texts)]) / np.sqrt(2)
    embed_s = time.perf_counter() - started
    fit_rows = split != "test"
    held_out = split[fit_rows] == "val"
    started = time.perf_counter()
    classifier = fit(Examples(served[fit_rows], y[fit_rows], names, held_out))
    train_s = time.perf_counter() - started
    teacher = fit(Examples(both[fit_rows], y[fit_rows], names, held_out))
    targets = distillation_targets(y[fit_rows], teacher.logits(both[fit_rows]))
    student = fit(Examples(served[fit_rows], y[fit_rows], names, held_out), targets=targets)
    train_mask = split == "train"
    order = np.concatenate([np.flatnonzero(split == "val"), np.flatnonzero(split == "test")])
    y_eval = y[order]
    probs: dict[str, dict[str, Floats]] = {decider: {} for decider in DECIDERS}
    for part in ("val", "test"):
        rows_of = split == part
        found, votes = _knn(served[train_mask], y[train_mask], served[rows_of], len(names))
        familiar = familiarity(found)
        scores = classifier.probabilities(served[rows_of])
        probs["knn"][part] = votes * familiar
        probs["classifier"][part] = scores * familiar
        probs["fused"][part] = fuse(found, votes, scores)
        probs["fused_unscaled"][part] = ((votes + scores) / 2).astype(np.float32)
        probs["distilled"][part] = student.probabilities(served[rows_of]) * familiar
        probs["teacher"][part] = teacher.probabilities(both[rows_of]) * familiar
    oos = index.get(OUT_OF_SCOPE)
    result: dict[str, Any] = {"dataset": name, "classes": len(names), "rows": len(rows)}
    test_y = y[split == "test"]
    for decider, parts in probs.items():
        accuracy, recall = _score(parts, y_eval, oos)
        result[decider] = {"accuracy": round(accuracy, 4)}
        if recall is not None and oos is not None:
            result[decider]["oos_recall"] = round(recall, 4)
            result[decider]["at_oos_recall"] = _at_recall(parts["test"], test_y, oos)
    result["classifier_ece"] = round(
        expected_calibration_error(classifier.probabilities(served[split == "test"]), test_y), 4
    )
    result["temperature"] = round(classifier.temperature, 3)
    result["embed_s"] = round(embed_s, 1)
    result["train_s"] = round(train_s, 1)
    return result


def latency(routes: int, dim: int) -> dict[str, float]:
    """Batch-1 latency of a saved classifier with ``routes`` outputs, through onnxruntime."""
    rng = np.random.default_rng(0)
    probe = Classifier(
        tuple(f"r{i}" for i in range(routes)),
        rng.standard_normal((dim, routes)).astype(np.float32),
        np.zeros(routes, dtype=np.float32),
        1.0,
    )
    with tempfile.TemporaryDirectory() as folder:
        probe.save(Path(folder))
        served = OnnxClassifier(Path(folder))
    x = rng.standard_normal((1, dim)).astype(np.float32)
    return time_each(served.probabilities, [x] * 2000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="an eighth of each dataset")
    args = parser.parse_args()
    encoders = {
        name: OnnxEmbedder(HOME.encoder(name), threads=2, max_tokens=128)
        for name in ("use-m3", "minilm-l6")
    }
    results = [evaluate(name, encoders, args.quick) for name in ("clinc150", "snips", "mmlu_pro")]
    timing = latency(151, 512)
    meta = {"bench": "classifier", **machine()}
    emit(
        "classifier",
        [{**meta, **row} for row in results] + [{**meta, "latency_151_routes": timing}],
    )
    for row in results:
        line = f"{row['dataset']:<9}"
        for decider in DECIDERS:
            cell = row[decider]
            recall = f"/{cell['oos_recall']:.3f}" if "oos_recall" in cell else ""
            line += f"  {decider} {cell['accuracy']:.3f}{recall}"
        line += (
            f"  ECE {row['classifier_ece']:.3f}  T {row['temperature']}  train {row['train_s']} s"
        )
        print(line)
        if "at_oos_recall" in row["fused"]:
            for decider in DECIDERS:
                matched = row[decider]["at_oos_recall"]
                print(f"  {decider:<10} in-scope accuracy at test oos recall {matched}")
    print(f"classifier latency, 151 routes, batch 1: {timing}")


if __name__ == "__main__":
    main()
