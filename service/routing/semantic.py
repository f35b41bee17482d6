"""The semantic tier: embed the prompt, find its nearest exemplars, ask the classifier, fuse.

The fused score of a route is the mean of its share of the 10 nearest exemplars' similarity and
the calibrated classifier's probability, scaled by how familiar the prompt is: the nearest
exemplar's similarity, squared (`service.routing.knn.fuse`). A short follow-up in a
conversation is embedded with the previous user turn (`service.routing.analyze`), and the two
embeddings are mixed, the follow-up weighing as much as its context. The best route wins if its
score clears the route's threshold (fitted by ``turnout index rebuild``); otherwise the request
goes to the default route, and the decision says which route came closest. A near-duplicate of a
recent prompt reuses its decision through the L1 cache (`service.routing.cache`). The embedding
runs through the shared `MicroBatcher`; the kNN search and the classifier run inline
(microseconds to half a millisecond, cheaper than a thread hop: ``benchmarks/knn.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

import anyio.to_thread
import faiss
import msgspec
import numpy as np

from service.config import Settings
from service.errors import ConfigError
from service.routing.batcher import MicroBatcher
from service.routing.cache import MemoryDecisionCache
from service.routing.classifier import OnnxClassifier
from service.routing.decision import MS, Evidence, Neighbour, RouteMatch, Tier
from service.routing.encoder import DEFAULT_ENCODER_DIR, OnnxEmbedder
from service.routing.focus import FocusedEmbedder, mix
from service.routing.index import read_manifest
from service.routing.knn import KnnRouter, fuse
from service.routing.shared_cache import SharedDecisionCache
from service.state.redis import RedisState

if TYPE_CHECKING:
    import numpy.typing as npt

    from service.config import RoutingSettings
    from service.metrics import Metrics
    from service.routing.analyze import RoutingInput
    from service.state.protocol import State

SHOWN: Final = 3
CONTEXT_WEIGHT: Final = 0.5  # as a long prompt's instruction against its body (`focus`)

logger = logging.getLogger(__name__)


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


class SemanticTier:
    """Decides by meaning; unsure prompts go to the default route, with the evidence."""

    tier = Tier.SEMANTIC

    def __init__(  # noqa: PLR0913 - the composition root hands in each part
        self,
        index: SemanticIndex,
        batcher: MicroBatcher,
        *,
        settings: Settings,
        encoder_sha: str,
        metrics: Metrics,
        shared: SharedDecisionCache | None = None,
    ) -> None:
        """``shared``: the L2 decision cache in Redis, when decisions are shared by replicas."""
        self.index = index
        self.encoder_sha = encoder_sha
        cache = settings.routing.cache
        self._cache = (
            MemoryDecisionCache(
                capacity=cache.capacity, ttl_s=cache.ttl_s, threshold=cache.threshold
            )
            if cache.enabled
            else None
        )
        self._shared = shared if cache.enabled else None
        self._metrics = metrics
        self._batcher = batcher
        self._neighbours = settings.routing.neighbours
        self._default_route = settings.default_route
        self._keep_best = settings.routing.unsure == "best_route"

    async def match(self, inp: RoutingInput) -> RouteMatch:
        """The best route if it clears its threshold, else the default route.

        Its phases are timed: ``semantic.encoder`` (embedding, micro-batched),
        ``semantic.cache`` (L1, then L2) and ``semantic.knn_classifier`` (scoring).
        """
        index = self.index  # one build per decision, even if a reload swaps it meanwhile
        started = perf_counter()
        vector = await self._embed(inp)
        embedded = perf_counter()
        phases = [("semantic.encoder", (embedded - started) * MS)]
        if self._cache is None:
            return self._scored(index, vector, inp, phases)
        scope, tenant = index.build_id, inp.tenant
        hit, outcome = self._cache.get(scope, tenant, vector, inp.text)
        self._metrics.cache(outcome)
        if hit is None and self._shared is not None:
            hit, shared_outcome = await self._shared.get(scope, tenant, vector, inp.text)
            self._metrics.shared_cache(shared_outcome)
            if hit is not None:
                self._cache.put(scope, tenant, vector, inp.text, hit.match)
        phases.append(("semantic.cache", (perf_counter() - embedded) * MS))
        if hit is not None:
            cached = hit.match
            reason = f"cached decision of a prompt {hit.similarity:.3f} similar: {cached.reason}"
            return RouteMatch(
                cached.route,
                Tier.CACHE,
                cached.confidence,
                reason,
                cached.evidence,
                phases_ms=tuple(phases),
            )
        decided = self._scored(index, vector, inp, phases)
        self._cache.put(scope, tenant, vector, inp.text, decided)
        if self._shared is not None:
            await self._shared.put(scope, tenant, vector, inp.text, decided)
        return decided

    def _scored(
        self,
        index: SemanticIndex,
        vector: npt.NDArray[np.float32],
        inp: RoutingInput,
        phases: list[tuple[str, float]],
    ) -> RouteMatch:
        started = perf_counter()
        decided = self._decide(index, vector, inp)
        phases.append(("semantic.knn_classifier", (perf_counter() - started) * MS))
        return replace(decided, phases_ms=tuple(phases))

    async def _embed(self, inp: RoutingInput) -> npt.NDArray[np.float32]:
        """The prompt's embedding; a follow-up's is mixed with its context's."""
        if inp.context is None:
            return await self._batcher.embed(inp.text)
        last, context = await self._batcher.embed_all((inp.text, inp.context))
        return mix(last, context, CONTEXT_WEIGHT)

    def _decide(
        self, index: SemanticIndex, vector: npt.NDArray[np.float32], inp: RoutingInput
    ) -> RouteMatch:
        fused, neighbours = index.score(vector, self._neighbours)
        order = np.argsort(-fused)[:SHOWN]
        best = index.routes[int(order[0])]
        confidence = round(float(fused[order[0]]), 4)
        threshold = index.thresholds[best]
        evidence = Evidence(
            build_id=index.build_id,
            neighbours=neighbours,
            scores=tuple((index.routes[int(i)], round(float(fused[i]), 4)) for i in order),
            threshold=threshold,
            context=inp.context is not None,
        )
        if confidence >= threshold:
            reason = f"nearest exemplars and classifier agree on '{best}'"
            return RouteMatch(best, Tier.SEMANTIC, confidence, reason, evidence)
        reason = f"best route '{best}' scored {confidence:.2f}, under its threshold {threshold:.2f}"
        if self._keep_best:
            return RouteMatch(best, Tier.SEMANTIC, confidence, reason + "; kept", evidence)
        return RouteMatch(self._default_route, Tier.DEFAULT, confidence, reason, evidence)


def load_semantic(
    settings: RoutingSettings, routes: set[str]
) -> tuple[OnnxEmbedder, SemanticIndex]:
    """Load the encoder and the index the settings name. Blocking: call it from a thread.

    Raises:
        ConfigError: a file is missing or altered, or the index names an unconfigured route.
    """
    if settings.index is None:
        raise ConfigError("routing.index: not set")
    encoder = OnnxEmbedder(
        Path(settings.encoder) if settings.encoder else DEFAULT_ENCODER_DIR,
        threads=settings.encoder_threads,
        max_tokens=settings.max_tokens,
    )
    index = SemanticIndex(Path(settings.index), encoder_sha=encoder.sha256, routes=routes)
    return encoder, index


async def open_semantic(
    settings: Settings, metrics: Metrics, state: State | None = None
) -> SemanticTier | None:
    """The semantic tier the settings ask for, or None without ``routing.index``.

    Loads in a worker thread (model and index files are read from disk), then builds the
    batcher on the event loop. With Redis as ``state``, decisions are shared by replicas (L2).
    """
    routing = settings.routing
    if routing.index is None:
        return None
    routes = {route.name for route in settings.routes}
    encoder, index = await anyio.to_thread.run_sync(load_semantic, routing, routes)
    batcher = MicroBatcher(
        FocusedEmbedder(encoder), workers=routing.encoder_workers, max_batch=routing.max_batch
    )
    cache = routing.cache
    shared = (
        SharedDecisionCache(
            state.client, cache, dim=encoder.dim, config_version=config_version(settings)
        )
        if isinstance(state, RedisState) and cache.shared
        else None
    )
    return SemanticTier(
        index,
        batcher,
        settings=settings,
        encoder_sha=encoder.sha256,
        metrics=metrics,
        shared=shared,
    )


def config_version(settings: Settings) -> str:
    """A hash of the whole config (secrets left out): shared decisions need the same one."""
    encoded = msgspec.json.encode(settings, enc_hook=repr)  # Secret: masked
    return hashlib.sha256(encoded).hexdigest()[:12]


def read_build_id(folder: Path) -> str | None:
    """The build id in a build's manifest, or None while it cannot be read."""
    found = read_manifest(folder).get("build_id")
    return found if isinstance(found, str) else None


async def reload_build(tier: SemanticTier, folder: Path, routes: set[str]) -> str:
    """Swap in the build in ``folder`` if it is not the one in use; the build id now in use.

    Decisions in flight finish on the build they started with.

    Raises:
        ConfigError: the build on disk cannot be read or does not fit (the current one stays).
    """
    build_id = await anyio.to_thread.run_sync(read_build_id, folder)
    if build_id is None:
        raise ConfigError(f"{folder}: no readable index build")
    if build_id == tier.index.build_id:
        return build_id
    index = await anyio.to_thread.run_sync(
        lambda: SemanticIndex(folder, encoder_sha=tier.encoder_sha, routes=routes)
    )
    tier.index = index
    logger.info("index reloaded: build %s", index.build_id)
    return index.build_id


async def watch_index(
    tier: SemanticTier, folder: Path, routes: set[str], *, interval_s: float
) -> None:
    """Swap in each new build of ``folder`` as ``turnout index rebuild`` writes it.

    Runs until cancelled, in the lifespan's task group. A build that fails to load is logged
    and skipped; the current one keeps serving.
    """
    while True:
        await anyio.sleep(interval_s)
        build_id = await anyio.to_thread.run_sync(read_build_id, folder)
        if build_id is None or build_id == tier.index.build_id:
            continue
        try:
            await reload_build(tier, folder, routes)
        except ConfigError as exc:
            logger.error("index %s not reloaded: %s", folder, exc.message)


def index_settings(folder: Path) -> Settings:
    """Settings for routing with an index alone (``turnout route --index``): its routes, no models.

    Every route targets a placeholder model that no request can reach, and an unsure prompt
    keeps its best route, since an index does not say which route is the default.

    Raises:
        ConfigError: the folder holds no readable index manifest.
    """
    try:
        routes = list(json.loads((folder / "manifest.json").read_text())["routes"])
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"--index: no index build in {folder}: {exc}") from exc
    config = {
        "routing": {"index": str(folder.resolve()), "unsure": "best_route"},
        "providers": [
            {
                "name": "none",
                "base_url": "http://127.0.0.1:9/v1",
                "api_key_env": "TURNOUT_NO_PROVIDER",
                "models": [
                    {
                        "id": "none",
                        "input_per_mtok": 0,
                        "output_per_mtok": 0,
                        "context_window": 1 << 30,
                    }
                ],
            }
        ],
        "routes": [{"name": route, "targets": ["none/none"]} for route in routes],
        "default_route": routes[0],
    }
    return msgspec.convert(config, Settings)
