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

from dataclasses import replace
from time import perf_counter
from typing import TYPE_CHECKING, Final

import anyio.to_thread
import numpy as np

from turnout.config import fingerprint
from turnout.routing.batcher import MicroBatcher
from turnout.routing.cache import MemoryDecisionCache
from turnout.routing.decision import MS, Evidence, RouteMatch, Tier
from turnout.routing.focus import FocusedEmbedder, mix
from turnout.routing.index import SHOWN, load_semantic
from turnout.routing.shared_cache import SharedDecisionCache

if TYPE_CHECKING:
    import numpy.typing as npt

    from turnout.config import Settings
    from turnout.metrics import Metrics
    from turnout.routing.analyze import RoutingInput
    from turnout.routing.index import SemanticIndex
    from turnout.state.protocol import State

CONTEXT_WEIGHT: Final = 0.5  # as a long prompt's instruction against its body (`focus`)


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
        self.shared = shared if cache.enabled else None
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
        if hit is None and self.shared is not None:
            hit, shared_outcome = await self.shared.get(scope, tenant, vector, inp.text)
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
    return SemanticTier(
        index,
        batcher,
        settings=settings,
        encoder_sha=encoder.sha256,
        metrics=metrics,
        shared=shared,
    )
