"""Tune the e5-small encoder on a route set: its top layers learn the routes, the rest stay frozen.

Recipe (chosen by measurement, ``benchmarks/tuning.py``):

1. The lower layers (all but the top `TUNED_LAYERS`) run once over every training text, in
   onnxruntime with the same int8 weights as the served encoder (the base build's
   ``lower.onnx``), and their token states are kept.
2. The top `TUNED_LAYERS` layers, in torch, learn to classify the routes: a cosine softmax
   over route vectors (scale 20, started at the routes' centroids) on the mean-pooled, unit
   embedding, cross-entropy, AdamW. Epochs: enough to see about `TARGET_TOKENS` tokens (the
   cost grows with them, not with rows), within `MIN_EPOCHS` and `MAX_EPOCHS`.
3. The tuned layers go back into the whole graph (`turnout.models.e5.write_graph`), which is
   quantized as the base encoder is, into an encoder folder of its own. Its manifest's
   ``read_tokens`` (`TRAIN_TOKENS`) caps what the server reads of a longer prompt to the head
   and tail it was tuned on: on the default taxonomy's longer dataset prompts
   (``benchmarks/long_prompts.py``), prompts of 256 tokens or more routed 0.920 against 0.847
   read at 256, at 18.5 against 34.6 ms p50; 160 to 256 tokens, 0.793 against 0.800.

Measured (``benchmarks/accuracy.py``, 2-core AMD EPYC): on CLINC150 the frozen encoder routes
0.864 in scope at 0.749 out-of-scope recall, this recipe 0.925 at 0.880; in a probe, training
the top four layers instead of two gained under a point at twice the cost. Keeping only the
first eight layers (`turnout.models.e5.TUNED_DEPTH`; a third less work per prompt) kept CLINC150
in-scope accuracy (0.921) but lost out-of-scope recall (0.795) and, above all, the languages
the routes were not taught in: MGSM problems routed from English routes fell to 0.62 (Swahili)
and 0.75 (Telugu, Japanese), against 0.87 or more in every language with all twelve.

Deterministic for given texts, labels and thread count: fixed seeds, deterministic torch
kernels, batches in a seeded order. Only the index build calls this (``turnout index rebuild
--tune``); serving never imports torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from turnout.errors import ConfigError
from turnout.models import e5
from turnout.routing.encoder import head_and_tail, length_groups
from turnout.routing.tokens import load_tokenizer, tokenizer_files

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt

    from turnout.routing.tokens import TokenIds

TUNED_LAYERS: Final = e5.TUNED_LAYERS
DEPTH: Final = e5.TUNED_DEPTH
TRAIN_TOKENS: Final = 128  # head and tail of longer exemplars, as the server keeps them
BATCH: Final = 32
TARGET_TOKENS: Final = 400_000
MIN_EPOCHS: Final = 1
MAX_EPOCHS: Final = 12
LAYER_LR: Final = 1e-4
HEAD_LR: Final = 1e-2
WEIGHT_DECAY: Final = 0.01
DROPOUT: Final = 0.1
SCALE: Final = 20.0
SEED: Final = 0
RECIPE: Final = "e5-top2-route-ce-v4"  # bump when the steps above change what they produce


@dataclass(frozen=True, slots=True)
class TuneReport:
    """What a tuning run did."""

    examples: int
    epochs: int
    steps: int
    seconds: float


def tunable(encoder: Path) -> bool:
    """Whether ``encoder`` (a built encoder folder, not a tuned one) is one this can tune."""
    try:
        manifest = json.loads((encoder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(manifest, dict)
        and manifest.get("recipe") == e5.RECIPE
        and "tuned" not in manifest
    )


def epochs_for(tokens: int) -> int:
    """About `TARGET_TOKENS` tokens in all, within `MIN_EPOCHS` and `MAX_EPOCHS`."""
    return max(MIN_EPOCHS, min(MAX_EPOCHS, round(TARGET_TOKENS / max(1, tokens))))


def tune(
    encoder: Path,
    examples: tuple[Sequence[str], npt.NDArray[np.int64]],
    out: Path,
    *,
    threads: int,
    progress: Callable[[int, int], None] = lambda _done, _total: None,
) -> TuneReport:
    """Tune ``encoder`` on ``examples`` (texts, their route numbers); write it to ``out``.

    ``out`` becomes an encoder folder like the base's (model, tokenizer, manifest), its manifest
    naming the base and the recipe. ``progress(done, total)`` counts steps, the frozen pass
    included.

    Raises:
        ConfigError: ``encoder`` is not a current e5-small build.
    """
    import torch  # noqa: PLC0415 - the build extra; never imported by the service

    from turnout.models.build import input_hash, sha256  # noqa: PLC0415
    from turnout.models.quantize import calibration, quantize  # noqa: PLC0415

    started = time.perf_counter()
    texts, labels = examples
    base = json.loads((encoder / "manifest.json").read_text())
    lower = base.get("tuning", {}).get("lower", {})
    if (
        not tunable(encoder)
        or base.get("input_sha256") != input_hash(e5)
        or lower.get("layers") != DEPTH - TUNED_LAYERS
        or sha256(encoder / e5.LOWER) != lower.get("sha256")
    ):
        raise ConfigError(
            f"{encoder}: not a current {e5.NAME} build, which tuning starts from: run "
            f"`turnout setup --encoder {e5.NAME}`"
        )
    torch.manual_seed(SEED)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    shape, _pieces, tensors = e5.read_weights(e5.weights_file())
    weights = e5.bert_weights(shape, tensors)
    frozen = DEPTH - TUNED_LAYERS
    with tempfile.TemporaryDirectory(prefix="turnout-tune-") as scratch:
        work = Path(scratch)
        tokenizer = load_tokenizer(encoder, base)
        batches = _frozen_states(encoder / e5.LOWER, tokenizer, texts, threads)
        epochs = epochs_for(sum(int(mask.sum()) for _, _, mask in batches))
        total = len(texts) + epochs * len(batches)
        progress(len(texts), total)
        top = _top_layers(weights, shape, frozen, DEPTH)
        head = torch.nn.Parameter(_centroids(top, batches, labels, int(labels.max()) + 1))
        optimizer = torch.optim.AdamW(
            [{"params": top.parameters(), "lr": LAYER_LR}, {"params": [head], "lr": HEAD_LR}],
            weight_decay=WEIGHT_DECAY,
        )
        order = np.random.default_rng(SEED)
        done = len(texts)
        for _ in range(epochs):
            top.train()
            for b in order.permutation(len(batches)):
                rows, hidden, mask = batches[b]
                logits = SCALE * top(hidden, mask) @ torch.nn.functional.normalize(head, dim=1).T
                loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels[rows]))
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                done += 1
                progress(done, total)
        tuned = weights | top.bert_weights()
        e5.write_graph(shape, tuned, work / "tuned.onnx", layers=DEPTH)
        out.mkdir(parents=True, exist_ok=True)
        # The base's ranges, on the same texts: the frozen layers quantize as in `e5.LOWER`.
        ranges = calibration(tokenizer, base["inputs"])
        quantize(work / "tuned.onnx", out / "model.onnx", op_types=None, calibration=ranges)
        for name in tokenizer_files(encoder):
            shutil.copyfile(encoder / name, out / name)
    seconds = time.perf_counter() - started
    manifest = {
        **{key: value for key, value in base.items() if key not in ("tuning", "input_sha256")},
        "name": f"{base['name']}+tuned",
        "layers": DEPTH,
        "read_tokens": TRAIN_TOKENS,
        "tuned": {
            "recipe": RECIPE,
            "base_sha256": base["files"]["model.onnx"],
            "layers": TUNED_LAYERS,
            "examples": len(texts),
            "examples_sha256": _examples_hash(texts, labels),
            "epochs": epochs,
            "threads": threads,
            "seconds": round(seconds, 1),
        },
        "files": {name: sha256(out / name) for name in ("model.onnx", *tokenizer_files(out))},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return TuneReport(len(texts), epochs, epochs * len(batches), seconds)


def _examples_hash(texts: Sequence[str], labels: npt.NDArray[np.int64]) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels.tolist(), strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


def _frozen_states(
    lower: Path, tokenizer: TokenIds, texts: Sequence[str], threads: int
) -> list[tuple[npt.NDArray[np.int64], Any, Any]]:
    """Token states out of the ``lower`` layers' graph, in batches of alike length.

    Each batch: its rows' positions in ``texts``, the states ``(rows, tokens, hidden)`` and
    the mask ``(rows, tokens)``, as torch tensors.
    """
    import onnxruntime as ort  # noqa: PLC0415
    import torch  # noqa: PLC0415

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(lower), options, providers=["CPUExecutionProvider"])
    rows = [head_and_tail(ids, TRAIN_TOKENS) for ids in tokenizer.ids(texts)]
    out = []
    for group in length_groups([len(row) for row in rows]):
        for start in range(0, len(group), BATCH):
            chunk = group[start : start + BATCH]
            width = max(len(rows[i]) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for j, i in enumerate(chunk):
                ids[j, : len(rows[i])] = rows[i]
                mask[j, : len(rows[i])] = 1
            (hidden,) = session.run(["hidden"], {"input_ids": ids, "attention_mask": mask})
            out.append((np.array(chunk), torch.from_numpy(hidden), torch.from_numpy(mask).float()))
    return out


def _centroids(
    top: Any, batches: list[tuple[npt.NDArray[np.int64], Any, Any]], labels: Any, routes: int
) -> Any:
    """Each route's mean embedding through the untuned top: where the route vectors start."""
    import torch  # noqa: PLC0415

    sums = torch.zeros(routes, top.hidden)
    top.eval()
    with torch.no_grad():
        for rows, hidden, mask in batches:
            sums.index_add_(0, torch.from_numpy(labels[rows]), top(hidden, mask))
    return torch.nn.functional.normalize(sums, dim=1)


# A tuned layer's parameters under their ``BertModel`` names (`turnout.models.e5.bert_weights`).
_NAMES: Final = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_dense": "attention.output.dense",
    "attention_norm": "attention.output.LayerNorm",
    "ffn_in": "intermediate.dense",
    "ffn_out": "output.dense",
    "ffn_norm": "output.LayerNorm",
}


def _top_layers(
    weights: dict[str, npt.NDArray[np.float32]], shape: e5.Shape, first: int, end: int
) -> Any:
    """Layers ``first`` to ``end - 1``, then pooling, as a torch module started from ``weights``."""
    import torch  # noqa: PLC0415

    nn = torch.nn
    heads, width = shape.heads, shape.hidden // shape.heads

    class Layer(nn.Module):
        """One BERT layer, computed as `turnout.models.e5.write_graph` computes it."""

        def __init__(self) -> None:
            super().__init__()
            h, f = shape.hidden, shape.ffn
            self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
            self.attention_dense = nn.Linear(h, h)
            self.attention_norm = nn.LayerNorm(h, eps=shape.eps)
            self.ffn_in, self.ffn_out = nn.Linear(h, f), nn.Linear(f, h)
            self.ffn_norm = nn.LayerNorm(h, eps=shape.eps)
            self.dropout = nn.Dropout(DROPOUT)

        def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            b, t, h = x.shape
            q, k, v = (
                part(x).view(b, t, heads, width).transpose(1, 2)
                for part in (self.query, self.key, self.value)
            )
            scores = q @ k.transpose(-1, -2) / math.sqrt(width) + bias
            context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, h)
            x = self.attention_norm(x + self.dropout(self.attention_dense(context)))
            inner = nn.functional.gelu(self.ffn_in(x))
            out: torch.Tensor = self.ffn_norm(x + self.dropout(self.ffn_out(inner)))
            return out

    class Top(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = shape.hidden
            self.layers = nn.ModuleDict({str(i): Layer() for i in range(first, end)})

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            bias = (1.0 - mask[:, None, None, :]) * -1e4
            for layer in self.layers.values():
                x = layer(x, bias)
            weights = mask.unsqueeze(-1)
            pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            return nn.functional.normalize(pooled, dim=1)

        def bert_weights(self) -> dict[str, npt.NDArray[np.float32]]:
            """The tuned parameters under their ``BertModel`` names."""
            return {
                f"encoder.layer.{i}.{_NAMES[ours]}.{kind}": value.detach().numpy()
                for name, value in self.layers.state_dict().items()
                for i, ours, kind in [name.split(".")]
            }

    top = Top()
    top.layers.load_state_dict(
        {
            f"{i}.{ours}.{kind}": torch.from_numpy(
                np.ascontiguousarray(weights[f"encoder.layer.{i}.{bert}.{kind}"])
            )
            for i in range(first, end)
            for ours, bert in _NAMES.items()
            for kind in ("weight", "bias")
        },
        strict=True,
    )
    return top
