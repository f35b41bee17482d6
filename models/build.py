"""Build the serving encoders into ``models/build/<name>/``: ONNX model, tokenizer, manifest.

Encoders (one recipe module each): ``use-m3``, multilingual, the default (`models.use`), and
``minilm-l6``, English (`models.minilm`). Each build is staged in a temporary folder beside
its final place and renamed into it, so a crash leaves the previous build intact. A build whose
inputs (recipe, source package version, source files) hash the same as the existing one is
skipped, so ``make run`` and ``make test`` only pay for it once.

    .venv/bin/python -m models.build [--encoder NAME ...] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from models import minilm, use

if TYPE_CHECKING:
    from collections.abc import Sequence

BUILD: Final = Path(__file__).resolve().parent / "build"


class Recipe(Protocol):
    """What a recipe module provides."""

    NAME: str
    RECIPE: str
    SOURCE_PACKAGE: str

    def source_files(self) -> list[Path]: ...
    def build_into(self, staged: Path, work: Path) -> dict[str, Any]: ...


RECIPES: Final[dict[str, Recipe]] = {use.NAME: use, minilm.NAME: minilm}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_hash(recipe: Recipe) -> str:
    parts = [recipe.RECIPE, metadata.version(recipe.SOURCE_PACKAGE)]
    parts += [sha256(path) for path in recipe.source_files()]
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
            "files": {name: sha256(staged / name) for name in ("model.onnx", "tokenizer.json")},
            "input_sha256": wanted,
        }
        (staged / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            out.rename(work / "previous")
        staged.rename(out)
    print(f"{recipe.NAME}: built in {time.perf_counter() - started:.1f} s into {out}")
    return True


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", action="append", choices=sorted(RECIPES), dest="encoders")
    parser.add_argument("--out", type=Path, default=BUILD, help="folder of the builds")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # onnxruntime's quantizer advises at WARNING
    for name in args.encoders or sorted(RECIPES):
        if not build(RECIPES[name], args.out / name, force=args.force):
            print(f"{name}: up to date in {args.out / name}")


if __name__ == "__main__":
    main()
