"""Does a prompt's embedding, and its route, depend on the prompts batched with it?

The int8 encoders quantize activations dynamically, one scale per batch, so a prompt embedded
beside others can come out a little different from the same prompt alone; under load the
`MicroBatcher` embeds prompts in such batches. For each encoder of the shipped default index
(the screen's and the tuned one), every prompt of the taxonomy's held-out sets is embedded alone
and then with `MATES` others drawn at random from them (seeded), and scored by that encoder's
part of the build: the cosine between the two vectors, and how many prompts change route.

    .venv/bin/python -m benchmarks.batch_mates
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import numpy as np

from benchmarks.common import default_index, emit, machine
from benchmarks.taxonomy import HELDOUT, heldout_rows
from turnout.routing.encoder import OnnxEmbedder
from turnout.routing.focus import FocusedEmbedder
from turnout.routing.index import SCREEN, SemanticIndex

MATES: Final = 7
SETS: Final = ("heldout", "heldout2", "heldout4")


def stage_folder(index: Path, folder: Path) -> Path:
    """Where the encoder of the build part in ``folder`` is."""
    named = json.loads((folder / "manifest.json").read_text())["encoder"]
    return index / named["folder"] if "folder" in named else Path(named["path"])


def main() -> None:
    index = default_index()
    rows = [row for name in SETS for row in heldout_rows(HELDOUT.parent / name)]
    texts = [row["text"] for row in rows]
    routes = {row["route"] for row in rows}
    out = []
    for folder in (index / SCREEN, index):
        encoder = OnnxEmbedder(stage_folder(index, folder), threads=2, max_tokens=256)
        embed = FocusedEmbedder(encoder).embed
        part = SemanticIndex(folder, encoder_sha=encoder.sha256, routes=routes)
        rng = np.random.default_rng(0)
        cosines, changed, right = [], 0, [0, 0]
        for row, text in zip(rows, texts, strict=True):
            mates = [texts[i] for i in rng.choice(len(texts), MATES, replace=False)]
            alone, batched = embed([text])[0], embed([text, *mates])[0]
            cosines.append(float(alone @ batched))
            found = [part.routes[int(part.score(v, 10)[0].argmax())] for v in (alone, batched)]
            changed += found[0] != found[1]
            right = [r + (f == row["route"]) for r, f in zip(right, found, strict=True)]
        cos = np.array(cosines)
        result = {
            "encoder": encoder.name,
            "prompts": len(rows),
            "mates": MATES,
            "cosine_p50": round(float(np.median(cos)), 4),
            "cosine_p1": round(float(np.percentile(cos, 1)), 4),
            "cosine_min": round(float(cos.min()), 4),
            "route_changed": changed,
            "right_alone": right[0],
            "right_batched": right[1],
        }
        out.append({"machine": machine(index=index), **result})
        print(
            f"{encoder.name}: cosine alone against batched p50 {result['cosine_p50']}, "
            f"min {result['cosine_min']}; {changed} of {len(rows)} change route "
            f"(right {right[0]} alone, {right[1]} batched)"
        )
    emit("batch_mates", out)


if __name__ == "__main__":
    main()
