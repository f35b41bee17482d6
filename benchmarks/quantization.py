"""Activation ranges of the int8 e5-small: each batch's own (dynamic) or calibrated at build time.

Three builds of the same encoder in one run, from the same fp32 graph (`turnout.models.e5`):
``fp32``, ``dynamic`` (onnxruntime's dynamic quantization alone, `turnout.models.quantize.dynamic`,
what shipped before) and ``calibrated`` (`turnout.models.quantize.quantize`, what ships). Each is
served by `OnnxEmbedder` on 2 threads, with the shipped tokenizer. Measured:

- batch-1 latency at 16, 56 and 120 tokens, and a batch of 8 prompts of 16 tokens, the builds
  taking turns on every repeat (p50 / p99);
- parity: cosine to ``fp32`` of the taxonomy's held-out prompts, each embedded alone;
- batch dependence: cosine between a prompt embedded alone and beside `MATES` others (seeded).

    .venv/bin/python -m benchmarks.quantization [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Final

import numpy as np

from benchmarks.common import HOME, emit, machine, percentiles_ms
from benchmarks.encoder import text_of
from benchmarks.taxonomy import HELDOUT, heldout_rows
from turnout.models import e5
from turnout.models.quantize import calibration, dynamic, quantize
from turnout.routing.encoder import OnnxEmbedder
from turnout.routing.tokens import load_tokenizer

LENGTHS: Final = (16, 56, 120)
BATCH: Final = 8
MATES: Final = 7


def builds(folder: Path) -> dict[str, OnnxEmbedder]:
    """The three builds, each an encoder folder beside the shipped one's tokenizer files."""
    shipped = HOME.encoder("e5-small")
    manifest = json.loads((shipped / "manifest.json").read_text())
    shape, _, tensors = e5.read_weights(e5.weights_file())
    fp32 = folder / "fp32.onnx"
    e5.write_graph(shape, e5.bert_weights(shape, tensors), fp32)
    models = {"fp32": fp32, "dynamic": folder / "dynamic.onnx", "calibrated": folder / "cal.onnx"}
    dynamic(fp32, models["dynamic"], op_types=None)
    ranges = calibration(load_tokenizer(shipped, manifest), manifest["inputs"])
    quantize(fp32, models["calibrated"], op_types=None, calibration=ranges)
    out = {}
    for name, model in models.items():
        target = folder / name
        shutil.copytree(shipped, target, ignore=shutil.ignore_patterns("*.onnx"))
        shutil.copy(model, target / "model.onnx")
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
        (target / "manifest.json").write_text(
            json.dumps(manifest | {"files": manifest["files"] | {"model.onnx": digest}})
        )
        out[name] = OnnxEmbedder(target, threads=2, max_tokens=256)
    return out


def latency(encoders: dict[str, OnnxEmbedder], repeats: int) -> list[dict[str, object]]:
    """Every case, the builds taking turns on each repeat."""
    any_encoder = encoders["fp32"]
    cases = {f"{n} tokens": [text_of(any_encoder, n)] for n in LENGTHS}
    cases[f"{BATCH} x 16 tokens"] = [text_of(any_encoder, 16 + i % 2) for i in range(BATCH)]
    rows = []
    for case, texts in cases.items():
        samples: dict[str, list[float]] = {name: [] for name in encoders}
        for _ in range(10):
            for encoder in encoders.values():
                encoder.embed(texts)
        for _ in range(repeats):
            for name, encoder in encoders.items():
                started = time.perf_counter()
                encoder.embed(texts)
                samples[name].append(time.perf_counter() - started)
        rows += [{"case": case, "build": n, **percentiles_ms(s)} for n, s in samples.items()]
    return rows


def vectors(encoders: dict[str, OnnxEmbedder], texts: list[str]) -> list[dict[str, object]]:
    """Parity with ``fp32`` (each text alone), and alone against beside `MATES` others."""
    rng = np.random.default_rng(0)
    mates = [[texts[i] for i in rng.choice(len(texts), MATES, replace=False)] for _ in texts]
    alone = {name: [e.embed([t])[0] for t in texts] for name, e in encoders.items()}
    rows = []
    for name, encoder in encoders.items():
        parity = np.array([a @ b for a, b in zip(alone[name], alone["fp32"], strict=True)])
        beside = np.array(
            [
                encoder.embed([text, *others])[0] @ vector
                for text, others, vector in zip(texts, mates, alone[name], strict=True)
            ]
        )
        rows.append(
            {
                "build": name,
                "prompts": len(texts),
                "parity_mean": round(float(parity.mean()), 4),
                "parity_min": round(float(parity.min()), 4),
                "batched_p1": round(float(np.percentile(beside, 1)), 5),
                "batched_min": round(float(beside.min()), 5),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args()
    texts = [row["text"] for row in heldout_rows(HELDOUT)][: 40 if args.quick else 300]
    with tempfile.TemporaryDirectory() as folder:
        encoders = builds(Path(folder))
        timed = latency(encoders, 20 if args.quick else 200)
        compared = vectors(encoders, texts)
    meta = {"bench": "quantization", **machine()}
    emit("quantization", [{**meta, "kind": "latency", **row} for row in timed])
    emit("quantization", [{**meta, "kind": "vectors", **row} for row in compared])
    print(f"{'case':<18}" + "".join(f"{n + ' p50/p99 ms':>26}" for n in encoders))
    for case in dict.fromkeys(str(row["case"]) for row in timed):
        cells = [f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}" for r in timed if r["case"] == case]
        print(f"{case:<18}" + "".join(f"{cell:>26}" for cell in cells))
    for row in compared:
        print(json.dumps(row))
    print(machine())


if __name__ == "__main__":
    main()
