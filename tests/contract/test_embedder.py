"""The `Embedder` protocol, asserted for the hashing stand-in and the real ONNX encoder."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import numpy as np
import pytest

from tests.builds import USE_M3
from tests.fakes.embedder import HashEmbedder
from turnout.errors import ConfigError
from turnout.routing.encoder import (
    OnnxEmbedder,
    head_and_tail,
    length_groups,
)

if TYPE_CHECKING:
    from pathlib import Path

    from turnout.routing.encoder import Embedder


@pytest.fixture(scope="module")
def onnx_embedder() -> OnnxEmbedder:
    return OnnxEmbedder(USE_M3, threads=1, max_tokens=256)


@pytest.fixture(params=["hash", "onnx"])
def embedder(request: pytest.FixtureRequest) -> Embedder:
    if request.param == "hash":
        return HashEmbedder(64)
    found: OnnxEmbedder = request.getfixturevalue("onnx_embedder")
    return found


TEXTS = [
    "how do I reverse a linked list in python",
    "what is the capital of france",
    "write a short poem about the sea",
    "",
]


def test_vectors_have_unit_length_and_the_declared_shape(embedder: Embedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), embedder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_a_vector_does_not_depend_on_its_batch(embedder: Embedder) -> None:
    # The int8 encoders quantize activations on calibrated ranges, not the batch's own (which
    # moved a vector to cosine 0.993-0.996 beside others); padding is masked out.
    texts = TEXTS[:3]
    batch = embedder.embed(texts)
    for i, text in enumerate(texts):
        alone = embedder.embed([text])[0]
        np.testing.assert_allclose(alone, batch[i], atol=1e-5)


def test_similar_texts_are_nearer_than_unrelated_ones(embedder: Embedder) -> None:
    a, b, c = embedder.embed(
        [
            "how do I reverse a linked list in python",
            "reverse a linked list in python, how?",
            "recommend a good italian restaurant nearby",
        ]
    )
    assert float(a @ b) > float(a @ c)


def test_onnx_encoder_understands_paraphrase(onnx_embedder: OnnxEmbedder) -> None:
    a, b, c = onnx_embedder.embed(
        ["what's the weather like tomorrow", "will it rain tomorrow", "book a flight to rome"]
    )
    assert float(a @ b) > 0.5 > float(a @ c)


def test_long_prompts_keep_head_and_tail(onnx_embedder: OnnxEmbedder) -> None:
    assert head_and_tail(list(range(10)), 4) == [0, 1, 8, 9]
    assert head_and_tail([1, 2, 3], 4) == [1, 2, 3]
    filler = "lorem ipsum dolor sit amet " * 400
    question = "Translate the text above into French."
    long = onnx_embedder.embed([filler + question, filler, "translate this into french"])
    assert float(long[0] @ long[2]) > float(long[1] @ long[2])


def test_texts_of_unlike_length_run_in_separate_groups(onnx_embedder: OnnxEmbedder) -> None:
    assert length_groups([5, 300, 7, 40, 290]) == [[0, 2], [3], [4, 1]]
    assert length_groups([]) == []
    report = "Summarize this report. " + "The quarterly figures rose again. " * 60
    short = "what is the capital of france"
    together = onnx_embedder.embed([report, short, "and of spain"])
    # the short texts ran without the long one: as if embedded on their own
    np.testing.assert_allclose(together[1:], onnx_embedder.embed([short, "and of spain"]))
    assert float(together[0] @ onnx_embedder.embed([report])[0]) > 0.999


def test_missing_or_altered_build_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no encoder build"):
        OnnxEmbedder(tmp_path, threads=1, max_tokens=128)
    for name in ("manifest.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((USE_M3 / name).read_bytes())
    (tmp_path / "model.onnx").write_bytes(b"not the model")
    with pytest.raises(ConfigError, match="does not match its manifest"):
        OnnxEmbedder(tmp_path, threads=1, max_tokens=128)
    with pytest.raises(ConfigError, match="over the encoder's 4096"):
        OnnxEmbedder(USE_M3, threads=1, max_tokens=5000)


def test_serving_never_imports_torch_or_the_trainers() -> None:
    script = (
        "import sys\n"
        "import turnout.cli\n"
        "from turnout.app import create_app\n"
        "from turnout.config import load_settings\n"
        "from turnout.home import data_home\n"
        "from turnout.routing.encoder import OnnxEmbedder\n"
        "create_app(load_settings(None, {}))\n"
        "OnnxEmbedder(data_home({}).encoder(), threads=1, max_tokens=64).embed(['hello'])\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'onnx',"
        " 'turnout.training', 'turnout.models') if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')\n"
    )
    out = subprocess.run(  # noqa: S603 - the test's own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "none"
