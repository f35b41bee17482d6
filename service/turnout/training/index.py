"""``turnout index rebuild``: embed exemplars, index them, train and calibrate the classifier.

A build folder holds ``vectors.npy`` (unit embeddings, ``(n, dim)``), ``exemplars.jsonl`` (text,
route and content hash per row, in the same order), ``knn.faiss``, the classifier
(``classifier.onnx`` and ``classifier.json``) and ``manifest.json`` (build id, encoder and its
sha256, routes with counts, held-out accuracy and thresholds). A rebuild embeds only texts whose
hash is not in the previous build made with the same encoder; it is staged beside the output
and renamed into place, so a crash or Ctrl-C leaves the previous build usable.

With ``tune``, the encoder is first tuned on the exemplars that are not held out
(`turnout.models.tune`); the tuned encoder is a folder of the build, ``encoder/``, whose model
sha256 is the build's encoder, and serving loads it with the build (`turnout.routing.index`).

With ``screen``, a faster frozen encoder gets its own part of the build in ``screen/`` (vectors,
kNN and classifier, fitted on the same held-out split), and the manifest its bar
(`turnout.training.screen`): serving asks it first, and the build's encoder only when it is
unsure.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import faiss
import numpy as np

from turnout.routing.focus import FocusedEmbedder
from turnout.routing.index import ENCODER_FOLDER, SCREEN, read_manifest
from turnout.routing.knn import KnnRouter, build_index, fuse
from turnout.routing.language import LanguageDetector
from turnout.training.classifier import Classifier, Examples, fit
from turnout.training.screen import OTHER_LANGUAGE, SCREEN_FORMAT, fit_bar, fit_mix, learnable

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    from turnout.routing.encoder import Embedder, OnnxEmbedder
    from turnout.training.exemplars import ExemplarSet

HELD_OUT_SHARE: Final = 0.15
NEIGHBOURS: Final = 10
THRESHOLD_PERCENTILE: Final = 2
MIN_FOR_OWN_THRESHOLD: Final = 100
BATCH: Final = 64
# Part of every build id: raise it when a change to the build itself (training, thresholds,
# files) must make existing builds count as out of date.
BUILD_FORMAT: Final = "9"
CACHE_PERCENTILE: Final = 99
FLOOR_CHUNK: Final = 256


def text_hash(text: str) -> str:
    """Content key of an exemplar's text."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a rebuild did."""

    build_id: str
    routes: dict[str, dict[str, Any]]
    exemplars: int
    embedded: int
    reused: int
    seconds: float
    up_to_date: bool = False
    screen: dict[str, Any] | None = None
    """The manifest's ``screen`` entry: its bar and held-out figures."""


def build_id_of(encoder_sha: str, rows: list[dict[str, str]], percentile: float) -> str:
    """The build's identity: format, encoder, threshold percentile, every exemplar and route."""
    identity = sorted(f"{row['hash']} {row['route']}" for row in rows)
    fields = [BUILD_FORMAT, encoder_sha, f"percentile {percentile:g}", *identity]
    return hashlib.sha256("\n".join(fields).encode()).hexdigest()[:16]


def held_out_rows(labels: npt.NDArray[np.int64], seed: int = 0) -> npt.NDArray[np.bool_]:
    """About 15% of each route's rows, at least one, never all of them."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), dtype=bool)
    for route in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == route))
        take = min(len(rows) - 1, max(1, round(len(rows) * HELD_OUT_SHARE)))
        held[rows[:take]] = True
    return held


def _previous(out: Path, identity: str) -> dict[str, npt.NDArray[np.float32]]:
    """The previous build's vectors by text hash.

    Nothing is reused from a build of another format or encoder (its files' ``identity``:
    model and tokenizer), or one that cannot be read.
    """
    manifest = read_manifest(out)
    if (
        manifest.get("format") != BUILD_FORMAT
        or manifest.get("encoder", {}).get("identity") != identity
    ):
        return {}
    try:
        vectors = np.load(out / "vectors.npy")
        lines = (out / "exemplars.jsonl").read_bytes().split(b"\n")
        hashes = [json.loads(line)["hash"] for line in lines if line]
    except (OSError, ValueError, KeyError):
        return {}
    return dict(zip(hashes, vectors, strict=True))


def _embed(
    texts: list[str],
    hashes: list[str],
    known: dict[str, npt.NDArray[np.float32]],
    embedder: Embedder,
    progress: Callable[[int], None],
) -> tuple[npt.NDArray[np.float32], int]:
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    missing = [i for i, key in enumerate(hashes) if key not in known]
    for i, key in enumerate(hashes):
        if key in known:
            vectors[i] = known[key]
    progress(len(texts) - len(missing))
    for start in range(0, len(missing), BATCH):
        rows = missing[start : start + BATCH]
        vectors[rows] = embedder.embed([texts[i] for i in rows])
        progress(len(rows))
    return vectors, len(missing)


def _thresholds(
    probs: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    routes: tuple[str, ...],
    percentile: float,
) -> dict[str, dict[str, float]]:
    """Per route: held-out accuracy, and the confidence below which the route is not trusted.

    The threshold is a low ``percentile`` (by default the 2nd, `THRESHOLD_PERCENTILE`) of the
    fused confidence of correctly routed held-out rows: at the 2nd, a prompt less sure than 98%
    of them goes to the default. A higher percentile sends more prompts to the default route.
    Every route's rows are pooled, unless a route has `MIN_FOR_OWN_THRESHOLD` of its own: a low
    percentile of a few dozen rows is one outlier. On CLINC150 (15 held-out rows per route,
    ``oos`` the default route), the router built this way routes its test split at 0.911
    in-scope accuracy and 0.844 out-of-scope recall (``benchmarks/routing_peers.py``; with 10 and
    30 exemplars per route, 0.811 and 0.666, 0.877 and 0.826). The 2nd percentile is the lowest
    that kept out-of-scope recall above 0.8 on both the val and the test split (the same
    benchmark): the 1st gave 0.927 and 0.85 on val but 0.926 and 0.762 on test; the 3rd and 5th
    gave 0.894 and 0.882, 0.869 and 0.921 on test.
    """
    chosen = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    correct = chosen == labels
    pooled = float(np.percentile(confidence[correct], percentile)) if correct.any() else 0.0
    out: dict[str, dict[str, float]] = {}
    for r, route in enumerate(routes):
        rows = labels == r
        right = rows & correct
        own = int(right.sum()) >= MIN_FOR_OWN_THRESHOLD
        threshold = float(np.percentile(confidence[right], percentile)) if own else pooled
        out[route] = {
            "held_out": int(rows.sum()),
            "held_out_accuracy": round(float((chosen[rows] == r).mean()), 4),
            "threshold": round(threshold, 4),
        }
    return out


def cache_floor(
    held: npt.NDArray[np.float32],
    held_labels: npt.NDArray[np.int64],
    train: npt.NDArray[np.float32],
    train_labels: npt.NDArray[np.int64],
) -> float:
    """How close a held-out row comes to an exemplar of another route: the `CACHE_PERCENTILE`th.

    A near-duplicate reuses a cached decision only at or above it (and `routing.cache.threshold`):
    prompts of two routes that close are not near-duplicates. It is the encoder's scale: on
    the default taxonomy 0.71 for ``use-m3``, 0.64 for ``e5-small`` tuned, 0.95 for ``e5-small``
    frozen, which packs every prompt close together.
    """
    nearest = np.empty(len(held), dtype=np.float32)
    for start in range(0, len(held), FLOOR_CHUNK):
        rows = slice(start, start + FLOOR_CHUNK)
        similar = held[rows] @ train.T
        similar[held_labels[rows, None] == train_labels[None, :]] = -1.0
        nearest[rows] = similar.max(axis=1)
    return float(np.percentile(nearest, CACHE_PERCENTILE)) if len(held) else 0.0


@dataclass(frozen=True, slots=True)
class _Split:
    """The build's exemplars: rows (text, route, hash), route numbers, held-out mask, routes."""

    rows: list[dict[str, str]]
    labels: npt.NDArray[np.int64]
    held: npt.NDArray[np.bool_]
    routes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Fitted:
    """One encoder's part of a build: its vectors, classifier, and held-out fused scores."""

    vectors: npt.NDArray[np.float32]
    classifier: Classifier
    fused: npt.NDArray[np.float32]
    """Fused route scores of the held-out rows, ``(held, routes)``."""
    embedded: int


def _fit(
    embedder: OnnxEmbedder, split: _Split, *, previous: Path, progress: Callable[[int], None]
) -> _Fitted:
    """Embed (reusing ``previous`` build's vectors), train the classifier, score held-out rows."""
    rows, labels, held, routes = split.rows, split.labels, split.held, split.routes
    texts = [row["text"] for row in rows]
    known = _previous(previous, embedder.identity)
    hashes = [row["hash"] for row in rows]
    vectors, embedded = _embed(texts, hashes, known, FocusedEmbedder(embedder), progress)
    classifier = fit(Examples(vectors, labels, routes, held))
    # Exact search for the held-out rows: one batched query, and thresholds fitted on true
    # neighbours.
    knn = KnnRouter(build_index(vectors[~held], exact=True), labels[~held], routes)
    found = knn.neighbours(vectors[held], NEIGHBOURS)
    fused = fuse(found, knn.votes(found), classifier.probabilities(vectors[held]))
    return _Fitted(vectors, classifier, fused, embedded)


def _manifest(  # noqa: PLR0913 - the manifest's parts, each a keyword
    fitted: _Fitted,
    embedder: OnnxEmbedder,
    split: _Split,
    *,
    build_id: str,
    percentile: float,
    tuned: bool,
) -> dict[str, Any]:
    """A stage's manifest: build id, encoder, per-route thresholds and the cache floor."""
    labels, held, routes = split.labels, split.held, split.routes
    per_route = _thresholds(fitted.fused, labels[held], routes, percentile)
    floor = cache_floor(fitted.vectors[held], labels[held], fitted.vectors[~held], labels[~held])
    encoder: dict[str, Any] = {
        "name": embedder.manifest["name"],
        "sha256": embedder.sha256,
        "identity": embedder.identity,
        "dim": embedder.dim,
    }
    if tuned:
        encoder |= {"folder": ENCODER_FOLDER, "tuned": embedder.manifest["tuned"]}
    else:
        encoder["path"] = str(embedder.folder.resolve())
    return {
        "build_id": build_id,
        "format": BUILD_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "encoder": encoder,
        "exemplars": len(labels),
        "neighbours": NEIGHBOURS,
        "threshold_percentile": percentile,
        "cache_floor": round(floor, 4),
        "routes": {
            route: {"exemplars": int((labels == i).sum()), **per_route[route]}
            for i, route in enumerate(routes)
        },
    }


def rebuild(  # noqa: PLR0913 - the command's options, each a keyword
    exemplars: ExemplarSet,
    out: Path,
    embedder: OnnxEmbedder,
    *,
    force: bool = False,
    percentile: float = THRESHOLD_PERCENTILE,
    tune: bool = False,
    screen: OnnxEmbedder | None = None,
    progress: Callable[[int], None] = lambda _: None,
    tuning: Callable[[int, int], None] = lambda _done, _total: None,
) -> BuildReport:
    """Embed, index, train and calibrate for ``exemplars``; write the build to ``out``.

    A build in ``out`` with the same build id is left as it is, unless ``force``. Each route's
    threshold is that ``percentile`` of its correct held-out confidence (`_thresholds`). With
    ``tune`` (``embedder`` must be tunable: `turnout.models.tune.tunable`), the encoder is tuned
    on the rows that are not held out first, ``tuning(done, total)`` counting its steps. With
    ``screen``, a faster encoder, the build gets a second stage in ``screen/`` that decides
    the prompts it is sure of (`turnout.training.screen`); ``progress`` then counts both
    encoders' rows.
    """
    started = time.perf_counter()
    routes = exemplars.routes
    route_index = {route: i for i, route in enumerate(routes)}
    texts = [exemplar.text for exemplar in exemplars.exemplars]
    rows = [
        {"text": text, "route": exemplar.route, "hash": text_hash(text)}
        for text, exemplar in zip(texts, exemplars.exemplars, strict=True)
    ]
    base_sha = embedder.identity
    if tune:
        from turnout.models.tune import RECIPE  # noqa: PLC0415 - needs the build extra

        base_sha = f"{base_sha} tuned by {RECIPE}"
    if screen is not None:
        learns = f"{sorted(screen.languages or ())} unless {OTHER_LANGUAGE} sure of another"
        base_sha = f"{base_sha} screened by {screen.identity} ({SCREEN_FORMAT}; {learns})"
    build_id = build_id_of(base_sha, rows, percentile)
    existing = read_manifest(out)
    if not force and existing.get("build_id") == build_id:
        progress(len(texts) * (1 if screen is None else 2))
        seconds = time.perf_counter() - started
        return BuildReport(
            build_id,
            existing["routes"],
            len(texts),
            0,
            len(texts),
            seconds,
            up_to_date=True,
            screen=existing.get("screen"),
        )
    labels = np.array([route_index[e.route] for e in exemplars.exemplars], dtype=np.int64)
    held = held_out_rows(labels)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as scratch:
        staged = Path(scratch) / "build"
        staged.mkdir()
        if tune:
            train = np.flatnonzero(~held)
            embedder = _tune(
                embedder, [texts[i] for i in train], labels[train], staged / ENCODER_FOLDER, tuning
            )
        split = _Split(rows, labels, held, routes)
        fitted = _fit(embedder, split, previous=out, progress=progress)
        screened = None
        if screen is not None:
            fitted, screened = _screen(
                screen,
                fitted,
                split,
                out=out,
                staged=staged / SCREEN,
                build_id=build_id,
                percentile=percentile,
                progress=progress,
            )
        manifest = _manifest(
            fitted, embedder, split, build_id=build_id, percentile=percentile, tuned=tune
        )
        if screened is not None:
            manifest["screen"] = screened
        if exemplars.renamed:
            manifest["renamed_routes"] = dict(exemplars.renamed)
        if exemplars.clashes:
            manifest["texts_dropped_for_two_routes"] = len(exemplars.clashes)
        _stage(staged, fitted.vectors, rows, fitted.classifier, manifest)
        _swap(staged, out)
    return BuildReport(
        build_id,
        manifest["routes"],
        len(texts),
        fitted.embedded,
        len(texts) - fitted.embedded,
        time.perf_counter() - started,
        screen=manifest.get("screen"),
    )


def _screen(  # noqa: PLR0913 - the screen stage's inputs, each a keyword
    screen: OnnxEmbedder,
    fitted: _Fitted,
    split: _Split,
    *,
    out: Path,
    staged: Path,
    build_id: str,
    percentile: float,
    progress: Callable[[int], None],
) -> tuple[_Fitted, dict[str, Any]]:
    """Fit the screen stage into ``staged``.

    The screen learns from the exemplars in its encoder's languages (`learnable`) and is scored
    on every held-out row, as serving meets them. Returns the build's stage with its held-out
    scores mixed (`fit_mix`), and the manifest's ``screen`` entry.
    """
    texts = [row["text"] for row in split.rows]
    learns = learnable(texts, screen.languages, LanguageDetector().guess)
    sees = learns | split.held
    part = _Split(
        [row for row, seen in zip(split.rows, sees, strict=True) if seen],
        split.labels[sees],
        split.held[sees],
        split.routes,
    )
    progress(len(texts) - len(part.rows))
    first = _fit(screen, part, previous=out / SCREEN, progress=progress)
    staged.mkdir()
    screen_manifest = _manifest(
        first, screen, part, build_id=build_id, percentile=percentile, tuned=False
    )
    kept = learns[sees]
    rows = [row for row, keep in zip(part.rows, kept, strict=True) if keep]
    screen_manifest["exemplars"] = len(rows)
    for i, counts in enumerate(screen_manifest["routes"].values()):
        counts["exemplars"] = int((part.labels[kept] == i).sum())
    _stage(staged, first.vectors[kept], rows, first.classifier, screen_manifest)
    unread = screen.unknown_share([split.rows[i]["text"] for i in np.flatnonzero(split.held)])
    held = split.labels[split.held]
    share, fused = fit_mix(first.fused, fitted.fused, held, unread)
    routes = screen_manifest["routes"]
    bar = fit_bar(first.fused, fused, held, routes, unread=unread)
    # The busy bar: the same rule against the build's encoder alone, never above the bar.
    busy = fit_bar(first.fused, fitted.fused, held, routes, unread=unread)
    lower = busy if busy["bar"] < bar["bar"] else bar
    bar |= {"busy_bar": lower["bar"], "held_out_decided_busy": lower["held_out_decided"]}
    entry = {"folder": SCREEN, "mix": share, "other_languages": int((~learns).sum())}
    return replace(fitted, fused=fused), entry | bar


def _tune(
    embedder: OnnxEmbedder,
    texts: list[str],
    labels: npt.NDArray[np.int64],
    folder: Path,
    tuning: Callable[[int, int], None],
) -> OnnxEmbedder:
    """Tune the encoder on ``texts`` into ``folder``; the tuned encoder, loaded."""
    from turnout.models.tune import tune  # noqa: PLC0415 - needs the build extra
    from turnout.routing.encoder import OnnxEmbedder  # noqa: PLC0415

    tune(embedder.folder, (texts, labels), folder, threads=embedder.threads, progress=tuning)
    return OnnxEmbedder(folder, threads=embedder.threads, max_tokens=embedder.max_tokens)


def _stage(
    staged: Path,
    vectors: npt.NDArray[np.float32],
    rows: list[dict[str, str]],
    classifier: Classifier,
    manifest: dict[str, Any],
) -> None:
    """Write the build's files into ``staged``, the manifest last."""
    np.save(staged / "vectors.npy", vectors)
    lines = "".join(json.dumps(row) + "\n" for row in rows)
    (staged / "exemplars.jsonl").write_text(lines)
    faiss.write_index(build_index(vectors), str(staged / "knn.faiss"))
    classifier.save(staged)
    (staged / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _swap(staged: Path, out: Path) -> None:
    """Put ``staged`` (a folder beside ``out``) in place of ``out`` with two renames."""
    previous = staged.parent / "previous"
    if out.exists():
        out.rename(previous)
    try:
        staged.rename(out)
    except OSError:
        if previous.exists():
            previous.rename(out)
        raise
