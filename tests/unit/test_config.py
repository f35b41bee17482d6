"""Config loading: the shipped default, every invariant, key paths in errors, secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from turnout.config import Secret, load_settings, parse_settings
from turnout.errors import ConfigError
from turnout.home import data_home

if TYPE_CHECKING:
    from pathlib import Path

BASE = """
providers:
  - name: openai
    base_url: https://api.openai.com/v1
    api_key_env: OPENAI_API_KEY
    models:
      - {id: gpt-4o-mini, input_per_mtok: 0.15, output_per_mtok: 0.6, context_window: 128000}
routes:
  - {name: general, targets: [openai/gpt-4o-mini]}
  - {name: code, targets: [openai/gpt-4o-mini]}
default_route: general
"""


def parse(text: str, environ: dict[str, str] | None = None) -> None:
    parse_settings(text.encode(), environ or {})


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value.message


def test_shipped_default_config_loads_with_every_required_provider() -> None:
    settings = load_settings(None, {})
    names = {provider.name for provider in settings.providers}
    assert names == {"openai", "anthropic", "deepseek", "mistral", "groq", "gemini"}
    routes = {route.name for route in settings.routes}
    assert {"code", "math", "creative_writing", "translation", "summarization"} <= routes
    assert {"extraction", "reasoning", "knowledge", "chit_chat", "general"} <= routes
    assert settings.default_route == "general"
    assert settings.state.backend == "memory"
    models = [model for provider in settings.providers for model in provider.models]
    assert all(model.context_window > 0 for model in models)
    # Every price and limit comes from the shipped models.dev snapshot, which names its date.
    snapshot = "models.dev 2026-08-18"
    assert all(model.sources["input_per_mtok"] == snapshot for model in models)
    assert all(model.sources["context_window"] == snapshot for model in models)
    assert all(model.status != "deprecated" for model in models)


def test_api_keys_come_from_the_environment_and_are_masked() -> None:
    settings = parse_settings(BASE.encode(), {"OPENAI_API_KEY": "sk-live-123"})
    key = settings.providers[0].api_key
    assert key == Secret("sk-live-123")
    assert key is not None
    assert key.reveal() == "sk-live-123"
    assert "sk-live" not in repr(settings)
    assert "sk-live" not in str(key)
    assert settings.providers[0].available


def test_provider_without_its_key_is_unavailable_not_an_error() -> None:
    settings = parse_settings(BASE.encode(), {})
    assert settings.providers[0].api_key is None
    assert not settings.providers[0].available


def test_secret_in_the_file_is_refused() -> None:
    text = BASE.replace("api_key_env: OPENAI_API_KEY", "api_key: sk-in-file")
    assert "providers[0].api_key: secrets come only from the environment" in error_of(text)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("default_route: general", "default_route: general\nextra: 1"), "extra: unknown key"),
        (("- {name: code,", "- {nmae: x, name: code,"), "routes[1].nmae: unknown key"),
        (
            (
                "targets: [openai/gpt-4o-mini]}\n  - {name: code",
                "targets: [opena/x]}\n  - {name: code",
            ),
            "routes[0].targets[0]: unknown provider 'opena'",
        ),
        (
            ("name: code, targets: [openai/gpt-4o-mini]", "name: code, targets: [openai/gpt-5]"),
            "routes[1].targets[0]: provider 'openai' has no model 'gpt-5'",
        ),
        (
            ("name: code, targets: [openai/gpt-4o-mini]", "name: code, targets: [gpt-4o-mini]"),
            "routes[1].targets[0]: expected 'provider/model'",
        ),
        (
            ("name: code, targets: [openai/gpt-4o-mini]", "name: code, targets: []"),
            "routes[1].targets: a route needs at least one target",
        ),
        (
            ("{name: code,", "{name: general,"),
            "routes[1].name: 'general' is reserved or already used",
        ),
        (("{name: code,", "{name: auto,"), "routes[1].name: 'auto' is reserved or already used"),
        (("default_route: general", "default_route: nope"), "default_route: unknown route 'nope'"),
        (("input_per_mtok: 0.15", "input_per_mtok: -1"), "providers[0].models[0].input_per_mtok"),
        (
            ("context_window: 128000", "context_window: many"),
            "providers[0].models[0].context_window: expected `int`",
        ),
        (("base_url: https://api.openai.com/v1", "base_url: ftp://x"), "providers[0].base_url"),
        (("routes:", "state: {backend: sqlite}\nroutes:"), "state.backend"),
        (
            ("- {id: gpt-4o-mini,", "- {capabilities: [telepathy], id: gpt-4o-mini,"),
            "providers[0].models[0].capabilities[0]",
        ),
    ],
)
def test_invalid_config_names_the_key(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in BASE
    assert expected in error_of(BASE.replace(old, new, 1))


def test_rule_errors_name_the_rule() -> None:
    bad_regex = BASE + 'rules:\n  - {name: broken, regex: "(unclosed", route: code}\n'
    assert "rules[0].regex: invalid regular expression in rule 'broken'" in error_of(bad_regex)
    unknown_route = BASE + "rules:\n  - {name: r, keywords: [x], route: nowhere}\n"
    assert "rules[0].route: unknown route 'nowhere'" in error_of(unknown_route)
    neither = BASE + "rules:\n  - {name: r, route: code}\n"
    assert "rules[0]: a rule needs at least one condition" in error_of(neither)
    blank = BASE + "rules:\n  - {name: r, keywords: [' '], route: code}\n"
    assert "rules[0].keywords: empty keyword" in error_of(blank)
    twice = (
        BASE
        + "rules:\n  - {name: r, keywords: [a], route: code}\n"
        + "  - {name: r, keywords: [b], route: code}\n"
    )
    assert "rules[1].name: duplicate rule 'r'" in error_of(twice)


def test_duplicate_providers_and_models() -> None:
    dup_model = BASE.replace(
        "      - {id: gpt-4o-mini,",
        "      - {id: gpt-4o-mini, input_per_mtok: 1, output_per_mtok: 1, context_window: 1}\n"
        "      - {id: gpt-4o-mini,",
    )
    assert "providers[0].models[1].id: duplicate model 'gpt-4o-mini'" in error_of(dup_model)
    provider = BASE.split("routes:", maxsplit=1)[0].split("providers:\n")[1]
    dup_provider = BASE.replace("providers:\n", "providers:\n" + provider)
    assert "providers[1].name: duplicate provider 'openai'" in error_of(dup_provider)
    models = BASE.split("    models:\n")[1].split("routes:", maxsplit=1)[0]
    no_models = BASE.replace("    models:\n" + models, "    models: []\n")
    assert "providers[0].models: a provider needs at least one model" in error_of(no_models)


def test_malformed_yaml_and_missing_file(tmp_path: Path) -> None:
    assert "routes: required key missing" in error_of(BASE.split("routes:", maxsplit=1)[0])
    assert "not valid YAML" in error_of("providers: [unclosed")
    assert "expected `object`, got `array`" in error_of("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "missing.yaml", {})


def test_config_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "turnout.yaml"
    path.write_text(BASE)
    settings = load_settings(path, {"OPENAI_API_KEY": "k"})
    assert [route.name for route in settings.routes] == ["general", "code"]
    assert settings.server.port == 8080


def test_index_and_encoder_names_are_builds_in_the_data_directory(tmp_path: Path) -> None:
    home = {"TURNOUT_HOME": str(tmp_path / "home")}
    named = parse_settings(
        (BASE + "routing: {index: default, encoder: minilm-l6}\n").encode(), home
    ).routing
    assert named.index == str(tmp_path / "home" / "indexes" / "default")
    assert named.encoder == str(tmp_path / "home" / "encoders" / "minilm-l6")
    # Unset, the encoder is the one the index build names (turnout.routing.index).
    assert parse_settings(BASE.encode(), home).routing.encoder is None
    folders = parse_settings(
        (BASE + "routing: {index: ./mine, encoder: ./enc/use-m3}\n").encode(), home, base=tmp_path
    ).routing
    assert (folders.index, folders.encoder) == (
        str(tmp_path / "mine"),
        str(tmp_path / "enc" / "use-m3"),
    )


def test_the_data_directory_follows_turnout_home_then_xdg(tmp_path: Path) -> None:
    assert data_home({"TURNOUT_HOME": str(tmp_path)}).root == tmp_path.resolve()
    xdg = data_home({"XDG_DATA_HOME": str(tmp_path / "data")})
    assert xdg.root == (tmp_path / "data" / "turnout").resolve()
    assert data_home({}).root.parts[-3:] == (".local", "share", "turnout")


def test_redis_topologies_are_checked() -> None:
    cluster = BASE + "state: {backend: redis, cluster: ['10.0.0.1:7000', '10.0.0.2:7000']}\n"
    assert parse_settings(cluster.encode(), {}).state.topology == "cluster"
    sentinel = BASE + "state: {backend: redis, sentinel: {service: s, nodes: ['h:26379']}}\n"
    assert parse_settings(sentinel.encode(), {}).state.topology == "sentinel"
    assert parse_settings(BASE.encode(), {}).state.topology == "server"
    both = (
        BASE + "state: {backend: redis, cluster: ['h:1'], sentinel: {service: s, nodes: ['h:2']}}\n"
    )
    assert "state: cluster and sentinel are two ways to reach Redis" in error_of(both)
    memory = BASE + "state: {backend: memory, cluster: ['h:1']}\n"
    assert "state.backend: cluster and sentinel are Redis's" in error_of(memory)
    assert "state.cluster[0]" in error_of(BASE + "state: {backend: redis, cluster: ['nohost']}\n")
    assert "state.sentinel.nodes" in error_of(
        BASE + "state: {backend: redis, sentinel: {service: s, nodes: []}}\n"
    )
