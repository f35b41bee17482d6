"""The route classifier: a calibrated softmax over the encoder's embeddings, trained with numpy.

A cosine classifier (unit-length inputs, logit scale 20) fitted by full-batch Adam from the
routes' mean embeddings, optionally on distillation targets (a teacher's softened probabilities
mixed with the hard labels); it depends only on its inputs, never on an earlier build. A
temperature fitted on held-out rows calibrates its confidence, so per-route thresholds mean
something. It is saved as a small ONNX graph (scale and temperature folded into the weights)
with a JSON sidecar; `turnout.routing.classifier` serves it with onnxruntime. Training needs no
torch and takes seconds.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
from onnx import TensorProto, checker, helper, numpy_helper

if TYPE_CHECKING:
    from pathlib import Path

    import numpy.typing as npt

LOGIT_SCALE: Final = 20.0
# From the routes' mean embeddings, 100 steps reach what 300 from zero did, in a third of the
# time (`benchmarks/classifier.py`, CLINC150: fused in-scope accuracy 0.878 against 0.880 at
# test out-of-scope recall 0.8, before fusion was scaled by familiarity; training 5.7 against
# 17.8 s). 300 steps from the mean embeddings: 0.919 against 0.916 (a script outside
# `benchmarks/`, on this fusion), not worth three times the training.
STEPS: Final = 100
LEARNING_RATE: Final = 0.05
WEIGHT_DECAY: Final = 1e-4
TEMPERATURES: Final = np.exp(np.linspace(np.log(0.05), np.log(10.0), 80))


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Row-wise softmax of ``(n, k)`` logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: npt.NDArray[np.float32] = exp / exp.sum(axis=1, keepdims=True)
    return out


def one_hot(labels: npt.NDArray[np.int64], classes: int) -> npt.NDArray[np.float32]:
    """``(n, classes)`` indicator rows."""
    out: npt.NDArray[np.float32] = np.eye(classes, dtype=np.float32)[labels]
    return out


def distillation_targets(
    labels: npt.NDArray[np.int64],
    teacher_logits: npt.NDArray[np.float32],
    *,
    temperature: float = 2.0,
    weight: float = 0.5,
) -> npt.NDArray[np.float32]:
    """Mix the teacher's probabilities at ``temperature`` with the hard labels."""
    soft = softmax(teacher_logits / temperature)
    mixed: npt.NDArray[np.float32] = (
        weight * soft + (1 - weight) * one_hot(labels, teacher_logits.shape[1])
    ).astype(np.float32)
    return mixed


def centroids(
    x: npt.NDArray[np.float32], targets: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """``(dim, k)``: each class's target-weighted mean embedding, at unit length."""
    weights: npt.NDArray[np.float32] = (x.T @ targets).astype(np.float32)
    weights /= np.maximum(np.linalg.norm(weights, axis=0, keepdims=True), 1e-9)
    return weights


def train(
    x: npt.NDArray[np.float32], targets: npt.NDArray[np.float32], *, steps: int = STEPS
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Fit weights ``(dim, k)`` and bias ``(k,)`` to target distributions ``(n, k)``.

    Deterministic: it starts from the classes' mean embeddings and takes full batches.
    """
    weights = centroids(x, targets)
    bias = np.zeros(targets.shape[1], dtype=np.float32)
    params = (weights, bias)
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    for step in range(1, steps + 1):
        grad = (softmax(x @ weights * LOGIT_SCALE + bias) - targets) / len(x)
        grads = (x.T @ grad * LOGIT_SCALE + WEIGHT_DECAY * weights, grad.sum(axis=0))
        for param, g, m, v in zip(params, grads, first, second, strict=True):
            m[...] = 0.9 * m + 0.1 * g
            v[...] = 0.999 * v + 0.001 * g * g
            m_hat = m / (1 - 0.9**step)
            v_hat = v / (1 - 0.999**step)
            param[...] -= LEARNING_RATE * m_hat / (np.sqrt(v_hat) + 1e-8)
    return weights, bias


def negative_log_likelihood(probs: npt.NDArray[np.float32], labels: npt.NDArray[np.int64]) -> float:
    """Mean NLL of the true labels."""
    return float(-np.log(probs[np.arange(len(labels)), labels] + 1e-12).mean())


def fit_temperature(logits: npt.NDArray[np.float32], labels: npt.NDArray[np.int64]) -> float:
    """The temperature that minimises held-out NLL (grid search, 0.05 to 10)."""
    scores = [negative_log_likelihood(softmax(logits / t), labels) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(scores))])


def expected_calibration_error(
    probs: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], bins: int = 15
) -> float:
    """ECE: the gap between confidence and accuracy, weighted over equal-width bins."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


@dataclass(frozen=True)
class Classifier:
    """A trained, calibrated classifier: probabilities over ``labels``."""

    labels: tuple[str, ...]
    weights: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    temperature: float

    def logits(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Uncalibrated logits, ``(n, k)`` for embeddings ``(n, dim)``."""
        out: npt.NDArray[np.float32] = x @ self.weights * LOGIT_SCALE + self.bias
        return out

    def probabilities(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Calibrated probabilities, ``(n, k)``."""
        return softmax(self.logits(x) / self.temperature)

    def save(self, folder: Path) -> None:
        """Write ``classifier.onnx`` and ``classifier.json`` (labels, temperature, sha256)."""
        folder.mkdir(parents=True, exist_ok=True)
        scale = LOGIT_SCALE / self.temperature
        weights = numpy_helper.from_array((self.weights * scale).astype(np.float32), "weights")
        bias = numpy_helper.from_array((self.bias / self.temperature).astype(np.float32), "bias")
        nodes = [
            helper.make_node("MatMul", ["embedding", "weights"], ["scaled"]),
            helper.make_node("Add", ["scaled", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ]
        dim, classes = self.weights.shape
        graph = helper.make_graph(
            nodes,
            "route_classifier",
            [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dim])],
            [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", classes])],
            [weights, bias],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        checker.check_model(model)
        data = model.SerializeToString()
        (folder / "classifier.onnx").write_bytes(data)
        meta = {
            "labels": list(self.labels),
            "temperature": self.temperature,
            "dim": dim,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        (folder / "classifier.json").write_text(json.dumps(meta, indent=2) + "\n")


@dataclass(frozen=True)
class Examples:
    """Embeddings ``(n, dim)``, their label indexes into ``names``, and the held-out rows."""

    x: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]
    names: tuple[str, ...]
    held_out: npt.NDArray[np.bool_]


def fit(examples: Examples, *, targets: npt.NDArray[np.float32] | None = None) -> Classifier:
    """Train on the rows not held out, then fit the temperature on the held-out rows.

    The training goal is ``targets`` (e.g. distillation targets, one row per example) when
    given, else the labels.
    """
    x, labels, names, held_out = examples.x, examples.labels, examples.names, examples.held_out
    keep = ~held_out
    goal = targets[keep] if targets is not None else one_hot(labels[keep], len(names))
    weights, bias = train(x[keep], goal)
    draft = Classifier(names, weights, bias, 1.0)
    temperature = fit_temperature(draft.logits(x[held_out]), labels[held_out])
    return Classifier(names, weights, bias, temperature)
