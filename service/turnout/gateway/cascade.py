"""Cascade: try the cheap models first, and escalate to the premium one when they are unsure.

On a route with ``cascade: {enabled: true, premium: provider/model}``, a JSON (non-streaming)
request goes first to the route's other candidates with ``logprobs`` requested. When the mean
log-probability of the answer's tokens is under ``min_mean_logprob`` (default -0.5), the
request is sent again, as the client wrote it, to the premium model, and the client gets the
premium answer; both answers are charged. An answer without logprobs (a provider that does not
report them) is kept. When the premium model fails, the cheap answer is kept. The cheap answer
keeps the ``logprobs`` the cascade asked for.

Streaming requests are out of scope: they go to the candidates as usual, without a cascade,
since an unsure stream would already have reached the client.

``turnout_cascade_total{route, outcome="kept|escalated|unscored"}`` counts the outcomes; the
answer says which in ``x-turnout-cascade``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

import msgspec

from turnout.errors import ServiceError

if TYPE_CHECKING:
    from turnout.catalog import Catalog, Target
    from turnout.config import Settings
    from turnout.gateway.failover import Gateway, Opened
    from turnout.metrics import Metrics
    from turnout.wire.request import Request

_TRUE: Final = msgspec.Raw(b"true")


class _Token(msgspec.Struct):
    logprob: float


class _Logprobs(msgspec.Struct):
    content: list[_Token] | None = None


class _Choice(msgspec.Struct):
    logprobs: _Logprobs | None = None


class _Answer(msgspec.Struct):
    choices: list[_Choice] = []


_ANSWER: Final = msgspec.json.Decoder(_Answer)


def mean_logprob(body: bytes | None) -> float | None:
    """The mean token log-probability of an answer's first choice; None when it has none."""
    if body is None:
        return None
    try:
        answer = _ANSWER.decode(body)
    except msgspec.MsgspecError:
        return None
    if not answer.choices or answer.choices[0].logprobs is None:
        return None
    tokens = answer.choices[0].logprobs.content
    if not tokens:
        return None
    return sum(token.logprob for token in tokens) / len(tokens)


@dataclass(frozen=True, slots=True)
class Cascaded:
    """The answer for the client, the cheap one it replaced (if escalated), and the outcome."""

    answer: Opened
    replaced: Opened | None = None
    outcome: str | None = None  # None: the route has no cascade


@dataclass(frozen=True, slots=True)
class _Route:
    premium: Target
    min_mean_logprob: float


class Cascade:
    """Sends requests through the gateway, by way of the cascade on the routes that have one."""

    def __init__(
        self, settings: Settings, catalog: Catalog, gateway: Gateway, metrics: Metrics
    ) -> None:
        self._routes = {
            route.name: _Route(
                catalog.targets[route.cascade.premium], route.cascade.min_mean_logprob
            )
            for route in settings.routes
            if route.cascade.enabled and route.cascade.premium is not None
        }
        self._gateway = gateway
        self._metrics = metrics

    async def send(  # noqa: PLR0913 - the gateway's arguments and the route
        self,
        route: str | None,
        candidates: tuple[Target, ...],
        request: Request,
        request_id: str,
        *,
        stream: bool,
        tokens: int = 0,
    ) -> Cascaded:
        """Send through the cascade on a cascade route (JSON only), else `Gateway.send` as is.

        The cheap candidates go first, with logprobs; the premium one follows if they were unsure.

        Raises:
            ServiceError: as `Gateway.send`, when no cheap candidate answers (or when the
                premium one is the only candidate and fails).
        """
        config = self._routes.get(route or "")
        if stream or route is None or config is None:
            opened = await self._gateway.send(
                candidates, request, request_id, stream=stream, tokens=tokens
            )
            return Cascaded(opened)
        gateway = self._gateway
        cheap = tuple(target for target in candidates if target.id != config.premium.id)
        if not cheap:
            opened = await gateway.send(
                (config.premium,), request, request_id, stream=False, tokens=tokens
            )
            return self._counted(route, Cascaded(opened, None, "premium_only"))
        with_logprobs = replace(request, fields={**request.fields, "logprobs": _TRUE})
        first = await gateway.send(cheap, with_logprobs, request_id, stream=False, tokens=tokens)
        mean = mean_logprob(first.body)
        if mean is None:
            return self._counted(route, Cascaded(first, None, "unscored"))
        if mean >= config.min_mean_logprob:
            return self._counted(route, Cascaded(first, None, "kept"))
        try:
            premium = await gateway.send(
                (config.premium,), request, request_id, stream=False, tokens=tokens
            )
        except ServiceError:
            return self._counted(route, Cascaded(first, None, "premium_failed"))
        return self._counted(route, Cascaded(premium, first, "escalated"))

    def _counted(self, route: str, cascaded: Cascaded) -> Cascaded:
        self._metrics.cascade(route, cascaded.outcome or "")
        return cascaded
