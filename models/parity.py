"""Parity of the served encoder with its reference: cosine between the int8 ONNX embeddings that
`OnnxEmbedder` serves and sentence-transformers' fp32 embeddings of the same prompts.

Prompts: 1,200 from ``../shared/data`` (CLINC150 test, MMLU-Pro, MBPP, GSM8K, MT-Bench), those
within the serving window of 256 tokens. Needs the build extras (torch, sentence-transformers).

    .venv/bin/python -m models.parity
"""

from __future__ import annotations

import json

import numpy as np

from benchmarks.common import emit, machine
from benchmarks.data import load_rows
from models.build import source_dir
from service.routing.encoder import DEFAULT_ENCODER_DIR, OnnxEmbedder

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
    return texts


def main() -> None:
    from sentence_transformers import SentenceTransformer  # noqa: PLC0415 - build extras

    served = OnnxEmbedder(DEFAULT_ENCODER_DIR, threads=2, max_tokens=256)
    # Longer prompts differ by design: the server keeps head and tail, the reference the head.
    every = prompts()
    texts = [text for text in every if len(served.tokenizer.encode(text).ids) <= 256]
    ours = np.concatenate([served.embed(texts[i : i + 1]) for i in range(len(texts))])
    reference = SentenceTransformer(str(source_dir()), device="cpu")
    reference.max_seq_length = 256
    theirs = reference.encode(texts, normalize_embeddings=True, batch_size=32)
    cosine = (ours * theirs).sum(axis=1)
    row = {
        "bench": "encoder_parity",
        "prompts": len(texts),
        "left_out_over_256_tokens": len(every) - len(texts),
        "cosine_mean": round(float(cosine.mean()), 4),
        "cosine_p1": round(float(np.percentile(cosine, 1)), 4),
        "cosine_min": round(float(cosine.min()), 4),
        "share_at_least_0_99": round(float((cosine >= 0.99).mean()), 4),
        **machine(),
    }
    emit("encoder_parity", [row])
    print(json.dumps(row))


if __name__ == "__main__":
    main()
