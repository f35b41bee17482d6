"""A request's way through the service, in one place: decide, admit, send, then settle.

`Flow.answer` reads and decides the request (`turnout.flow.router`), admits it (limits,
availability, bandit, sessions, budgets: `turnout.policy.admission`) and sends it through the
cascade and failover (`turnout.gateway`). `Flow.settle` records the answer once the client has
it, off the time to first byte.

Speculation is one branch of it. When the fast tiers leave the decision to the semantic tier
but a speculative rule guessed a route that allows it (``routes[].speculate``), the guess's
upstream call starts at once, while the semantic tier decides. Without a rule's guess, a
screened build's screen can make one (`turnout.routing.semantic`): its best route for a prompt
it passes on to the build's slower encoder, and the call starts on that while the encoder
runs. When the decision agrees, that call is the answer: nothing is sent twice. When it does
not, the call is cancelled (its connection dropped, before or after its headers) and the
decided route's candidates are tried. Nothing of a speculative call reaches the client before
the decision agrees. The caller's rate limits count the request once, before either call.

``turnout_speculation_total{outcome="agreed|disagreed", guess="rule|screen"}``,
``turnout_speculation_saved_seconds_total`` (decision time the upstream call overlapped) and
``turnout_speculation_wasted_tokens_total`` (estimated prompt and output tokens of cancelled
calls) measure it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import anyio

from turnout.errors import ServiceError
from turnout.flow.router import Pin, Routed
from turnout.policy.admission import Settlement
from turnout.policy.budgets import answer_cost
from turnout.routing.decision import Tier
from turnout.tracing import Tracing

if TYPE_CHECKING:
    from turnout.caller import Caller
    from turnout.flow.router import Read, Router
    from turnout.gateway.cascade import Cascade, Cascaded
    from turnout.metrics import Metrics
    from turnout.policy.admission import Admission, Admitted
    from turnout.wire.request import Request

Speculated = Literal["agreed", "disagreed"]
Guesser = Literal["rule", "screen"]


@dataclass(frozen=True, slots=True)
class Answered:
    """A request that an upstream answered (2xx), its body unread when it streams."""

    routed: Routed
    admitted: Admitted
    sent: Cascaded
    speculation: Speculated | None = None
    """What became of a speculative call; None when none was started."""


@dataclass(slots=True)
class Exchange:
    """One request's context: who asks, its id, and its decision once the flow has made it.

    The decision is kept here, not only in the answer, so that a request that fails after it
    (no upstream answered) is still counted and reported under its route.
    """

    caller: Caller
    request_id: str
    routed: Routed | None = None


@dataclass(slots=True)
class _Guess:
    """A speculative call in flight."""

    routed: Routed
    by: Guesser
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    done: anyio.Event = field(default_factory=anyio.Event)
    answered: Answered | None = None
    error: ServiceError | None = None


class Flow:
    """Decide, admit, send and settle one request; the same for every API surface."""

    def __init__(
        self,
        router: Router,
        admission: Admission,
        cascade: Cascade,
        metrics: Metrics,
        tracing: Tracing | None = None,
    ) -> None:
        self.router = router
        self._admission = admission
        self._cascade = cascade
        self._metrics = metrics
        self._tracing = tracing or Tracing()

    async def answer(self, request: Request, exchange: Exchange) -> Answered:
        """Decide where ``request`` goes and send it there, speculatively when the config allows.

        A request that continues a stored response, or answers tool calls, stays on the
        conversation's model (`Pin`).

        Raises:
            ServiceError: the request is invalid or refused, or no upstream answered.
        """
        read = self.router.read(request, exchange.caller, await self._pin(request, exchange))
        if isinstance(read, Routed):
            exchange.routed = read
            self._tracing.decided(read)
            return await self._send(read, exchange)
        guess = self.router.guess(read)
        if guess is None and not self.router.speculates:
            exchange.routed = await self.router.finish(read)
            self._tracing.decided(exchange.routed)
            return await self._send(exchange.routed, exchange)
        await self._admission.check_limits(exchange.caller, read.inp)
        return await self._speculate(read, guess, exchange)

    async def settle(
        self, answered: Answered, exchange: Exchange, calls: tuple[str, ...] = ()
    ) -> None:
        """Record the answer for the bandit, the conversation and the budgets.

        ``calls``: the ids of the tool calls in the answer, as the client got them; their
        results will come back to the model that made them.
        """
        sent = answered.sent
        routed = answered.routed
        opened = [sent.answer] if sent.replaced is None else [sent.answer, sent.replaced]
        client = exchange.caller.client
        name = "unnamed" if client is None else client.name
        answers = []
        for one in opened:
            usd = answer_cost(one.target, one.body, routed.inp)
            self._metrics.cost(name, one.target, usd)
            answers.append((one.target, usd))
        settlement = Settlement(
            routed.decision.route,
            answered.admitted.conversation,
            exchange.request_id,
            routed.inp,
            answers,
            calls,
        )
        await self._admission.settle(exchange.caller, settlement)

    async def _pin(self, request: Request, exchange: Exchange) -> Pin | None:
        if request.continues is not None:
            route, target = request.continues
            return Pin(route, target, f"continues a stored response of {target}")
        if not request.answers_calls:
            return None
        found = await self._admission.calls_target(exchange.caller, request.answers_calls)
        if found is None:
            return None
        route, target = found
        return Pin(route, target, f"carries on the tool loop of {target}")

    async def _send(self, routed: Routed, exchange: Exchange, *, counted: bool = False) -> Answered:
        """Admit and send a routed request (the decision, or a speculative guess).

        ``counted``: the caller's rate limits counted the request already (speculation).
        """
        admitted = await self._admission.admit(
            exchange.caller, routed.decision, routed.candidates, routed.inp, limits=not counted
        )
        sent = await self._cascade.send(
            routed.decision.route,
            admitted.candidates,
            routed.request,
            exchange.request_id,
            stream=bool(routed.request.chat.stream),
            tokens=routed.inp.tokens,
        )
        return Answered(routed, admitted, sent)

    async def _speculate(self, read: Read, guess: Routed | None, exchange: Exchange) -> Answered:
        """Send on a guess while the slow tiers decide; keep or cancel the guess's call.

        The guess is a rule's (``guess``) or, without one, the semantic tier's screen's, if it
        makes one and its route allows it; with neither, nothing starts before the decision.
        """
        call, decided = await self._race(read, guess, exchange)
        exchange.routed = decided
        if call is None:
            return await self._send(decided, exchange, counted=True)
        if decided.decision.route != call.routed.decision.route:
            wasted = call.routed.inp.tokens
            self._metrics.speculation("disagreed", call.by, saved_s=0.0, wasted_tokens=wasted)
            answered = await self._send(decided, exchange, counted=True)
            return replace(answered, speculation="disagreed")
        if call.error is not None:
            raise call.error
        if call.answered is None:
            raise AssertionError("an agreed speculative call ends with an answer or an error")
        saved = max(0.0, decided.decision_ms - call.routed.decision_ms) / 1000
        self._metrics.speculation("agreed", call.by, saved_s=saved, wasted_tokens=0)
        return replace(call.answered, routed=decided, speculation="agreed")

    async def _race(
        self, read: Read, guess: Routed | None, exchange: Exchange
    ) -> tuple[_Guess | None, Routed]:
        """Decide while a guess's call runs; cancel the call if the decision disagrees.

        Returns the call (None when nothing was guessed) and the decision.

        Raises:
            ServiceError: the slow tiers', once the call is cancelled.
        """
        calls: list[_Guess] = []
        decided: Routed | ServiceError
        async with anyio.create_task_group() as group:

            def start(routed: Routed, by: Guesser) -> None:
                calls.append(_Guess(routed, by))
                group.start_soon(self._run_guess, calls[0], exchange)

            def screened(route: str) -> None:
                found = None if calls else self.router.guessed(read, route, Tier.SEMANTIC)
                if found is not None:
                    start(found, "screen")

            if guess is not None:
                start(guess, "rule")
            try:
                decided = await self.router.finish(read, screened)
                self._tracing.decided(decided)
            except ServiceError as exc:  # raised after the group, so that it is not grouped
                decided = exc
            call = calls[0] if calls else None
            if call is not None and not (
                isinstance(decided, Routed) and decided.decision.route == call.routed.decision.route
            ):
                await _abandon(call)
        if isinstance(decided, ServiceError):
            raise decided
        return call, decided

    async def _run_guess(self, call: _Guess, exchange: Exchange) -> None:
        try:
            with call.scope:
                call.answered = await self._send(call.routed, exchange, counted=True)
        except ServiceError as exc:  # handed to _speculate, which decides its fate
            call.error = exc
        finally:
            call.done.set()


async def _abandon(call: _Guess) -> None:
    """Cancel the speculative call, and drop its answer unread if it had one already."""
    call.scope.cancel()
    await call.done.wait()
    if call.answered is not None:
        call.answered.sent.answer.response.close()
