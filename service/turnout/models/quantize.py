"""Int8 quantization of an ONNX encoder: weights per channel, activations on fixed scales.

onnxruntime's dynamic quantization scales each quantized input by the batch's own range, so a
prompt's vector, and its route, moved with the prompts batched beside it (the tuned e5's cosine
alone against beside 7 others 0.990 p50, 24 of 894 held-out prompts changing route:
`benchmarks/batch_mates.py`). Here each of those ranges is measured once, at build time, on a
fixed sample of the shipped default exemplars run one at a time, and written into the graph as
a constant: a row's vector depends on that row alone, at the same speed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from turnout.config import default_exemplars
from turnout.routing.encoder import head_and_tail

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from onnx import ModelProto

    from turnout.routing.tokens import TokenIds

TEXTS: Final = 512  # a seeded sample of the default exemplars: about 6 s through e5-small
TOKENS: Final = 256  # of a longer one, head and tail, as the server reads it
PERCENTILE: Final = 99.9  # of the texts' own extremes: one stray text does not widen a range
SEED: Final = 0
MICROSOFT: Final = "com.microsoft"


@dataclass(frozen=True, slots=True)
class Calibration:
    """Token ids of the texts that set the activation ranges, and the model's input names."""

    rows: list[list[int]]
    inputs: tuple[str, ...]


def calibration_files() -> list[Path]:
    """The files the calibration texts come from: an input of every encoder build."""
    return sorted(default_exemplars().glob("*.jsonl"))


def calibration(tokenizer: TokenIds, inputs: Sequence[str]) -> Calibration:
    """`TEXTS` of the default exemplars (every language and length among them), as read."""
    texts = [
        json.loads(line)["text"]
        for path in calibration_files()
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    chosen = np.random.default_rng(SEED).choice(len(texts), min(TEXTS, len(texts)), replace=False)
    rows = tokenizer.ids([texts[i] for i in sorted(chosen.tolist())])
    return Calibration([head_and_tail(row, TOKENS) for row in rows], tuple(inputs))


def quantize(
    source: Path, out: Path, *, op_types: Sequence[str] | None, calibration: Calibration
) -> None:
    """Quantize ``source`` into ``out``; ``op_types`` None means every supported operator."""
    import onnx  # noqa: PLC0415 - build time only

    dynamic(source, out, op_types=op_types)
    model = onnx.load(str(out))
    _fix_ranges(model, calibration)
    _fuse_matmuls(model)
    onnx.save(model, str(out))


def dynamic(source: Path, out: Path, *, op_types: Sequence[str] | None) -> None:
    """onnxruntime's dynamic quantization alone: each batch's own activation ranges.

    The first step of `quantize`, and what the encoders shipped before it (the benchmark of
    the two, ``benchmarks/quantization.py``, builds it).
    """
    import onnx  # noqa: PLC0415 - build time only
    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415

    logging.disable(logging.WARNING)  # the quantizer logs every tensor, and advises, on root
    try:
        quantize_dynamic(
            str(source),
            str(out),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=list(op_types) if op_types is not None else None,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        logging.disable(logging.NOTSET)


def _fix_ranges(model: ModelProto, calibration: Calibration) -> None:
    """Each ``DynamicQuantizeLinear`` becomes a ``QuantizeLinear`` on its calibrated range.

    The range is `PERCENTILE` of the calibration texts' minima and maxima of that input, taken
    as the dynamic model computes it, widened to hold 0 as ``DynamicQuantizeLinear``'s is;
    its scale and zero point become constants under the names the consumers already read.
    """
    from onnx import helper, numpy_helper  # noqa: PLC0415

    steps = [node for node in model.graph.node if node.op_type == "DynamicQuantizeLinear"]
    observed = [node.input[0] for node in steps]
    lows, highs = _extremes(model, observed, calibration)
    nodes = []
    for node in model.graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        name = node.input[0]
        low = min(0.0, float(np.percentile(lows[name], 100 - PERCENTILE)))
        high = max(0.0, float(np.percentile(highs[name], PERCENTILE)))
        scale = np.float32((high - low) / 255 if high > low else 1.0)
        zero = np.uint8(np.clip(np.rint(-low / scale), 0, 255))
        quantized, scale_name, zero_name = node.output
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(np.array(scale, np.float32), scale_name),
                numpy_helper.from_array(np.array(zero, np.uint8), zero_name),
            ]
        )
        nodes.append(helper.make_node("QuantizeLinear", [name, scale_name, zero_name], [quantized]))
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def _extremes(
    model: ModelProto, names: list[str], calibration: Calibration
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per calibration text, run alone, the minimum and maximum of each tensor in ``names``."""
    import onnx  # noqa: PLC0415
    import onnxruntime as ort  # noqa: PLC0415

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in names:
        probe.graph.output.append(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 0  # every core: a build step
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    lows: dict[str, list[float]] = {name: [] for name in names}
    highs: dict[str, list[float]] = {name: [] for name in names}
    for row in calibration.rows:
        ids = np.array([row], dtype=np.int64)
        feed = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids),
        }
        found = session.run(names, {name: feed[name] for name in calibration.inputs})
        for name, value in zip(names, found, strict=True):
            lows[name].append(float(value.min()))
            highs[name].append(float(value.max()))
    return lows, highs


def _fuse_matmuls(model: ModelProto) -> None:
    """``MatMulInteger``, ``Cast`` and ``Mul`` by the scales' product: ``MatMulIntegerToFloat``.

    onnxruntime fuses the dynamic form (``DynamicQuantizeMatMul``) but not this one; unfused,
    the int32 product takes two more passes.
    """
    from onnx import helper  # noqa: PLC0415

    consumers: dict[str, list[Any]] = {}
    producers = {output: node for node in model.graph.node for output in node.output}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    replaced: dict[int, Any] = {}
    dropped: set[int] = set()
    for node in model.graph.node:
        if node.op_type != "MatMulInteger":
            continue
        casts = consumers.get(node.output[0], [])
        if len(casts) != 1 or casts[0].op_type != "Cast":
            continue
        scaled = consumers.get(casts[0].output[0], [])
        if len(scaled) != 1 or scaled[0].op_type != "Mul":
            continue
        product = next(name for name in scaled[0].input if name != casts[0].output[0])
        scales = producers.get(product)
        if scales is None or scales.op_type != "Mul":
            continue
        quantized, weight, zero, weight_zero = node.input
        replaced[id(node)] = helper.make_node(
            "MatMulIntegerToFloat",
            [quantized, weight, *scales.input, zero, weight_zero],
            [scaled[0].output[0]],
            domain=MICROSOFT,
        )
        dropped.update((id(casts[0]), id(scaled[0])))
        if len(consumers[product]) == 1:
            dropped.add(id(scales))
    nodes = [replaced.get(id(node), node) for node in model.graph.node if id(node) not in dropped]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    if replaced and all(opset.domain != MICROSOFT for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MICROSOFT, 1))
