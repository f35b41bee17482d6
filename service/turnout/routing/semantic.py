"""The semantic tier: embed the prompt, find its nearest exemplars, ask the classifier, fuse.

The fused score of a route is the mean of its share of the 10 nearest exemplars' similarity and
the calibrated classifier's probability, scaled by how familiar the prompt is: the nearest
exemplar's similarity, squared (`turnout.routing.knn.fuse`). A short follow-up in a
conversation is embedded with the previous user turn (`turnout.routing.analyze`), and the two
embeddings are mixed, the follow-up weighing as much as its context. The best route wins if its
score clears the route's threshold (fitted by ``turnout index rebuild``); otherwise the request
goes to the default route, and the decision says which route came closest. A near-duplicate of a
recent prompt reuses its decision through the L1 cache (`turnout.routing.cache`). The embedding
runs through the shared `MicroBatcher`; the kNN search and the classifier run inline
(microseconds to half a millisecond, cheaper than a thread hop: ``benchmarks/knn.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from time import perf_counter
from typing import TYPE_CHECKING, Final

import anyio.to_thread
import msgspec
import numpy as np

from turnout.config import fingerprint
from turnout.errors import ConfigError
from turnout.routing.batcher import MicroBatcher
from turnout.routing.cache import MemoryDecisionCache
from turnout.routing.decision import MS, Evidence, RouteMatch, Tier
from turnout.routing.focus import FocusedEmbedder, mix
from turnout.routing.index import SHOWN, load_semantic
from turnout.routing.shared_cache import SharedDecisionCache

if TYPE_CHECKING:
    from pathlib import Path

    import numpy.typing as npt

    from turnout.config import RoutingSettings, Settings
    from turnout.metrics import Metrics
    from turnout.routing.analyze import RoutingInput
    from turnout.routing.cache import CacheHit
    from turnout.routing.encoder import OnnxEmbedder
    from turnout.routing.index import SemanticIndex
    from turnout.state.protocol import State

CONTEXT_WEIGHT: Final = 0.5  # as a long prompt's instruction against its body (`focus`)


@dataclass(frozen=True, slots=True)
class Build:
    """An index build and the encoder that embeds prompts for it, behind its batcher."""

    index: SemanticIndex
    encoder: OnnxEmbedder
    batcher: MicroBatcher


class SemanticTier:
    """Decides by meaning; unsure prompts go to the default route, with the evidence."""

    tier = Tier.SEMANTIC

    def __init__(
        self,
        build: Build,
        *,
        settings: Settings,
        metrics: Metrics,
        shared: SharedDecisionCache | None = None,
    ) -> None:
        """``shared``: the L2 decision cache in Redis, when decisions are shared by replicas."""
        self.build = build
        self._routing = settings.routing
        cache = settings.routing.cache
        self._cache = (
            MemoryDecisionCache(
                capacity=cache.capacity, ttl_s=cache.ttl_s, threshold=cache.threshold
            )
            if cache.enabled
            else None
        )
        self.shared = shared if cache.enabled else None
        self._metrics = metrics
        self._neighbours = settings.routing.neighbours
        self._default_route = settings.default_route
        self._keep_best = settings.routing.unsure == "best_route"

    @property
    def index(self) -> SemanticIndex:
        """The index build in use."""
        return self.build.index

    def load(self, folder: Path, routes: set[str]) -> Build:
        """The build in ``folder`` with its encoder, reusing the one in use when it is the same.

        Blocking: call it from a thread. Swap it in with `swap`.

        Raises:
            ConfigError: the build cannot be loaded, or its encoder's vectors are of another
                size than the one in use (the shared cache is sized for it: restart instead).
        """
        current = self.build.encoder
        routing = msgspec.structs.replace(self._routing, index=str(folder))
        encoder, index = load_semantic(routing, routes, current=current)
        if encoder.dim != current.dim:
            raise ConfigError(
                f"{folder}: its encoder's vectors have {encoder.dim} dimensions, not "
                f"{current.dim}; restart turnout to change to it"
            )
        if encoder is current:
            return Build(index, current, self.build.batcher)
        return Build(index, encoder, _batcher(encoder, self._routing))

    def swap(self, build: Build) -> None:
        """Serve ``build`` from now on; decisions in flight finish on the one they started."""
        self.build = build

    async def match(self, inp: RoutingInput) -> RouteMatch:
        """The best route if it clears its threshold, else the default route.

        Its phases are timed: ``semantic.encoder`` (embedding, micro-batched),
        ``semantic.cache`` (L1, then L2) and ``semantic.knn_classifier`` (scoring).
        """
        build = self.build  # one build per decision, even if a reload swaps it meanwhile
        index = build.index
        started = perf_counter()
        vector = await _embed(build.batcher, inp)
        embedded = perf_counter()
        phases = [("semantic.encoder", (embedded - started) * MS)]
        if self._cache is None:
            return self._scored(index, vector, inp, phases)
        scope, tenant = index.build_id, inp.tenant
        hit, outcome = _above(index, *self._cache.get(scope, tenant, vector, inp.text))
        self._metrics.cache(outcome)
        if hit is None and self.shared is not None:
            hit, shared_outcome = _above(
                index, *await self.shared.get(scope, tenant, vector, inp.text)
            )
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
        if self.shared is not None:
            self.shared.put(scope, tenant, vector, inp.text, decided)
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


def _above(index: SemanticIndex, hit: CacheHit | None, outcome: str) -> tuple[CacheHit | None, str]:
    """``hit`` unless it is under the build's cache floor (then a miss).

    The caches return the most similar reusable decision, so one under the floor means none
    above it. The floor (`SemanticIndex.cache_floor`) is how close prompts of two routes come
    for this build's encoder: an encoder that packs every prompt close together has a high one.
    """
    if hit is not None and hit.similarity < index.cache_floor:
        return None, "miss"
    return hit, outcome


async def _embed(batcher: MicroBatcher, inp: RoutingInput) -> npt.NDArray[np.float32]:
    """The prompt's embedding; a follow-up's is mixed with its context's."""
    if inp.context is None:
        return await batcher.embed(inp.text)
    last, context = await batcher.embed_all((inp.text, inp.context))
    return mix(last, context, CONTEXT_WEIGHT)


def _batcher(encoder: OnnxEmbedder, routing: RoutingSettings) -> MicroBatcher:
    return MicroBatcher(
        FocusedEmbedder(encoder), workers=routing.encoder_workers, max_batch=routing.max_batch
    )


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
    cache, version = routing.cache, fingerprint(settings)
    shared = (
        state.shared(
            lambda client: SharedDecisionCache(
                client, cache, dim=encoder.dim, config_version=version
            )
        )
        if state is not None and cache.shared
        else None
    )
    build = Build(index, encoder, _batcher(encoder, routing))
    return SemanticTier(build, settings=settings, metrics=metrics, shared=shared)
