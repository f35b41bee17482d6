"""`Router`: from a request body to a decision and its candidates, and the decision's JSON form.

It is what ``POST /v1/route``, the request flow (`turnout.flow.flow`) and ``turnout route``
share, so they can never disagree about a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from turnout.caller import ANONYMOUS, Caller
from turnout.config import RESERVED_MODEL
from turnout.errors import NoCapableModel, RequestError
from turnout.policy.selector import fits
from turnout.routing.analyze import Analyzer
from turnout.routing.decision import MS, Decision, Tier
from turnout.wire.request import decode_request

if TYPE_CHECKING:
    from turnout.catalog import Target
    from turnout.metrics import Metrics
    from turnout.policy.experiments import Variant
    from turnout.policy.selector import Selector
    from turnout.routing.analyze import RoutingInput
    from turnout.routing.decision import Evidence, Guessed
    from turnout.routing.pipeline import Pending, Pipeline
    from turnout.wire.request import Request

NOBODY: Final = Caller(ANONYMOUS)


@dataclass(frozen=True, slots=True)
class Pin:
    """The model a request's conversation is on, where the request stays (`Tier.SESSION`).

    It is the model that made the tool calls the request answers, or that answered the stored
    response it continues.
    """

    route: str | None
    target: str
    why: str


@dataclass(frozen=True, slots=True)
class Routed:
    """A decoded request and where it goes."""

    request: Request
    inp: RoutingInput
    decision: Decision
    candidates: tuple[Target, ...]
    variant: Variant | None
    decision_ms: float

    def payload(self) -> dict[str, Any]:
        """The decision as ``/v1/route`` and ``turnout route --json`` answer it."""
        usable = [target for target in self.candidates if target.provider.available]
        chosen = (usable or list(self.candidates))[0]
        decision = self.decision
        return {
            "route": decision.route,
            "model": chosen.id,
            "provider": chosen.provider.name,
            "tier": decision.tier,
            "confidence": decision.confidence,
            "candidates": [
                {"model": t.id, "provider": t.provider.name, "available": t.provider.available}
                for t in self.candidates
            ],
            "explanation": decision.reason,
            "timings_ms": {**decision.timings_ms, "total": self.decision_ms},
            **_evidence(decision.evidence),
            **_experiment(self.variant),
        }


@dataclass(frozen=True, slots=True)
class Read:
    """A decoded, analyzed request whose fast tiers did not decide (see `Pipeline.fast`)."""

    request: Request
    inp: RoutingInput
    pending: Pending
    started: float


class Router:
    """Decodes, analyzes, decides and picks candidates; records the decision's latency.

    A request goes through `Router.read` (decode, analyze and the fast tiers), then, unless
    that decided, `Router.finish` (the slow tiers); `Router.route` does both.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        selector: Selector,
        metrics: Metrics,
        analyzer: Analyzer | None = None,
        speculative_routes: frozenset[str] = frozenset(),
    ) -> None:
        """Build the router.

        ``analyzer``: reads each request (with the language detector, when rules or routes
        go by language); ``speculative_routes``: the routes whose guesses may start upstream
        calls.
        """
        self._pipeline = pipeline
        self._selector = selector
        self._metrics = metrics
        self._analyze = analyzer or Analyzer()
        self._speculative = speculative_routes

    def read(
        self, request: Request, caller: Caller = NOBODY, pin: Pin | None = None
    ) -> Routed | Read:
        """Analyze a decoded request from ``caller``; run the fast tiers.

        ``pin``: the model the request's conversation is on; it decides unless the client
        named a model or a route other than the pin's.

        Raises:
            RequestError: the request names an unknown model, or no model can take it.
        """
        started = perf_counter()
        inp = self._analyze(request.chat, caller)
        model = request.chat.model
        if pin is not None and model in (RESERVED_MODEL, pin.route):
            pinned = self._pinned(request, inp, pin, started)
            if pinned is not None:
                return pinned
        found = self._pipeline.fast(model, inp)
        if isinstance(found, Decision):
            return self._routed(request, inp, found, started)
        return Read(request, inp, found, started)

    @property
    def speculates(self) -> bool:
        """Whether a slow tier's guess may start an upstream call: one may guess, a route allows it.

        A rule's guess is told apart per request (`guess`).
        """
        return bool(self._speculative) and self._pipeline.guesses

    async def finish(self, read: Read, guessed: Guessed | None = None) -> Routed:
        """Decide with the slow tiers what the fast ones left.

        ``guessed``: told of a slow tier's early guess (a screened build's screen), if it
        makes one.

        Raises:
            RequestError: no model of the decided route can take the request.
        """
        decision = await self._pipeline.slow(read.pending, read.inp, guessed)
        return self._routed(read.request, read.inp, decision, read.started)

    def guess(self, read: Read) -> Routed | None:
        """A speculative rule's guess, routed, when its route may start an upstream call."""
        route = read.pending.guess
        return None if route is None else self.guessed(read, route, Tier.RULE)

    def guessed(self, read: Read, route: str, tier: Tier) -> Routed | None:
        """``tier``'s guess of ``route``, routed, when the route may start an upstream call."""
        if route not in self._speculative:
            return None
        decision = Decision(route, tier, 0.0, "speculative guess")
        try:
            targets, variant = self._candidates(decision, read.request, read.inp)
        except RequestError:  # the guessed route cannot take it: nothing to start, not an error
            return None
        elapsed = (perf_counter() - read.started) * MS
        return Routed(read.request, read.inp, decision, targets, variant, elapsed)

    async def route(self, body: bytes, caller: Caller = NOBODY) -> Routed:
        """Decode a Chat Completions body, `read` it, then `finish` it if the fast tiers did not.

        Guesses are ignored.

        Raises:
            RequestError: the body is invalid, names an unknown model, or no model can take it.
        """
        found = self.read(decode_request(body), caller)
        return found if isinstance(found, Routed) else await self.finish(found)

    def _pinned(
        self, request: Request, inp: RoutingInput, pin: Pin, started: float
    ) -> Routed | None:
        """The pin's decision, its target first; None when that target can no longer take it."""
        pinned = self._selector.target(pin.target)
        if (
            pinned is None
            or not fits(pinned, inp)
            or not request.speakable_by(pinned.provider.apis)
        ):
            return None
        route = pin.route if self._selector.has_route(pin.route) else None
        decision = Decision(route, Tier.SESSION, 1.0, pin.why, pinned=None if route else pinned.id)
        try:
            targets, variant = self._candidates(decision, request, inp)
        except RequestError:
            targets, variant = (), None
        targets = (pinned, *(target for target in targets if target.id != pinned.id))
        return self._done(request, inp, decision, (targets, variant), started)

    def _routed(
        self, request: Request, inp: RoutingInput, decision: Decision, started: float
    ) -> Routed:
        return self._done(request, inp, decision, self._candidates(decision, request, inp), started)

    def _done(
        self,
        request: Request,
        inp: RoutingInput,
        decision: Decision,
        chosen: tuple[tuple[Target, ...], Variant | None],
        started: float,
    ) -> Routed:
        elapsed = perf_counter() - started
        self._metrics.decision(decision.tier, elapsed)
        return Routed(request, inp, decision, chosen[0], chosen[1], elapsed * MS)

    def _candidates(
        self, decision: Decision, request: Request, inp: RoutingInput
    ) -> tuple[tuple[Target, ...], Variant | None]:
        """The decision's candidates that can take the request, and the experiment's arm.

        Raises:
            RequestError: none can.
        """
        selection = self._selector.candidates(decision, inp, inp.caller)
        targets = tuple(t for t in selection.targets if request.speakable_by(t.provider.apis))
        if not targets:
            raise NoCapableModel(
                f"no model of route '{decision.route}' takes {request.api} requests: its"
                " providers speak neither that API nor chat_completions"
            )
        return targets, selection.variant


def _experiment(variant: Variant | None) -> dict[str, Any]:
    """The experiment arm that chose the candidates, when the route has an experiment."""
    if variant is None:
        return {}
    return {"experiment": {"name": variant.experiment, "variant": variant.name}}


def _evidence(evidence: Evidence | None) -> dict[str, Any]:
    """The semantic tier's evidence, when it ran."""
    if evidence is None:
        return {}
    return {
        "build_id": evidence.build_id,
        "threshold": evidence.threshold,
        "context": evidence.context,
        "encoder": evidence.encoder,
        "scores": dict(evidence.scores),
        "neighbours": [
            {"text": n.text, "route": n.route, "similarity": n.similarity}
            for n in evidence.neighbours
        ],
    }
