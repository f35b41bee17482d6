"""Rules, the pipeline's tiers, request analysis and candidate selection, without I/O."""

from __future__ import annotations

import msgspec
import pytest

from service.config import RuleSettings, Settings
from service.errors import AllProvidersFailed, ModelNotFound, NoCapableModel
from service.http.body import decode_chat
from service.policy.caller import Caller
from service.policy.catalog import Catalog
from service.policy.scoring import TargetStats
from service.policy.selector import Selector, available
from service.routing.analyze import RoutingInput, analyze
from service.routing.decision import Tier
from service.routing.pipeline import Pipeline
from service.routing.rules import RuleTier

CALLER = Caller("client-key-hash")


def inp(text: str, *earlier: str) -> RoutingInput:
    messages = [{"role": "user", "content": t} for t in (*earlier, text)]
    return analyze(decode_chat(msgspec.json.encode({"messages": messages}))[1], "tenant")


def rule(name: str, route: str, **kwargs: object) -> RuleSettings:
    return msgspec.convert({"name": name, "route": route, **kwargs}, RuleSettings)


def test_keyword_rules_match_whole_words_case_insensitively() -> None:
    tier = RuleTier([rule("greet", "chat", keywords=["hello", "good morning"])])
    assert tier.match(inp("HELLO there")) is not None
    assert tier.match(inp("well, Good Morning!")) is not None
    assert tier.match(inp("othello is a play")) is None
    assert tier.match(inp("good mornings")) is None


def test_regex_rules_and_config_order_is_priority() -> None:
    tier = RuleTier(
        [
            rule("first", "one", regex=r"(?i)\bsql\b"),
            rule("second", "two", keywords=["sql", "query"]),
        ]
    )
    found = tier.match(inp("write an SQL query"))
    assert found is not None
    assert (found.route, found.tier, found.reason) == ("one", Tier.RULE, "rule 'first' matched")
    second = tier.match(inp("a query please"))
    assert second is not None
    assert second.route == "two"


def test_match_scope_last_user_or_any_message() -> None:
    tier = RuleTier(
        [
            rule("last", "a", keywords=["alpha"]),
            rule("anywhere", "b", keywords=["beta"], match="any"),
        ]
    )
    assert tier.match(inp("nothing", "alpha was earlier")) is None
    found = tier.match(inp("nothing", "beta was earlier"))
    assert found is not None
    assert found.route == "b"


def test_analyze_reads_the_last_user_turn_and_needs() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "an answer"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in"},
                    {"type": "image_url", "image_url": {"url": "data:,"}},
                    {"type": "text", "text": "this picture"},
                ],
            },
            {"role": "tool", "content": None},
        ],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "response_format": {"type": "json_object"},
        "max_completion_tokens": 50,
        "user": "u-1",
    }
    found = analyze(decode_chat(msgspec.json.encode(body))[1], "tenant")
    assert found.text == "what is in\nthis picture"
    assert found.texts[0] == "be brief"
    assert found.has_images
    assert found.needs_tools
    assert found.needs_json
    assert found.output_limit == 50
    assert found.user == "u-1"
    assert found.token_estimate > 765


def test_analyze_without_user_turn_uses_the_last_message() -> None:
    body = {"messages": [{"role": "system", "content": "only a system prompt"}]}
    assert (
        analyze(decode_chat(msgspec.json.encode(body))[1], "tenant").text == "only a system prompt"
    )


@pytest.mark.anyio
async def test_pipeline_tiers(settings: Settings) -> None:
    catalog = Catalog(settings)
    pipeline = Pipeline(catalog, [RuleTier(settings.rules)], settings.default_route)
    ruled = await pipeline.decide("auto", inp("```code```"))
    assert (ruled.route, ruled.tier) == ("code", Tier.RULE)
    assert set(ruled.timings_ms) == {"rule"}
    fallback = await pipeline.decide("auto", inp("nothing special"))
    assert (fallback.route, fallback.tier, fallback.confidence) == ("general", Tier.DEFAULT, 0.0)
    explicit = await pipeline.decide("chat", inp("```code```"))
    assert (explicit.route, explicit.tier) == ("chat", Tier.EXPLICIT)
    pinned = await pipeline.decide("b-large", inp("x"))
    assert (pinned.route, pinned.pinned) == (None, "beta/b-large")
    with pytest.raises(ModelNotFound):
        await pipeline.decide("gpt-none", inp("x"))


@pytest.mark.anyio
async def test_selector_filters_by_capability_and_availability(settings: Settings) -> None:
    catalog = Catalog(settings)
    pipeline = Pipeline(catalog, [], settings.default_route)
    selector = Selector(catalog, settings, TargetStats())
    text = inp("hi")
    code = await pipeline.decide("code", text)
    assert [t.id for t in selector.candidates(code, text, CALLER).targets] == [
        "alpha/a-large",
        "beta/b-large",
    ]
    long_prompt = inp("word " * 120_000)  # about 150k tokens
    assert [t.id for t in selector.candidates(code, long_prompt, CALLER).targets] == [
        "alpha/a-large"
    ]
    chat = await pipeline.decide("chat", long_prompt)
    with pytest.raises(NoCapableModel):
        selector.candidates(chat, long_prompt, CALLER)
    sealed = await pipeline.decide("sealed", text)
    with pytest.raises(AllProvidersFailed, match="LOCKED_KEY"):
        available(selector.candidates(sealed, text, CALLER).targets)
