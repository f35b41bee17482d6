"""The route classifier: it learns, calibrates, measures its calibration, and round-trips ONNX."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from turnout.errors import ConfigError
from turnout.routing.classifier import OnnxClassifier
from turnout.training.classifier import (
    Classifier,
    Examples,
    distillation_targets,
    expected_calibration_error,
    fit,
    negative_log_likelihood,
    one_hot,
    softmax,
)

if TYPE_CHECKING:
    from pathlib import Path

    import numpy.typing as npt


def clusters(
    seed: int, per_class: int = 60, noise: float = 0.35
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Three noisy clusters of unit vectors in 16 dimensions, overlapping a little."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((3, 16))
    labels = np.repeat(np.arange(3), per_class)
    x = centres[labels] + noise * rng.standard_normal((len(labels), 16)) * 2.5
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels.astype(np.int64)


def test_fit_learns_and_calibration_lowers_held_out_nll() -> None:
    x, y = clusters(0)
    held_out = np.zeros(len(y), dtype=bool)
    held_out[::4] = True
    model = fit(Examples(x, y, ("a", "b", "c"), held_out))
    x_test, y_test = clusters(0, per_class=200)
    accuracy = (model.probabilities(x_test).argmax(axis=1) == y_test).mean()
    assert accuracy > 0.8
    raw = softmax(model.logits(x_test))
    assert negative_log_likelihood(model.probabilities(x_test), y_test) <= (
        negative_log_likelihood(raw, y_test) + 1e-6
    )
    assert model.temperature != 1.0


def test_expected_calibration_error() -> None:
    labels = np.array([0, 0, 1, 1], dtype=np.int64)
    perfect = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    assert expected_calibration_error(perfect, labels) == pytest.approx(0.0)
    overconfident = np.array([[0.9, 0.1]] * 4, dtype=np.float32)  # right half the time
    assert expected_calibration_error(overconfident, labels) == pytest.approx(0.4)


def test_distillation_targets_mix_teacher_and_labels() -> None:
    labels = np.array([0, 1], dtype=np.int64)
    teacher = np.array([[0.0, 0.0], [4.0, 0.0]], dtype=np.float32)
    targets = distillation_targets(labels, teacher, temperature=1.0, weight=0.5)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(targets[0], [0.75, 0.25], rtol=1e-6)
    assert targets[1, 1] > 0.5 > targets[1, 0]
    np.testing.assert_array_equal(one_hot(labels, 2), [[1, 0], [0, 1]])


def test_onnx_round_trip_matches_numpy(tmp_path: Path) -> None:
    x, y = clusters(1)
    model = fit(Examples(x, y, ("a", "b", "c"), np.arange(len(y)) % 5 == 0))
    model.save(tmp_path)
    served = OnnxClassifier(tmp_path)
    assert served.labels == ("a", "b", "c")
    assert served.temperature == model.temperature
    np.testing.assert_allclose(served.probabilities(x), model.probabilities(x), atol=1e-5)


def test_altered_or_missing_classifier_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no classifier"):
        OnnxClassifier(tmp_path)
    weights = np.ones((4, 2), dtype=np.float32)
    Classifier(("a", "b"), weights, np.zeros(2, dtype=np.float32), 1.0).save(tmp_path)
    (tmp_path / "classifier.onnx").write_bytes(b"tampered")
    with pytest.raises(ConfigError, match="does not match"):
        OnnxClassifier(tmp_path)


def test_training_depends_only_on_its_examples() -> None:
    x, y = clusters(2)
    examples = Examples(x, y, ("a", "b", "c"), np.arange(len(y)) % 4 == 0)
    first, second = fit(examples), fit(examples)
    np.testing.assert_array_equal(first.weights, second.weights)
    np.testing.assert_array_equal(first.bias, second.bias)
    assert first.temperature == second.temperature
