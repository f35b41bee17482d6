"""`Router`: from a request body to a decision and its candidates, and the decision's JSON form.

It is what ``POST /v1/route``, chat completions and ``turnout route`` share, so the three can
never disagree about a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from service.http.body import decode_chat
from service.policy.caller import ANONYMOUS, Caller
from service.routing.analyze import analyze
from service.routing.decision import MS, Decision, Tier

if TYPE_CHECKING:
    from collections.abc import Callable

    from service.http.body import ChatRequest, Fields
    from service.metrics import Metrics
    from service.policy.catalog import Target
    from service.policy.experiments import Variant
    from service.policy.selector import Selector
    from service.routing.analyze import RoutingInput
    from service.routing.decision import Evidence
    from service.routing.pipeline import Pipeline

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


class Router:
    """Decodes, analyzes, decides and picks candidates; records the decision's latency."""

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

    @property
    def speculates(self) -> bool:
        """Whether a guess may start an upstream call (some route has ``speculate``)."""
        return bool(self._speculative)

    async def route(
        self,
        body: bytes,
        caller: Caller = NOBODY,
        on_guess: Callable[[Routed], None] | None = None,
    ) -> Routed:
        """Route one chat-completions body from ``caller``.

        ``on_guess`` hears a speculative rule's guess (as a routed request of its own, with its
        candidates) before the semantic tier decides, when the guessed route allows it.

        Raises:
            RequestError: the body is invalid, names an unknown model, or no model can take it.
        """
        started = perf_counter()
        fields, chat = decode_chat(body)
        inp = analyze(chat, caller, self._detect)

        def guessed(route: str) -> None:
            if on_guess is None or route not in self._speculative:
                return
            decision = Decision(route, Tier.RULE, 0.0, "speculative guess")
            selection = self._selector.candidates(decision, inp, caller)
            elapsed = (perf_counter() - started) * MS
            on_guess(Routed(fields, chat, inp, decision, *selection.parts, elapsed))

        decision = await self._pipeline.decide(chat.model, inp, guessed)
        selection = self._selector.candidates(decision, inp, caller)
        elapsed = perf_counter() - started
        self._metrics.decision(decision.tier, elapsed)
        return Routed(fields, chat, inp, decision, *selection.parts, elapsed * MS)


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
