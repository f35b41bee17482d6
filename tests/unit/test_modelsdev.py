"""The models.dev catalog: configs name models by id and inherit; the config's values win."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from typing import TYPE_CHECKING

import pytest

from turnout.cli.models import list_catalog
from turnout.config import parse_settings
from turnout.errors import ConfigError
from turnout.modelsdev import ModelsDev, shipped_path
from turnout.policy.pricing import Tokens, answer_tokens, cost

if TYPE_CHECKING:
    from pathlib import Path

    from turnout.config import ModelSettings, Settings

SNAPSHOT = "models.dev 2026-08-18"


def settings(
    models: str, *, provider: str = "openai", catalog: str | None = None, extra: str = ""
) -> Settings:
    text = f"""
{extra}
providers:
  - name: {provider}
    catalog: {catalog or "null"}
    base_url: http://127.0.0.1:9/v1
    models: {models}
routes: [{{name: general, targets: [{provider}/gpt-5.4-mini]}}]
default_route: general
"""
    return parse_settings(text.encode(), {})


def model(found: Settings, model_id: str) -> ModelSettings:
    return next(m for p in found.providers for m in p.models if m.id == model_id)


def error_of(
    models: str, *, provider: str = "openai", catalog: str | None = None, extra: str = ""
) -> str:
    with pytest.raises(ConfigError) as caught:
        settings(models, provider=provider, catalog=catalog, extra=extra)
    return caught.value.message


def test_a_bare_id_inherits_prices_limits_and_capabilities_with_their_source() -> None:
    mini = model(settings("[gpt-5.4-mini]"), "gpt-5.4-mini")
    assert (mini.input_per_mtok, mini.output_per_mtok, mini.cache_read_per_mtok) == (
        0.75,
        4.5,
        0.075,
    )
    assert (mini.context_window, mini.max_output_tokens) == (400_000, 128_000)
    assert mini.capabilities == {"tools", "json", "vision", "reasoning"}
    assert mini.sources["input_per_mtok"] == SNAPSHOT
    assert mini.sources["capabilities"] == SNAPSHOT
    assert "cache_write_per_mtok" not in mini.sources  # the catalog has no such price


def test_long_prompt_prices_are_inherited_as_a_tier() -> None:
    full = model(settings("[gpt-5.4-mini, gpt-5.4]"), "gpt-5.4")
    assert full.long_context is not None
    assert full.long_context.above_tokens == 200_000
    assert (full.long_context.input_per_mtok, full.long_context.output_per_mtok) == (5.0, 22.5)


def test_what_the_config_sets_wins_and_says_so() -> None:
    mini = model(
        settings("[{id: gpt-5.4-mini, input_per_mtok: 0.5, capabilities: [tools]}]"),
        "gpt-5.4-mini",
    )
    assert mini.input_per_mtok == 0.5
    assert mini.output_per_mtok == 4.5
    assert mini.capabilities == {"tools"}
    assert mini.sources["input_per_mtok"] == "config"
    assert mini.sources["capabilities"] == "config"
    assert mini.sources["output_per_mtok"] == SNAPSHOT


def test_an_unknown_id_needs_its_prices_and_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    message = error_of("[gpt-5.4-mini, gpt-42]")
    assert "providers[0].models[1]" in message
    assert "models.dev 2026-08-18 does not list 'gpt-42' at 'openai'" in message
    assert "give input_per_mtok, output_per_mtok, context_window" in message
    given = "{id: gpt-42, input_per_mtok: 1, output_per_mtok: 2, context_window: 1000}"
    found = settings(f"[gpt-5.4-mini, {given}]")
    assert model(found, "gpt-42").sources == {
        "input_per_mtok": "config",
        "output_per_mtok": "config",
        "context_window": "config",
    }
    assert "providers[0].models[1]: models.dev 2026-08-18 does not list 'gpt-42'" in caplog.text


def test_a_deprecated_model_is_reported_at_load(caplog: pytest.LogCaptureFixture) -> None:
    old = model(settings("[gpt-5.4-mini, gpt-4.1-nano]"), "gpt-4.1-nano")
    assert old.status == "deprecated"
    assert "'openai/gpt-4.1-nano' is deprecated (models.dev 2026-08-18)" in caplog.text


def test_a_provider_found_by_its_catalog_id_and_a_model_by_its_catalog_id() -> None:
    found = settings(
        "[{id: gpt-5.4-mini, catalog_id: gemini-3.5-flash}]",
        provider="gemini",
        catalog="google",
    )
    flash = model(found, "gpt-5.4-mini")  # a deployment named unlike the model it serves
    assert (flash.input_per_mtok, flash.output_per_mtok) == (1.5, 9.0)
    assert "providers[0].catalog: models.dev 2026-08-18 has no provider 'gogle'" in error_of(
        "[gpt-5.4-mini]", provider="gemini", catalog="gogle"
    )


def test_a_provider_the_catalog_does_not_list_gives_every_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = error_of("[gpt-5.4-mini]", provider="local")
    assert "providers[0].models[0]: the provider is not in models.dev 2026-08-18" in message
    given = "[{id: gpt-5.4-mini, input_per_mtok: 0, output_per_mtok: 0, context_window: 8192}]"
    local = model(settings(given, provider="local"), "gpt-5.4-mini")
    assert local.capabilities == frozenset()
    assert caplog.text == ""  # a provider of one's own is no news


def test_sources_are_turnouts_to_set() -> None:
    message = error_of("[{id: gpt-5.4-mini, sources: {input_per_mtok: me}}]")
    assert "providers[0].models[0].sources: set by turnout" in message


def test_another_snapshot_can_be_named_and_a_missing_one_is_a_config_error(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    shutil.copy(shipped_path(), newer)
    with sqlite3.connect(newer) as db:
        db.execute(
            "UPDATE pricing SET cost_input = 0.6 WHERE model_full_id = 'openai:gpt-5.4-mini'"
        )
        db.execute(
            "UPDATE metadata SET value = '2026-12-01T00:00:00+00:00' WHERE key = 'generated_at'"
        )
    db.close()
    found = settings("[gpt-5.4-mini]", extra=f"catalog: {{path: {newer}}}")
    assert model(found, "gpt-5.4-mini").input_per_mtok == 0.6
    assert model(found, "gpt-5.4-mini").sources["input_per_mtok"] == "models.dev 2026-12-01"
    missing = error_of("[gpt-5.4-mini]", extra=f"catalog: {{path: {tmp_path / 'none.sqlite'}}}")
    assert "catalog.path: cannot read a models.dev database" in missing


def test_cached_reasoning_and_long_prompt_tokens_take_their_prices() -> None:
    found = settings("[gpt-5.4-mini, gpt-5.4]")
    full = model(found, "gpt-5.4")  # 2.5 in, 15 out, 0.25 cached; above 200k: 5, 22.5, 0.5
    assert cost(full, Tokens(100_000, 0)) == pytest.approx(0.25)
    assert cost(full, Tokens(100_000, 0, cached=40_000)) == pytest.approx(0.15 + 0.01)
    assert cost(full, Tokens(300_000, 1_000_000)) == pytest.approx(1.5 + 22.5)
    with_writes = model(
        settings("[gpt-5.4-mini, {id: gpt-5.4, cache_write_per_mtok: 3.0}]"), "gpt-5.4"
    )
    assert cost(with_writes, Tokens(100_000, 0, cache_write=100_000)) == pytest.approx(0.3)
    reasoning = model(settings("[gpt-5.4-mini, {id: gpt-5.4, reasoning_per_mtok: 1.0}]"), "gpt-5.4")
    assert cost(reasoning, Tokens(0, 1_000_000, reasoning=600_000)) == pytest.approx(6 + 0.6)


@pytest.mark.parametrize(
    ("usage", "tokens"),
    [
        (
            {
                "prompt_tokens": 100,
                "completion_tokens": 50,
                "prompt_tokens_details": {"cached_tokens": 40},
                "completion_tokens_details": {"reasoning_tokens": 30},
            },
            Tokens(100, 50, cached=40, reasoning=30),
        ),
        (
            {
                "input_tokens": 100,
                "output_tokens": 50,
                "input_tokens_details": {"cached_tokens": 40},
                "output_tokens_details": {"reasoning_tokens": 30},
            },
            Tokens(100, 50, cached=40, reasoning=30),
        ),
        (
            {
                "input_tokens": 60,
                "output_tokens": 50,
                "cache_read_input_tokens": 30,
                "cache_creation_input_tokens": 10,
            },
            Tokens(100, 50, cached=30, cache_write=10),
        ),
        ({"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": None}, Tokens(7, 3)),
    ],
    ids=["chat-completions", "responses", "messages", "messages-nulls"],
)
def test_answer_tokens_read_every_apis_usage(usage: dict[str, object], tokens: Tokens) -> None:
    assert answer_tokens(json.dumps({"usage": usage}).encode()) == tokens


def test_answer_tokens_without_usage_are_unknown() -> None:
    assert answer_tokens(b'{"choices": []}') is None
    assert answer_tokens(b'{"usage": {"prompt_tokens": "many"}}') is None
    assert answer_tokens(b"not json") is None


def test_turnout_models_lists_providers_and_one_providers_models() -> None:
    out = io.StringIO()
    assert list_catalog(None, None, as_json=True, out=out) == 0
    providers = [json.loads(line) for line in out.getvalue().splitlines()]
    with ModelsDev(shipped_path()) as database:
        assert len(providers) == len(database.providers()) == 191
    openai = next(p for p in providers if p["provider"] == "openai")
    assert openai["key_env"] == "OPENAI_API_KEY"
    out = io.StringIO()
    assert list_catalog(None, "anthropic", as_json=True, out=out) == 0
    rows = {row["model"]: row for row in map(json.loads, out.getvalue().splitlines())}
    assert rows["claude-sonnet-5"]["input"] == 2.0
    assert rows["claude-sonnet-5"]["capabilities"] == "json reasoning tools vision"
    table = io.StringIO()
    assert list_catalog(None, "anthropic", as_json=False, out=table) == 0
    assert "claude-haiku-4-5" in table.getvalue()
    assert SNAPSHOT in table.getvalue()
    assert list_catalog(None, "nope", as_json=False, out=io.StringIO()) == 2
