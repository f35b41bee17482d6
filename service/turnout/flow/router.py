"""`Router`: from a request body to a decision and its candidates, and the decision's JSON form.

It is what ``POST /v1/route``, the request flow (`turnout.flow.flow`) and ``turnout route``
share, so they can never disagree about a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from turnout.caller import ANONYMOUS, Caller
from turnout.errors import RequestError
from turnout.routing.analyze import analyze
from turnout.routing.decision import MS, Decision, Tier
from turnout.wire.chat import decode_chat

if TYPE_CHECKING:
    from collections.abc import Callable

    from turnout.catalog import Target
    from turnout.metrics import Metrics
    from turnout.policy.experiments import Variant
    from turnout.policy.selector import Selector
    from turnout.routing.analyze import RoutingInput
    from turnout.routing.decision import Evidence
    from turnout.routing.pipeline import Pending, Pipeline
    from turnout.wire.chat import ChatRequest, Fields

NOBODY: Final = Caller(ANONYMOUS)


@dataclass(frozen=True, slots=True)
class Routed:
    """A decoded request and where it goes."""

    fields: Fields
    chat: ChatRequest
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

    fields: Fields
    chat: ChatRequest
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
        detect: Callable[[str], str] | None = None,
        speculative_routes: frozenset[str] = frozenset(),
    ) -> None:
        """Build the router.

        ``detect``: the language detector, when rules or routes go by language;
        ``speculative_routes``: the routes whose guesses may start upstream calls.
        """
        self._pipeline = pipeline
        self._selector = selector
        self._metrics = metrics
        self._detect = detect
        self._speculative = speculative_routes

    def read(self, body: bytes, caller: Caller = NOBODY) -> Routed | Read:
        """Decode and analyze one chat-completions body from ``caller``; run the fast tiers.

        Raises:
            RequestError: the body is invalid, names an unknown model, or no model can take it.
        """
        started = perf_counter()
        fields, chat = decode_chat(body)
        inp = analyze(chat, caller, self._detect)
        found = self._pipeline.fast(chat.model, inp)
        if isinstance(found, Decision):
            return self._routed(fields, chat, inp, found, started)
        return Read(fields, chat, inp, found, started)

    async def finish(self, read: Read) -> Routed:
        """Decide with the slow tiers what the fast ones left.

        Raises:
            RequestError: no model of the decided route can take the request.
        """
        decision = await self._pipeline.slow(read.pending, read.inp)
        return self._routed(read.fields, read.chat, read.inp, decision, read.started)

    def guess(self, read: Read) -> Routed | None:
        """A speculative rule's guess, routed, when its route may start an upstream call."""
        route = read.pending.guess
        if route is None or route not in self._speculative:
            return None
        decision = Decision(route, Tier.RULE, 0.0, "speculative guess")
        try:
            selection = self._selector.candidates(decision, read.inp, read.inp.caller)
        except RequestError:  # the guessed route cannot take it: nothing to start, not an error
            return None
        elapsed = (perf_counter() - read.started) * MS
        return Routed(
            read.fields,
            read.chat,
            read.inp,
            decision,
            selection.targets,
            selection.variant,
            elapsed,
        )

    async def route(self, body: bytes, caller: Caller = NOBODY) -> Routed:
        """`read`, then `finish` when the fast tiers did not decide; guesses are ignored.

        Raises:
            RequestError: the body is invalid, names an unknown model, or no model can take it.
        """
        found = self.read(body, caller)
        return found if isinstance(found, Routed) else await self.finish(found)

    def _routed(
        self,
        fields: Fields,
        chat: ChatRequest,
        inp: RoutingInput,
        decision: Decision,
        started: float,
    ) -> Routed:
        selection = self._selector.candidates(decision, inp, inp.caller)
        elapsed = perf_counter() - started
        self._metrics.decision(decision.tier, elapsed)
        return Routed(
            fields, chat, inp, decision, selection.targets, selection.variant, elapsed * MS
        )


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
        "scores": dict(evidence.scores),
        "neighbours": [
            {"text": n.text, "route": n.route, "similarity": n.similarity}
            for n in evidence.neighbours
        ],
    }
