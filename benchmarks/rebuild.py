"""``turnout index rebuild`` on CLINC150's train split: cold, then with one exemplar changed.

15,100 exemplars over 151 routes (``oos`` included), built the way the command builds them (the
default encoder on two threads, `turnout.training.index.rebuild`): embedding, the classifier,
thresholds and the FAISS index. The cold build starts from an empty folder; the incremental one
changes one exemplar's text, so it embeds that one and reuses the rest. Reported: seconds for
each, the rows embedded and reused, and the peak RSS of this process.

    .venv/bin/python -m benchmarks.rebuild
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path

from benchmarks.common import HOME, emit, machine
from benchmarks.data import load_rows
from turnout.routing.encoder import OnnxEmbedder
from turnout.training.exemplars import load_exemplars
from turnout.training.index import rebuild


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def main() -> None:
    train = [
        {"text": row["text"], "route": row["label"]}
        for row in load_rows("clinc150")
        if row["split"] == "train"
    ]
    embedder = OnnxEmbedder(HOME.encoder(), threads=2, max_tokens=256)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        exemplars, out = Path(folder) / "exemplars.jsonl", Path(folder) / "index"
        for kind in ("cold", "one_changed"):
            if kind == "one_changed":
                train[0] = {**train[0], "text": train[0]["text"] + " please"}
            _write(exemplars, train)
            started = time.perf_counter()
            report = rebuild(load_exemplars(exemplars), out, embedder)
            results.append(
                {
                    "kind": kind,
                    "exemplars": len(train),
                    "seconds": round(time.perf_counter() - started, 2),
                    "embedded": report.embedded,
                    "reused": report.reused,
                }
            )
        built = machine(index=out)
    peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    emit(
        "rebuild", [{"bench": "rebuild", **built, **row, "peak_rss_mb": peak_mb} for row in results]
    )
    for row in results:
        print(
            f"{row['kind']:<12} {row['seconds']:6.1f} s  embedded {row['embedded']:>6}  "
            f"reused {row['reused']:>6}"
        )
    print(f"peak RSS {peak_mb} MB")


if __name__ == "__main__":
    main()
