"""Build a serving encoder into a folder: ONNX model, tokenizer, manifest.

Encoders (one recipe module each): ``use-m3``, multilingual, the default (`turnout.models.use`),
and ``minilm-l6``, English (`turnout.models.minilm`, needs the ``build`` extra: torch). Each
build is staged in a temporary folder beside its final place and renamed into it, so a crash
leaves the previous build intact. A build whose inputs (recipe, source package version, source
files, the default exemplars its activation ranges are calibrated on) hash the same as the
existing one is skipped, so ``turnout setup`` only pays for it once.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Final, Protocol

from turnout.models import e5, minilm, use
from turnout.models.quantize import calibration_files
from turnout.routing.tokens import tokenizer_files


class Recipe(Protocol):
    """What a recipe module provides."""

    NAME: str
    RECIPE: str
    SOURCE_PACKAGE: str

    def source_files(self) -> list[Path]: ...
    def build_into(self, staged: Path, work: Path) -> dict[str, Any]: ...


RECIPES: Final[dict[str, Recipe]] = {use.NAME: use, minilm.NAME: minilm, e5.NAME: e5}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_hash(recipe: Recipe) -> str:
    parts = [recipe.RECIPE, metadata.version(recipe.SOURCE_PACKAGE)]
    parts += [sha256(path) for path in (*recipe.source_files(), *calibration_files())]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def build(recipe: Recipe, out: Path, *, force: bool = False) -> bool:
    """Build ``recipe`` into ``out``; returns False when an identical build is already there."""
    wanted = input_hash(recipe)
    manifest_path = out / "manifest.json"
    if (
        not force
        and manifest_path.exists()
        and json.loads(manifest_path.read_text()).get("input_sha256") == wanted
    ):
        return False
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{recipe.NAME}-") as scratch:
        work = Path(scratch)
        staged = work / "staged"
        staged.mkdir()
        fields = recipe.build_into(staged, work)
        manifest = {
            "name": recipe.NAME,
            "recipe": recipe.RECIPE,
            **fields,
            "output": "embedding",
            "pooling": "inside the graph; outputs have unit length",
            "source": {
                "package": recipe.SOURCE_PACKAGE,
                "version": metadata.version(recipe.SOURCE_PACKAGE),
            },
            "files": {
                name: sha256(staged / name) for name in ("model.onnx", *tokenizer_files(staged))
            },
            "input_sha256": wanted,
        }
        (staged / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            out.rename(work / "previous")
        staged.rename(out)
    print(f"{recipe.NAME}: built in {time.perf_counter() - started:.1f} s into {out}")
    return True
