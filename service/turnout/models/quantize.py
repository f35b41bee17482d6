"""Dynamic int8 quantization of an ONNX model's weights, per channel."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


def quantize(source: Path, out: Path, *, op_types: Sequence[str] | None) -> None:
    """Quantize ``source`` into ``out``; ``op_types`` None means every supported operator."""
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
