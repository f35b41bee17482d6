"""Rules, the pipeline's tiers, request analysis and candidate selection, without I/O."""

from __future__ import annotations

import msgspec
import pytest

from turnout.caller import Caller
from turnout.catalog import Catalog
from turnout.config import ClientSettings, RuleSettings, Settings, load_settings, parse_settings
from turnout.errors import AllProvidersFailed, ConfigError, ModelNotFound, NoCapableModel
from turnout.policy.scoring import TargetStats
from turnout.policy.selector import Selector, available
from turnout.routing.analyze import RoutingInput, analyze
from turnout.routing.decision import Tier
from turnout.routing.language import LanguageDetector
from turnout.routing.pipeline import Pipeline
from turnout.routing.rules import DFA_KEYWORDS, RuleTier
from turnout.wire.chat import decode_chat

CALLER = Caller("client-key-hash")


def inp(text: str, *earlier: str) -> RoutingInput:
    messages = [{"role": "user", "content": t} for t in (*earlier, text)]
    return analyze(decode_chat(msgspec.json.encode({"messages": messages}))[1], CALLER)


def rule(name: str, route: str, **kwargs: object) -> RuleSettings:
    return msgspec.convert({"name": name, "route": route, **kwargs}, RuleSettings)


def test_keyword_rules_match_whole_words_case_insensitively() -> None:
    tier = RuleTier([rule("greet", "chat", keywords=["hello", "good morning"])])
    assert tier.match(inp("HELLO there")) is not None
    assert tier.match(inp("well, Good Morning!")) is not None
    assert tier.match(inp("othello is a play")) is None
    assert tier.match(inp("good mornings")) is None
    code = RuleTier([rule("code", "code", keywords=["python", "c++", "Übersetzung"])])
    assert code.match(inp("用python写一个函数")) is not None  # no spaces around it in Chinese
    assert code.match(inp("is C++ faster?")) is not None
    assert code.match(inp("eine ÜBERSETZUNG, bitte")) is not None
    assert code.match(inp("pythonic code; c+ grades; Übersetzungen")) is None


def test_a_keyword_set_beyond_the_dfa_size_matches_the_same_way() -> None:
    filler = [f"filler{i}" for i in range(DFA_KEYWORDS)]
    tier = RuleTier([rule("code", "code", keywords=["python", "c++", *filler])])
    assert tier.match(inp("用python写一个函数")) is not None
    assert tier.match(inp("is C++ faster than filler7?")) is not None
    assert tier.match(inp("pythonic code; c+ grades; filler")) is None


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


def test_the_shipped_rules_route_an_arrow_to_a_language_and_spare_code() -> None:
    tier = RuleTier(list(load_settings(None, {}).rules))
    for text in (
        "高等法院诉讼是关于什么的  -> en",
        "Où est la gare ? → English",
        "Translate → German: the meeting moved to Tuesday",
    ):
        found = tier.match(inp(text))
        assert found is not None, text
        assert found.route == "translation"
    for text in (
        "def name(user) -> str:\n    return user.name",
        "fn parse(input: &str) -> Result<Config, Error>",
        "map each key -> entry, then sort",
    ):
        assert tier.match(inp(text)) is None, text


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
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "response_format": {"type": "json_object"},
        "max_completion_tokens": 50,
        "user": "u-1",
    }
    found = analyze(decode_chat(msgspec.json.encode(body))[1], CALLER)
    assert found.text == "what is in\nthis picture"
    assert found.texts[0] == "be brief"
    assert found.has_images
    assert found.needs_tools
    assert found.needs_json
    assert found.output_limit == 50
    assert found.user == "u-1"
    assert found.token_estimate > 765
    assert found.context == "first question"  # a short follow-up brings the turn before


def test_only_a_short_follow_up_brings_the_previous_user_turn() -> None:
    def context(*turns: str) -> str | None:
        messages = [{"role": "system", "content": "you help with code"}]
        for turn in turns:
            messages += [
                {"role": "user", "content": turn},
                {"role": "assistant", "content": "an answer"},
            ]
        body = {"messages": messages[:-1]}
        return analyze(decode_chat(msgspec.json.encode(body))[1], CALLER).context

    assert context("write a quicksort in C") is None  # one turn: nothing to bring
    assert context("write a quicksort in C", "now in Python") == "write a quicksort in C"
    assert context("an older turn", "write a quicksort in C", "shorter") == (
        "write a quicksort in C"  # one turn back, no further
    )
    standalone = "Draft a cover letter for a junior data analyst role. " * 5
    assert context("write a quicksort in C", standalone) is None  # says enough on its own


def test_analyze_without_user_turn_uses_the_last_message() -> None:
    body = {"messages": [{"role": "system", "content": "only a system prompt"}]}
    assert analyze(decode_chat(msgspec.json.encode(body))[1], CALLER).text == "only a system prompt"


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


@pytest.mark.anyio
async def test_selector_skips_models_whose_output_limit_is_under_max_tokens() -> None:
    settings = parse_settings(
        b"""
providers:
  - name: p
    base_url: http://127.0.0.1:9/v1
    models:
      - {id: short, input_per_mtok: 1, output_per_mtok: 1, context_window: 90000,
         max_output_tokens: 4096}
      - {id: long, input_per_mtok: 1, output_per_mtok: 1, context_window: 90000}
routes: [{name: general, targets: [p/short, p/long]}, {name: brief, targets: [p/short]}]
default_route: general
""",
        {},
    )
    catalog = Catalog(settings)
    selector = Selector(catalog, settings, TargetStats())
    pipeline = Pipeline(catalog, [], settings.default_route)

    def asking(max_tokens: int) -> RoutingInput:
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}
        return analyze(decode_chat(msgspec.json.encode(body))[1], CALLER)

    general = await pipeline.decide("general", asking(4096))
    ids = [t.id for t in selector.candidates(general, asking(4096), CALLER).targets]
    assert ids == ["p/short", "p/long"]
    ids = [t.id for t in selector.candidates(general, asking(8192), CALLER).targets]
    assert ids == ["p/long"]
    brief = await pipeline.decide("brief", asking(8192))
    with pytest.raises(NoCapableModel, match="output limit"):
        selector.candidates(brief, asking(8192), CALLER)


def test_priority_and_and_or_not_conditions() -> None:
    tier = RuleTier(
        [
            rule("later-but-urgent", "urgent", keywords=["outage"], priority=10),
            rule("sql", "code", keywords=["sql", "query"], none_keywords=["sql server license"]),
            rule(
                "both",
                "data",
                all_keywords=["csv", "pandas"],
                any=[{"keywords": ["merge"]}, {"regex": r"(?i)\bjoin\b"}],
                priority=5,
            ),
        ]
    )

    def route(text: str) -> str | None:
        found = tier.match(inp(text))
        return None if found is None else found.route

    assert route("an SQL query is slow during the outage") == "urgent"  # priority beats order
    assert route("how much is a sql server license?") is None  # NOT
    assert route("join two csv files with pandas") == "data"  # AND plus one OR group
    assert route("merge a csv with pandas") == "data"
    assert route("read a csv with pandas") is None  # neither alternative
    assert route("my sql server is down") == "code"  # overlapping keywords: "sql" still hits


def test_metadata_language_and_modality_conditions() -> None:
    premium = ClientSettings(name="acme", key_sha256="0" * 64, tier="premium", team="acme")
    tier = RuleTier(
        [
            rule("vip", "top", tiers=["premium"], session=True),
            rule("beta-header", "beta", headers={"X-Turnout-Beta": "1"}),
            rule("pictures", "vision", images=True),
            rule("french", "fr", languages=["fr"]),
            rule("chinese-keyword", "zh", keywords=["总结"]),
        ]
    )
    detect = LanguageDetector()

    def route(text: str, caller: Caller = CALLER, images: bool = False) -> str | None:
        content: object = text
        if images:
            content = [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
            ]
        body = {"model": "auto", "messages": [{"role": "user", "content": content}]}
        found = tier.match(analyze(decode_chat(msgspec.json.encode(body))[1], caller, detect))
        return None if found is None else found.route

    assert route("hi", Caller("k", session="s1", client=premium)) == "top"
    assert route("hi", Caller("k", client=premium)) is None  # no session: not all conditions
    assert route("hi", Caller("k", headers=[(b"x-turnout-beta", b"1")])) == "beta"
    assert route("hi", Caller("k", headers=[(b"x-turnout-beta", b"0")])) is None
    assert route("what is in this picture?", images=True) == "vision"
    assert route("Pouvez-vous m'aider à écrire une lettre de motivation ?") == "fr"
    assert route("请帮我总结这篇文章") == "zh"  # no spaces in Chinese: no word boundary needed


def test_the_detector_names_varieties_of_chinese_by_their_macrolanguage() -> None:
    detect = LanguageDetector()
    # py3langid's own model calls both Wu Chinese: they are Mandarin, and a zh rule wants them.
    assert detect("娜娜有23个糖果婷婷有30个两人一共有多少个糖果") == "zh"
    assert detect("上海市浦东新区世纪大道") == "zh"
    assert detect.guess("12 + 7 = ?") == ("und", 1.0)
    language, sure = detect.guess("Andika hadithi fupi kuhusu simba aliyepoteza sauti yake")
    assert language == "sw"
    assert sure > 0.9


def test_bad_rules_are_refused_at_load_naming_the_rule() -> None:
    base = b"""
providers:
  - name: p
    base_url: "http://x"
    models: [{id: m, input_per_mtok: 1, output_per_mtok: 1, context_window: 10}]
routes: [{name: r, targets: [p/m]}]
default_route: r
rules:
  - {name: broken, route: r, any: [{regex: "(unclosed"}]}
  - {name: empty, route: r}
"""
    with pytest.raises(ConfigError) as caught:
        parse_settings(base, {})
    message = caught.value.message
    assert "rules[0].any[0].regex: invalid regular expression in rule 'broken'" in message
    assert "rules[1]: a rule needs at least one condition" in message


def test_tool_schemas_count_in_the_token_estimate() -> None:
    plain = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    schema = {"type": "object", "description": "x" * 40_000}
    tools = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    without = analyze(decode_chat(msgspec.json.encode(plain))[1], CALLER).token_estimate
    with_tools = analyze(decode_chat(msgspec.json.encode({**plain, "tools": tools}))[1], CALLER)
    assert with_tools.token_estimate >= without + 10_000


def test_a_long_message_is_read_by_its_head_and_tail_but_counted_whole() -> None:
    text = "translate this log into french: " + "step ok\n" * 900_000 + " the end is near"
    request = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    found = analyze(decode_chat(msgspec.json.encode(request))[1], CALLER, scan_chars=4096)
    assert len(found.text) <= 4097
    assert found.text.startswith("translate this log into french")
    assert found.text.endswith("the end is near")
    assert found.token_estimate >= len(text) // 4
