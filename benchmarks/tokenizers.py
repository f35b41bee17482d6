"""e5-small's two tokenizers: SentencePiece (served) against the `tokenizers` file, in one run.

For the ``e5-small`` build in the data directory: the memory each tokenizer holds once loaded
(RSS growth of a fresh process that loads it, ``/proc``), the time to tokenize the prompts
(the default taxonomy's exemplars, its two held-out sets and CLINC150 test prompts, when the
datasets are there), how many prompts get the same ids, and one caller's embedding p50/p99
per prompt with each (alternating blocks, so drift hits both alike).

    .venv/bin/python -m benchmarks.tokenizers
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import HOME, ROOT, emit, machine, percentiles_ms
from benchmarks.data import DATA, load_rows
from turnout.routing.encoder import OnnxEmbedder

LOAD = """
import json, sys
from pathlib import Path
def rss():
    status = Path("/proc/self/status").read_text()
    return int(next(l for l in status.splitlines() if l.startswith("VmRSS")).split()[1])
from turnout.routing import tokens
folder = Path(sys.argv[1])
before = rss()
tokens.load_tokenizer(folder, json.loads((folder / "manifest.json").read_text()))
print((rss() - before) / 1024)
"""


def prompts() -> list[str]:
    texts = []
    for path in (ROOT / "service/turnout/defaults/exemplars").glob("*.jsonl"):
        texts += [json.loads(line)["text"] for line in path.read_text().splitlines() if line]
    for path in (ROOT / "index").glob("heldout*/*.jsonl"):
        texts += [json.loads(line)["text"] for line in path.read_text().splitlines() if line]
    if DATA.is_dir():
        texts += [row["text"] for row in load_rows("clinc150", split="test")]
    return texts


def without_sentencepiece(folder: Path, into: Path) -> Path:
    """A copy of the build served by its `tokenizers` file, as builds were before."""
    copy = into / "e5-tokenizers"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("lower.onnx", "tokenizer.model"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest.pop("sentencepiece")
    manifest["files"].pop("tokenizer.model")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def loaded_mb(folder: Path) -> float:
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", LOAD, str(folder)], capture_output=True, text=True, check=True
    )
    return round(float(done.stdout.strip()), 1)


def main() -> None:
    served = HOME.encoder("e5-small")
    texts = prompts()
    with tempfile.TemporaryDirectory() as scratch:
        variants = {
            "sentencepiece": served,
            "tokenizers": without_sentencepiece(served, Path(scratch)),
        }
        embedders = {
            name: OnnxEmbedder(folder, threads=2, max_tokens=256)
            for name, folder in variants.items()
        }
        rows: list[dict[str, Any]] = []
        ids = {}
        for name, embedder in embedders.items():
            started = time.perf_counter()
            ids[name] = embedder.tokenizer.ids(texts)
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "tokenizer": name,
                    "loaded_mb": loaded_mb(variants[name]),
                    "tokenize_us_per_prompt": round(seconds / len(texts) * 1e6, 1),
                }
            )
        same = sum(a == b for a, b in zip(ids["sentencepiece"], ids["tokenizers"], strict=True))
        sample = texts[:: max(1, len(texts) // 400)]
        samples: dict[str, list[float]] = {name: [] for name in embedders}
        for block in range(0, len(sample), 20):
            for name, embedder in embedders.items():
                for text in sample[block : block + 20]:
                    began = time.perf_counter()
                    embedder.embed([text])
                    samples[name].append(time.perf_counter() - began)
        for row in rows:
            row["embed"] = percentiles_ms(samples[row["tokenizer"]])
            row["prompts"] = len(texts)
            row["same_ids"] = same
            row["machine"] = machine()
    for row in rows:
        print({key: value for key, value in row.items() if key != "machine"})
    emit("tokenizers", rows)


if __name__ == "__main__":
    main()
