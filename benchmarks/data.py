"""Read the labelled datasets in ``../shared/data``: rows of ``text``, ``label``, ``split``, ..."""

from __future__ import annotations

import json
from typing import Any

from benchmarks.common import ROOT

DATA = ROOT.parent / "shared" / "data"


def load_rows(
    dataset: str, *, file: str | None = None, split: str | None = None
) -> list[dict[str, Any]]:
    """Rows of ``dataset/<file or dataset>.jsonl``, optionally of one split, in file order."""
    path = DATA / dataset / f"{file or dataset}.jsonl"
    # bytes split on b"\n" only: texts hold characters that text-mode line splitting breaks on
    rows = [json.loads(line) for line in path.read_bytes().split(b"\n") if line.strip()]
    return [row for row in rows if split is None or row.get("split") == split]
