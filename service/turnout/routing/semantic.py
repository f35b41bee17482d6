"""The semantic tier: embed the prompt, find its nearest exemplars, ask the classifier, fuse.

The fused score of a route is the mean of its share of the 10 nearest exemplars' similarity and
the calibrated classifier's probability, scaled by how familiar the prompt is: the nearest
exemplar's similarity, squared (`turnout.routing.knn.fuse`). A short follow-up in a
conversation is embedded with the previous user turn (`turnout.routing.analyze`), and the two
embeddings are mixed, the follow-up weighing as much as its context. The best route wins if its
score clears the route's threshold (fitted by ``turnout index rebuild``); otherwise the request
goes to the default route, and the decision says which route came closest. A near-duplicate of a
recent prompt reuses its decision through the L1 cache (`turnout.routing.cache`). A screened
build's fast encoder embeds and scores every prompt first, and decides those it can read and is
sure of (`turnout.training.screen`); the build's own encoder embeds the rest, and the caches
are keyed by the fast encoder's vectors, so a repeat never reaches the slow one. Of a prompt it
read but passes on, the screen's best route, when it clears that route's threshold, is handed
to the caller as a guess (`Guessed`) before the slow encoder runs, so that an upstream call can
start on it (`turnout.flow`); and the slow encoder's scores are mixed with the build's share of
the screen's (``mix``), as the build's thresholds were fitted. The embedding
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
from turnout.routing.decision import MS, Evidence, Guessed, RouteMatch, Tier
from turnout.routing.focus import FocusedEmbedder, mix
from turnout.routing.index import SHOWN, Loaded, load_semantic
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
    screen: Build | None = None
    """A screened build's first stage: its fast encoder and that encoder's part of the build."""
    bar: float = 1.0
    """How sure the screen must be to decide."""
    unread: float = 1.0
    """The share of tokens unknown to the screen at which it passes a prompt on unread."""
    mix: float = 0.0
    """The screen's share of the scores a prompt it read and passed on is decided on."""
    busy_bar: float = 1.0
    """How sure the screen must be to decide while the build's encoder is busy."""

    @property
    def first(self) -> Build:
        """The stage that embeds every prompt (the screen, if any): its vectors key the caches."""
        return self.screen or self

    def encoders(self) -> tuple[OnnxEmbedder, ...]:
        """Every encoder this build serves with."""
        return (self.encoder,) if self.screen is None else (self.encoder, self.screen.encoder)


@dataclass(frozen=True, slots=True)
class _Screened:
    """What the screen made of a prompt: its decision if sure, else why not and its scores.

    ``guess``: its best route when it is not sure but that route clears its threshold;
    ``scores``: its fused scores, when it could read the prompt and was not sure; ``busy``:
    it was sure only by its busy bar.
    """

    sure: RouteMatch | None = None
    busy: bool = False
    why: str = ""
    guess: str | None = None
    scores: npt.NDArray[np.float32] | None = None


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
        self._when_busy = settings.routing.screen_when_busy

    @property
    def index(self) -> SemanticIndex:
        """The index build in use."""
        return self.build.index

    def load(self, folder: Path, routes: set[str]) -> Build:
        """The build in ``folder`` with its encoders, reusing those in use that are the same.

        Blocking: call it from a thread. Swap it in with `swap`.

        Raises:
            ConfigError: the build cannot be loaded, or the vectors that key the decision
                caches (its first stage's) are of another size than those in use while the
                decisions are shared in Redis (that cache is sized for them: restart instead).
        """
        routing = msgspec.structs.replace(self._routing, index=str(folder))
        loaded = load_semantic(routing, routes, current=self.build.encoders())
        build = _build(loaded, routing, self.build)
        if self.shared is not None and build.first.encoder.dim != self.build.first.encoder.dim:
            raise ConfigError(
                f"{folder}: its encoder's vectors have {build.first.encoder.dim} dimensions, "
                f"not {self.build.first.encoder.dim}; restart turnout to change to it"
            )
        return build

    @property
    def guesses(self) -> bool:
        """Whether the build in use has a screen, whose guess `match` may hand over."""
        return self.build.screen is not None

    def swap(self, build: Build) -> None:
        """Serve ``build`` from now on; decisions in flight finish on the one they started."""
        self.build = build

    async def match(self, inp: RoutingInput, guessed: Guessed | None = None) -> RouteMatch:
        """The best route if it clears its threshold, else the default route.

        ``guessed``: called with the screen's guess, when a screened build's screen passes the
        prompt on but has one, before the build's own encoder decides.

        Its phases are timed: ``semantic.encoder`` (embedding, micro-batched; a screened
        build's fast encoder is ``semantic.screen``), ``semantic.cache`` (L1, then L2) and
        ``semantic.knn_classifier`` (scoring, and the build's own encoder when the screen
        passes the prompt on).
        """
        build = self.build  # one build per decision, even if a reload swaps it meanwhile
        first = build.first
        started = perf_counter()
        vector = await _embed(first.batcher, inp)
        embedded = perf_counter()
        stage = "semantic.encoder" if build.screen is None else "semantic.screen"
        phases = [(stage, (embedded - started) * MS)]
        if self._cache is None:
            return (await self._scored(build, vector, inp, phases, guessed))[0]
        scope, tenant = build.index.build_id, inp.tenant
        hit, outcome = _above(first.index, *self._cache.get(scope, tenant, vector, inp.text))
        self._metrics.cache(outcome)
        if hit is None and self.shared is not None:
            hit, shared_outcome = _above(
                first.index, *await self.shared.get(scope, tenant, vector, inp.text)
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
        decided, lasting = await self._scored(build, vector, inp, phases, guessed)
        if not lasting:
            return decided
        self._cache.put(scope, tenant, vector, inp.text, decided)
        if self.shared is not None:
            self.shared.put(scope, tenant, vector, inp.text, decided)
        return decided

    async def _scored(
        self,
        build: Build,
        vector: npt.NDArray[np.float32],
        inp: RoutingInput,
        phases: list[tuple[str, float]],
        guessed: Guessed | None,
    ) -> tuple[RouteMatch, bool]:
        """Decide on ``vector`` (the first stage's); a screen unsure of it asks the build's.

        Returns the decision and whether the decision caches may keep it: not one the screen
        made by its busy bar alone, which holds only while the build's encoder is busy. The
        second embedding is the ``semantic.encoder`` phase; both stages' scoring is
        ``semantic.knn_classifier``.
        """
        started = perf_counter()
        if build.screen is None:
            decided = self._decide(build, vector, inp)
            phases.append(("semantic.knn_classifier", (perf_counter() - started) * MS))
            return replace(decided, phases_ms=tuple(phases)), True
        busy = self._when_busy and build.batcher.busy
        read = self._screened(build, build.screen, vector, inp, busy=busy)
        if read.sure is not None:
            self._metrics.screen("decided_busy" if read.busy else "decided")
            phases.append(("semantic.knn_classifier", (perf_counter() - started) * MS))
            return replace(read.sure, phases_ms=tuple(phases)), not read.busy
        self._metrics.screen("passed")
        passed = perf_counter()
        if read.guess is not None and guessed is not None:
            guessed(read.guess)
        vector = await _embed(build.batcher, inp)
        embedded = perf_counter()
        mixed = None if read.scores is None else (build.mix, read.scores)
        decided = self._decide(build, vector, inp, mixed)
        scoring = (passed - started) + (perf_counter() - embedded)
        phases += [("semantic.encoder", (embedded - passed) * MS)]
        phases += [("semantic.knn_classifier", scoring * MS)]
        return replace(
            decided, reason=f"{read.why}; {decided.reason}", phases_ms=tuple(phases)
        ), True

    def _screened(
        self,
        build: Build,
        screen: Build,
        vector: npt.NDArray[np.float32],
        inp: RoutingInput,
        *,
        busy: bool,
    ) -> _Screened:
        """The screen's decision if it can read the prompt and is sure; else why it is not.

        ``busy``: the build's encoder is busy, so the screen decides down to its busy bar.
        """
        name = screen.encoder.name
        unknown = float(screen.encoder.unknown_share((inp.text,))[0])
        if unknown >= build.unread:
            return _Screened(why=f"{name} cannot read it ({unknown:.0%} of its tokens unknown)")
        fused, best, confidence, evidence = self._evidence(screen, vector, inp)
        normal = max(build.bar, evidence.threshold)
        sure = max(build.busy_bar, evidence.threshold) if busy else normal
        if confidence >= sure:
            reason = f"{name} is sure of '{best}' ({confidence:.2f} >= {sure:.2f})"
            below = confidence < normal
            if below:
                reason += f", its bar while {build.encoder.name} is busy"
            match = RouteMatch(best, Tier.SEMANTIC, confidence, reason, evidence)
            return _Screened(sure=match, busy=below)
        why = f"{name} unsure ({confidence:.2f} < {sure:.2f})"
        if confidence < evidence.threshold:
            return _Screened(why=why, scores=fused)
        return _Screened(why=f"{why}, guesses '{best}'", guess=best, scores=fused)

    def _evidence(
        self,
        build: Build,
        vector: npt.NDArray[np.float32],
        inp: RoutingInput,
        mixed: tuple[float, npt.NDArray[np.float32]] | None = None,
    ) -> tuple[npt.NDArray[np.float32], str, float, Evidence]:
        """``build``'s own stage's scores for ``vector``, the best route, its score, and why.

        ``mixed``: a share and the screen's scores for the prompt, mixed into the stage's.
        """
        index = build.index
        fused, neighbours = index.score(vector, self._neighbours)
        if mixed is not None and mixed[0] > 0.0:
            share, screen = mixed
            fused = share * screen + (1.0 - share) * fused
        order = np.argsort(-fused)[:SHOWN]
        best = index.routes[int(order[0])]
        evidence = Evidence(
            build_id=index.build_id,
            neighbours=neighbours,
            scores=tuple((index.routes[int(i)], round(float(fused[i]), 4)) for i in order),
            threshold=index.thresholds[best],
            context=inp.context is not None,
            encoder=build.encoder.name,
        )
        return fused, best, round(float(fused[order[0]]), 4), evidence

    def _decide(
        self,
        build: Build,
        vector: npt.NDArray[np.float32],
        inp: RoutingInput,
        mixed: tuple[float, npt.NDArray[np.float32]] | None = None,
    ) -> RouteMatch:
        _, best, confidence, evidence = self._evidence(build, vector, inp, mixed)
        threshold = evidence.threshold
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


def _build(loaded: Loaded, routing: RoutingSettings, current: Build | None = None) -> Build:
    """``loaded`` behind batchers: those of ``current`` for the encoders it already serves."""
    batchers = (
        {}
        if current is None
        else {stage.encoder.sha256: stage.batcher for stage in (current, current.screen) if stage}
    )

    def stage(part: Loaded) -> Build:
        batcher = batchers.get(part.encoder.sha256) or _batcher(part.encoder, routing)
        return Build(part.index, part.encoder, batcher)

    if loaded.screen is None:
        return stage(loaded)
    first = stage(loaded.screen)
    return replace(
        stage(loaded),
        screen=first,
        bar=loaded.bar,
        unread=loaded.unread,
        mix=loaded.mix,
        busy_bar=loaded.busy_bar,
    )


async def open_semantic(
    settings: Settings, metrics: Metrics, state: State | None = None
) -> SemanticTier | None:
    """The semantic tier the settings ask for, or None without ``routing.index``.

    Loads in a worker thread (model and index files are read from disk), then builds the
    batchers on the event loop. With Redis as ``state``, decisions are shared by replicas (L2),
    keyed by the first stage's vectors.
    """
    routing = settings.routing
    if routing.index is None:
        return None
    routes = {route.name for route in settings.routes}
    loaded = await anyio.to_thread.run_sync(load_semantic, routing, routes)
    build = _build(loaded, routing)
    cache, version = routing.cache, fingerprint(settings)
    shared = (
        state.shared(
            lambda client: SharedDecisionCache(
                client, cache, dim=build.first.encoder.dim, config_version=version
            )
        )
        if state is not None and cache.shared
        else None
    )
    return SemanticTier(build, settings=settings, metrics=metrics, shared=shared)
