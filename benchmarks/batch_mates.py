"""Does a prompt's embedding, and its route, depend on the prompts batched with it?

Under load the `MicroBatcher` embeds prompts in batches. Int8 encoders that quantize
activations dynamically, one scale per batch, make a prompt embedded beside others come out a
little different from the same prompt alone; the shipped ones use ranges calibrated at build
time (`turnout.models.quantize`), and this checks that they do not. For each encoder of the
shipped default index (the screen's and the tuned one), every prompt of the taxonomy's held-out
sets is embedded alone and then with `MATES` others drawn at random from them (seeded), and
scored by that encoder's part of the build: the cosine between the two vectors, and how many
prompts change route.

    .venv/bin/python -m benchmarks.batch_mates
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np

from benchmarks.common import emit, machine
from benchmarks.taxonomy import HELDOUT, heldout_rows
from turnout.config import load_settings
from turnout.routing.focus import FocusedEmbedder
from turnout.routing.index import load_semantic

MATES: Final = 7
SETS: Final = ("heldout", "heldout2", "heldout4")


def main() -> None:
    settings = load_settings(None, {})
    index = Path(str(settings.routing.index))
    loaded = load_semantic(settings.routing, {route.name for route in settings.routes})
    rows = [row for name in SETS for row in heldout_rows(HELDOUT.parent / name)]
    texts = [row["text"] for row in rows]
    out = []
    for stage in (loaded.screen, loaded):
        if stage is None:
            continue
        encoder, part = stage.encoder, stage.index
        embed = FocusedEmbedder(encoder).embed
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
