"""Speculative dispatch: start the upstream call on a guess while the semantic tier decides.

A speculative rule (``rules[].speculative``) guesses a route from the request's text in
microseconds; the encoder and classifier take a millisecond or more (much more under load).
When the guessed route allows it (``routes[].speculate``), the guess's upstream call starts at
once, through the same admission and cascade as any request. When the decision agrees, that
call is the answer: nothing is sent twice. When it does not, the speculative call is cancelled
(its connection dropped, before or after its headers) and the decided route's candidates are
tried instead. Nothing of a speculative call reaches the client before the decision agrees.

``turnout_speculation_total{outcome="agreed|disagreed"}``,
``turnout_speculation_saved_seconds_total`` (decision time the upstream call overlapped) and
``turnout_speculation_wasted_tokens_total`` (estimated prompt and output tokens of cancelled
calls) measure it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from service.policy.admission import tokens

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from service.gateway.cascade import Cascade, Cascaded
    from service.metrics import Metrics
    from service.policy.admission import Admission, Admitted
    from service.policy.caller import Caller
    from service.router import Routed


@dataclass(slots=True)
class _Call:
    guess: Routed
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    done: anyio.Event = field(default_factory=anyio.Event)
    result: tuple[Admitted, Cascaded] | None = None
    error: Exception | None = None
    limited: bool = False  # the error came from the caller's rate limits


class Speculation:
    """One request's speculative call: started on a guess, then kept or cancelled."""

    def __init__(  # noqa: PLR0913 - one request's context and the parts it uses
        self,
        admission: Admission,
        cascade: Cascade,
        metrics: Metrics,
        *,
        caller: Caller,
        request_id: str,
        group: TaskGroup,
    ) -> None:
        self._admission = admission
        self._cascade = cascade
        self._metrics = metrics
        self._caller = caller
        self._request_id = request_id
        self._group = group
        self._call: _Call | None = None
        self.outcome: str | None = None
        """``agreed`` or ``disagreed`` once resolved, when a guess started a call."""

    @property
    def counted(self) -> bool:
        """Whether the request was counted against the caller's limits already."""
        return self._call is not None

    def start(self, guess: Routed) -> None:
        """Start the guessed route's upstream call (called by the router, not awaited)."""
        self._call = _Call(guess)
        self._group.start_soon(self._run, self._call)

    async def _run(self, call: _Call) -> None:
        try:
            with call.scope:
                guess = call.guess
                try:
                    await self._admission.check_limits(self._caller, guess)
                except Exception:
                    call.limited = True
                    raise
                admitted = await self._admission.admit(self._caller, guess, limits=False)
                sent = await self._cascade.send(
                    guess.decision.route,
                    admitted.candidates,
                    guess.fields,
                    self._request_id,
                    stream=bool(guess.chat.stream),
                    tokens=tokens(guess),
                )
                call.result = (admitted, sent)
        except Exception as exc:  # noqa: BLE001 - handed to resolve(), which decides its fate
            call.error = exc
        finally:
            call.done.set()

    async def resolve(self, routed: Routed) -> tuple[Admitted, Cascaded] | None:
        """The speculative call's outcome if the decision agrees; None if none or cancelled.

        Raises:
            ServiceError: the agreed call failed as a normal one would have (or the caller's
                rate limit refused the request, agreed or not).
        """
        call = self._call
        if call is None:
            return None
        if routed.decision.route != call.guess.decision.route:
            await self.abandon()
            self.outcome = "disagreed"
            self._metrics.speculation("disagreed", saved_s=0.0, wasted_tokens=tokens(call.guess))
            if call.limited and call.error is not None:
                raise call.error
            return None
        await call.done.wait()
        if call.error is not None:
            raise call.error
        saved = max(0.0, routed.decision_ms - call.guess.decision_ms) / 1000
        self.outcome = "agreed"
        self._metrics.speculation("agreed", saved_s=saved, wasted_tokens=0)
        return call.result

    async def abandon(self) -> None:
        """Cancel the speculative call, and drop its answer unread if it had one already."""
        call = self._call
        if call is None:
            return
        call.scope.cancel()
        await call.done.wait()
        if call.result is not None:
            call.result[1].answer.response.close()
