"""The route classifier as served: the ONNX graph that `turnout.training` writes, on onnxruntime."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import onnxruntime as ort

from turnout.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt


class OnnxClassifier:
    """A saved `Classifier`, served by onnxruntime. Thread-safe."""

    def __init__(self, folder: Path) -> None:
        """Load and verify ``classifier.onnx`` against ``classifier.json``.

        Raises:
            ConfigError: the files are missing or do not match.
        """
        try:
            meta: dict[str, Any] = json.loads((folder / "classifier.json").read_text())
            data = (folder / "classifier.onnx").read_bytes()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"no classifier in {folder}: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise ConfigError(f"{folder / 'classifier.onnx'} does not match classifier.json")
        self.labels: tuple[str, ...] = tuple(meta["labels"])
        self.temperature = float(meta["temperature"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])

    def probabilities(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Calibrated probabilities, ``(n, k)`` for embeddings ``(n, dim)``."""
        out: npt.NDArray[np.float32] = self._session.run(["probabilities"], {"embedding": x})[0]
        return out
