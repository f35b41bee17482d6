"""The router's steps the request flow uses: fast tiers, a speculative guess, the slow tiers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
import pytest

from turnout.catalog import Catalog
from turnout.config import RuleSettings
from turnout.flow.router import Read, Routed, Router
from turnout.metrics import Metrics
from turnout.policy.scoring import TargetStats
from turnout.policy.selector import Selector
from turnout.routing.analyze import Analyzer
from turnout.routing.decision import RouteMatch, Tier
from turnout.routing.pipeline import Pipeline
from turnout.routing.rules import RuleTier
from turnout.wire.request import decode_request

if TYPE_CHECKING:
    from collections.abc import Iterable

    from turnout.config import Settings
    from turnout.routing.analyze import RoutingInput
    from turnout.routing.decision import Guessed
    from turnout.wire.request import Request

HINT = msgspec.convert(
    {"name": "hint", "route": "chat", "keywords": ["python"], "speculative": True}, RuleSettings
)
FENCE = msgspec.convert({"name": "fence", "route": "pair", "regex": "```"}, RuleSettings)


class FixedTier:
    """A slow tier that always decides ``route``: a fake of the semantic tier."""

    tier = Tier.SEMANTIC

    def __init__(self, route: str, guess: str | None = None) -> None:
        self.route = route
        self.guess = guess
        self.asked = 0

    @property
    def guesses(self) -> bool:
        return self.guess is not None

    async def match(self, inp: RoutingInput, guessed: Guessed | None = None) -> RouteMatch:
        self.asked += 1
        if self.guess is not None and guessed is not None:
            guessed(self.guess)
        return RouteMatch(self.route, Tier.SEMANTIC, 0.9, "fixed")


def router(settings: Settings, slow: FixedTier | None, speculative: Iterable[str]) -> Router:
    catalog = Catalog(settings)
    tiers = [] if slow is None else [slow]
    pipeline = Pipeline(catalog, [RuleTier([HINT, FENCE])], settings.default_route, tiers)
    selector = Selector(catalog, settings, TargetStats())
    return Router(pipeline, selector, Metrics(), Analyzer(), frozenset(speculative))


def body(text: str) -> Request:
    return decode_request(
        msgspec.json.encode({"model": "auto", "messages": [{"role": "user", "content": text}]})
    )


@pytest.mark.anyio
async def test_the_fast_tiers_leave_a_guess_and_the_slow_ones_decide(settings: Settings) -> None:
    slow = FixedTier("code")
    routing = router(settings, slow, {"chat"})
    read = routing.read(body("is this python idiomatic?"))
    assert isinstance(read, Read)
    assert (read.pending.guess, slow.asked) == ("chat", 0)
    guess = routing.guess(read)
    assert guess is not None
    assert (guess.decision.route, guess.decision.tier) == ("chat", Tier.RULE)
    assert [target.id for target in guess.candidates] == ["beta/b-small", "alpha/a-small"]
    decided = await routing.finish(read)
    assert (decided.decision.route, decided.decision.tier, slow.asked) == ("code", Tier.SEMANTIC, 1)
    assert set(decided.decision.timings_ms) == {"rule", "semantic"}
    assert decided.decision_ms >= guess.decision_ms


@pytest.mark.anyio
async def test_a_slow_tiers_guess_is_handed_over_before_it_decides(settings: Settings) -> None:
    slow = FixedTier("code", guess="chat")
    routing = router(settings, slow, {"chat"})
    read = routing.read(body("hello there, how do I start?"))
    assert isinstance(read, Read)
    assert read.pending.guess is None  # no rule's hint
    told: list[str] = []
    decided = await routing.finish(read, told.append)
    assert (told, decided.decision.route) == (["chat"], "code")
    guess = routing.guessed(read, "chat", Tier.SEMANTIC)
    assert guess is not None
    assert (guess.decision.route, guess.decision.tier) == ("chat", Tier.SEMANTIC)
    assert routing.guessed(read, "code", Tier.SEMANTIC) is None  # code does not speculate
    assert routing.speculates
    assert not router(settings, slow, ()).speculates
    assert not router(settings, FixedTier("code"), {"chat"}).speculates  # a tier that never guesses


@pytest.mark.anyio
async def test_a_rule_decides_alone_and_route_is_read_then_finish(settings: Settings) -> None:
    slow = FixedTier("code")
    routing = router(settings, slow, {"chat"})
    ruled = routing.read(body("```x = 1```"))
    assert isinstance(ruled, Routed)
    assert (ruled.decision.route, ruled.decision.tier, slow.asked) == ("pair", Tier.RULE, 0)
    text = "is this python idiomatic?"
    routed = await routing.route(
        msgspec.json.encode({"model": "auto", "messages": [{"role": "user", "content": text}]})
    )
    assert (routed.decision.route, slow.asked) == ("code", 1)


def test_no_guess_without_speculation_slow_tiers_or_a_model_that_fits(settings: Settings) -> None:
    prompt = body("is this python idiomatic?")
    unspeculative = router(settings, FixedTier("code"), ())
    read = unspeculative.read(prompt)
    assert isinstance(read, Read)
    assert read.pending.guess == "chat"
    assert unspeculative.guess(read) is None  # the route does not speculate
    without_slow = router(settings, None, {"chat"}).read(prompt)
    assert isinstance(without_slow, Read)
    assert without_slow.pending.guess is None  # no slow tier to overlap the call with
    long = router(settings, FixedTier("code"), {"chat"})
    too_long = long.read(body("python " * 20_000))  # about 35k tokens: over chat's 16k models
    assert isinstance(too_long, Read)
    assert long.guess(too_long) is None
