"""A loaded index build: kNN over its exemplars, its classifier and per-route thresholds.

A build folder (written by ``turnout index rebuild``, `turnout.training.index`) holds
``vectors.npy``, ``exemplars.jsonl``, ``knn.faiss``, ``classifier.onnx`` with
``classifier.json``, and ``manifest.json`` (build id, encoder and its sha256, routes with
thresholds). Loading checks that the files belong together and to the encoder in use.

A build tuned with its encoder (``turnout index rebuild --tune``) carries that encoder in
``encoder/`` and serves with it. Another build serves with ``routing.encoder``, or, when that is
unset, with the encoder folder its manifest names (``encoder.path``: the one it was built with).
A screened build (``--screen``) also holds ``screen/``: the same files for a faster encoder,
whose manifest names that encoder's folder, and its own manifest the screen's bar
(`turnout.training.screen`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import faiss
import numpy as np

from turnout.errors import ConfigError
from turnout.routing.classifier import OnnxClassifier
from turnout.routing.decision import Neighbour
from turnout.routing.encoder import OnnxEmbedder
from turnout.routing.knn import KnnRouter, fuse

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from turnout.config import RoutingSettings, Settings

SHOWN: Final = 3
"""Neighbours (and best routes) a decision's evidence shows."""
ENCODER_FOLDER: Final = "encoder"
"""Where a tuned build keeps its encoder."""
SCREEN: Final = "screen"
"""Where a screened build keeps its first stage: a faster encoder's kNN and classifier."""


def read_manifest(out: Path) -> dict[str, Any]:
    """The manifest of the build in ``out``; empty when there is none or it cannot be read."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def read_build_id(folder: Path) -> str | None:
    """The build id in a build's manifest, or None while it cannot be read."""
    found = read_manifest(folder).get("build_id")
    return found if isinstance(found, str) else None


class SemanticIndex:
    """A loaded index build: kNN over exemplars, the classifier, per-route thresholds."""

    def __init__(self, folder: Path, *, encoder_sha: str, routes: set[str]) -> None:
        """Load a build; check it belongs to the encoder and names only configured ``routes``.

        Raises:
            ConfigError: missing or inconsistent files, another encoder's build, or a route
                that is not configured.
        """
        try:
            manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
            lines = (folder / "exemplars.jsonl").read_bytes().split(b"\n")
            rows = [json.loads(line) for line in lines if line]
            index = faiss.read_index(str(folder / "knn.faiss"))
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"routing.index: cannot load {folder}: {exc}") from exc
        if manifest["encoder"]["sha256"] != encoder_sha:
            raise ConfigError(
                f"routing.index: {folder} was built with another encoder "
                f"({manifest['encoder']['name']}); rebuild it or set routing.encoder"
            )
        self.build_id: str = manifest["build_id"]
        self.classifier = OnnxClassifier(folder)
        self.routes = self.classifier.labels
        if tuple(manifest["routes"]) != self.routes or index.ntotal != len(rows):
            raise ConfigError(f"routing.index: the files in {folder} do not belong together")
        unknown = sorted(set(self.routes) - routes)
        if unknown:
            raise ConfigError(
                f"routing.index: routes {unknown} of {folder} are not configured routes"
            )
        self.thresholds = {
            route: float(manifest["routes"][route]["threshold"]) for route in self.routes
        }
        self.cache_floor = float(manifest.get("cache_floor", 0.0))
        """Reuse no decision of a prompt less similar than this (`routing.cache.threshold` too)."""
        position = {route: i for i, route in enumerate(self.routes)}
        labels = np.array([position[row["route"]] for row in rows], dtype=np.int64)
        self.texts = [row["text"] for row in rows]
        self.knn = KnnRouter(index, labels, self.routes)

    def score(
        self, vector: npt.NDArray[np.float32], neighbours: int
    ) -> tuple[npt.NDArray[np.float32], tuple[Neighbour, ...]]:
        """Fused route scores ``(routes,)`` for one embedding, and its nearest exemplars."""
        query = vector.reshape(1, -1)
        found = self.knn.neighbours(query, neighbours)
        fused = fuse(found, self.knn.votes(found), self.classifier.probabilities(query))[0]
        shown = tuple(
            Neighbour(self.texts[i], self.routes[self.knn.labels[i]], round(float(s), 4))
            for s, i in zip(found.similarities[0][:SHOWN], found.ids[0][:SHOWN], strict=True)
            if i >= 0
        )
        return fused, shown


def check_build(settings: Settings) -> None:
    """Check, from its manifest alone, that the configured index build can serve the config.

    `turnout serve` runs it before it starts, so that a build of other routes is a one-line
    config error rather than a failed start-up.

    Raises:
        ConfigError: no readable build, or a build with routes the config lacks.
    """
    folder = settings.routing.index
    if folder is None:
        return
    manifest = read_manifest(Path(folder))
    routes = manifest.get("routes")
    if not isinstance(routes, dict):
        raise ConfigError(f"routing.index: no readable index build in {folder}")
    unknown = sorted(set(routes) - {route.name for route in settings.routes})
    if unknown:
        raise ConfigError(
            f"routing.index: routes {unknown} of {folder} are not configured routes; "
            "rebuild the index from this config's routes, or add them to routes"
        )


@dataclass(frozen=True, slots=True)
class Loaded:
    """An index build and its encoder; a screened build's first stage too."""

    encoder: OnnxEmbedder
    index: SemanticIndex
    screen: Loaded | None = None
    """The fast encoder and its part of the build (``screen/``), asked first."""
    bar: float = 1.0
    """How sure the screen must be to decide (`turnout.training.screen`)."""
    unread: float = 1.0
    """The share of tokens unknown to the screen at which it passes a prompt on unread."""
    mix: float = 0.0
    """The screen's share of the scores a prompt it read and passed on is decided on."""
    busy_bar: float = 1.0
    """The screen's bar while the build's encoder is busy (at most ``bar``)."""


def load_semantic(
    settings: RoutingSettings,
    routes: set[str],
    *,
    current: Sequence[OnnxEmbedder] = (),
) -> Loaded:
    """Load the index the settings name and its encoders. Blocking: call it from a thread.

    The encoder is the build's own (``encoder/``) if it has one, else ``routing.encoder``, else
    the one the build's manifest names; a screened build's fast encoder is the one its
    ``screen/`` manifest names. An encoder in ``current`` is reused when it is that encoder.

    Raises:
        ConfigError: a file is missing or altered, the index names an unconfigured route, or
            no encoder is known for it.
    """
    if settings.index is None:
        raise ConfigError("routing.index: not set (settings not loaded?)")
    folder = Path(settings.index)
    manifest = read_manifest(folder)
    named = _named(manifest)
    if named.get("folder") == ENCODER_FOLDER:
        path = folder / ENCODER_FOLDER
    elif settings.encoder is not None:
        path = Path(settings.encoder)
    elif isinstance(named.get("path"), str):
        path = Path(named["path"])
    else:
        raise ConfigError(f"routing.encoder: not set, and {folder} names no encoder folder")
    encoder = _encoder(path, named.get("sha256"), settings, current)
    index = SemanticIndex(folder, encoder_sha=encoder.sha256, routes=routes)
    screened = manifest.get("screen")
    if not isinstance(screened, dict):
        return Loaded(encoder, index)
    first = folder / SCREEN
    fast = _named(read_manifest(first))
    if not isinstance(fast.get("path"), str):
        raise ConfigError(f"routing.index: {first} names no encoder folder")
    screen_encoder = _encoder(Path(fast["path"]), fast.get("sha256"), settings, current)
    screen = Loaded(
        screen_encoder, SemanticIndex(first, encoder_sha=screen_encoder.sha256, routes=routes)
    )
    return Loaded(
        encoder,
        index,
        screen,
        float(screened["bar"]),
        float(screened["unread"]),
        float(screened.get("mix", 0.0)),
        float(screened["busy_bar" if "busy_bar" in screened else "bar"]),
    )


def _named(manifest: dict[str, Any]) -> dict[str, Any]:
    """The encoder a build's manifest names."""
    named = manifest.get("encoder", {})
    return named if isinstance(named, dict) else {}


def _encoder(
    path: Path, sha256: object, settings: RoutingSettings, current: Sequence[OnnxEmbedder]
) -> OnnxEmbedder:
    """The encoder in ``path``: one of ``current`` if it has that ``sha256``, else loaded."""
    for loaded in current:
        if loaded.sha256 == sha256:
            return loaded
    return OnnxEmbedder(path, threads=settings.encoder_threads, max_tokens=settings.max_tokens)
