"""The semantic tier end to end: a rebuilt index, loaded by the app, routing by meaning."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import pytest

from tests.builds import MINILM_L6, USE_M3
from tests.conftest import ENVIRON
from tests.fakes.server import serve_in_thread
from tests.integration.test_index_rebuild import ROUTES, write_exemplars
from turnout.app import create_app
from turnout.caller import key_hash
from turnout.cli import main
from turnout.config import parse_settings
from turnout.errors import ConfigError
from turnout.routing.encoder import OnnxEmbedder
from turnout.routing.index import load_semantic
from turnout.training.exemplars import load_exemplars
from turnout.training.index import BuildReport, rebuild

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from turnout.config import Settings

CONFIG = """
routing: {{index: {index}}}
providers:
  - name: beta
    base_url: {beta}/v1
    models:
      - {{id: b-small, input_per_mtok: 0.2, output_per_mtok: 0.6, context_window: 16000}}
routes:
  - {{name: code, targets: [beta/b-small]}}
  - {{name: math, targets: [beta/b-small]}}
  - {{name: chit_chat, targets: [beta/b-small]}}
  - {{name: general, targets: [beta/b-small]}}
rules:
  - {{name: greeting, keywords: [hello], route: chit_chat}}
default_route: general
"""


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("semantic")
    embedder = OnnxEmbedder(USE_M3, threads=1, max_tokens=128)
    rebuild(
        load_exemplars(write_exemplars(folder / "exemplars", ROUTES)), folder / "index", embedder
    )
    return folder / "index"


@pytest.fixture(scope="module")
def semantic_settings(index_dir: Path, beta_upstream: tuple[object, str]) -> Settings:
    text = CONFIG.format(index=index_dir, beta=beta_upstream[1])
    return parse_settings(text.encode(), ENVIRON)


@pytest.fixture(scope="module")
def semantic_url(semantic_settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(semantic_settings)) as url:
        yield url


def decide(url: str, text: str) -> dict[str, Any]:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    response = httpx.post(f"{url}/v1/route", json=body, timeout=10)
    assert response.status_code == 200, response.text
    decided: dict[str, Any] = response.json()
    return decided


def test_prompts_without_a_rule_are_routed_by_meaning(semantic_url: str, index_dir: Path) -> None:
    code = decide(semantic_url, "my python script crashes with a KeyError, how do I debug it?")
    assert (code["route"], code["tier"]) == ("code", "semantic")
    build_id = msgspec.json.decode((index_dir / "manifest.json").read_bytes())["build_id"]
    assert code["build_id"] == build_id
    neighbours = code["neighbours"]
    assert isinstance(neighbours, list)
    assert neighbours
    assert neighbours[0]["route"] == "code"
    timings = code["timings_ms"]
    assert isinstance(timings, dict)
    phases = {"semantic.encoder", "semantic.cache", "semantic.knn_classifier"}
    assert set(timings) == {"rule", "semantic", "total", *phases}
    assert sum(timings[phase] for phase in phases) <= timings["semantic"]
    math = decide(semantic_url, "solve the equation 2x + 5 = 13")
    assert (math["route"], math["tier"]) == ("math", "semantic")


def test_chat_completions_report_the_index_build(semantic_url: str, index_dir: Path) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "solve 3x = 12 for x"}]}
    response = httpx.post(f"{semantic_url}/v1/chat/completions", json=body, timeout=10)
    assert response.status_code == 200
    assert response.headers["x-turnout-route"] == "math"
    assert response.headers["x-turnout-tier"] == "semantic"
    build_id = msgspec.json.decode((index_dir / "manifest.json").read_bytes())["build_id"]
    assert response.headers["x-turnout-index-build"] == build_id


def test_the_debug_header_explains_the_whole_decision(semantic_url: str, index_dir: Path) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "solve 7x = 49 for x"}]}
    answer = httpx.post(
        f"{semantic_url}/v1/chat/completions",
        json=body,
        headers={"x-turnout-debug": "1"},
        timeout=10,
    )
    assert answer.status_code == 200
    explained = msgspec.json.decode(answer.headers["x-turnout-decision"])
    build_id = msgspec.json.decode((index_dir / "manifest.json").read_bytes())["build_id"]
    assert (explained["route"], explained["tier"], explained["build_id"]) == (
        "math",
        "semantic",
        build_id,
    )
    assert set(explained["scores"]) >= {"math", "code"}
    assert 0 <= explained["threshold"] <= 1
    assert all(len(n["text"]) <= 80 for n in explained["neighbours"])
    assert {"rule", "semantic", "semantic.encoder", "total"} <= set(explained["timings_ms"])
    assert explained["attempts"][0]["model"] == "beta/b-small"
    assert explained["attempts"][0]["status"] == 200
    plain = httpx.post(f"{semantic_url}/v1/chat/completions", json=body, timeout=10)
    assert "x-turnout-decision" not in plain.headers


def test_near_duplicates_reuse_a_decision_but_opposites_do_not(semantic_url: str) -> None:
    first = decide(semantic_url, "Increase the font size in my Python editor")
    assert first["tier"] in {"semantic", "default"}
    again = decide(semantic_url, "Increase the font size in my Python editor.")
    assert again["tier"] == "cache"
    assert "semantic.knn_classifier" not in str(again["timings_ms"])  # a hit skips scoring
    assert again["route"] == first["route"]
    assert "cached decision" in str(again["explanation"])
    opposite = decide(semantic_url, "Decrease the font size in my Python editor")
    assert opposite["tier"] != "cache"
    metrics = httpx.get(f"{semantic_url}/metrics").text
    assert 'turnout_decision_cache_total{outcome="hit"}' in metrics
    assert 'turnout_decision_cache_total{outcome="guarded"}' in metrics


def test_a_short_follow_up_is_read_with_the_turn_before(semantic_url: str) -> None:
    follow_up = "and what about the next one?"
    messages = [
        {"role": "user", "content": "solve the equation 4x - 3 = 9"},
        {"role": "assistant", "content": "x = 3"},
        {"role": "user", "content": follow_up},
    ]
    body = {"model": "auto", "messages": messages}
    response = httpx.post(f"{semantic_url}/v1/route", json=body, timeout=10)
    assert response.status_code == 200, response.text
    decided = response.json()
    # The context makes math the best route; whether it clears the threshold that this tiny
    # index fitted on a few held-out rows is another matter.
    assert decided["context"] is True
    assert max(decided["scores"], key=decided["scores"].get) == "math"
    alone = decide(semantic_url, follow_up)
    assert alone["context"] is False
    scores = alone["scores"]
    assert isinstance(scores, dict)
    assert scores.get("math", 0) < decided["scores"]["math"]


def test_rules_still_decide_first(semantic_url: str) -> None:
    greeting = decide(semantic_url, "hello, can you solve 2x = 4?")
    assert (greeting["route"], greeting["tier"]) == ("chit_chat", "rule")


def test_unsure_prompts_go_to_the_default_route_with_evidence(semantic_url: str) -> None:
    unsure = decide(semantic_url, "Quelle est la meilleure saison pour visiter le Japon ?")
    assert (unsure["route"], unsure["tier"]) == ("general", "default")
    assert "under its threshold" in str(unsure["explanation"])
    assert unsure["scores"]


def test_index_must_match_routes_and_encoder(index_dir: Path, semantic_settings: Settings) -> None:
    with pytest.raises(ConfigError, match="are not configured routes"):
        load_semantic(semantic_settings.routing, {"code", "general"})
    other = msgspec.structs.replace(semantic_settings.routing, encoder=str(MINILM_L6))
    with pytest.raises(ConfigError, match="built with another encoder"):
        load_semantic(other, {"code", "math", "chit_chat", "general"})


def first_build(tmp_path: Path) -> tuple[OnnxEmbedder, Path, Path, str]:
    """A build of ``ROUTES`` in ``tmp_path/index``: the encoder, sources, index and build id."""
    embedder = OnnxEmbedder(USE_M3, threads=1, max_tokens=128)
    source = write_exemplars(tmp_path / "exemplars", ROUTES)
    index = tmp_path / "index"
    return embedder, source, index, rebuild(load_exemplars(source), index, embedder).build_id


def grow(source: Path, index: Path, embedder: OnnxEmbedder) -> BuildReport:
    """Rebuild with one more math exemplar: a new build id."""
    grown = {**ROUTES, "math": [*ROUTES["math"], "what is the cube root of 27"]}
    return rebuild(load_exemplars(write_exemplars(source, grown)), index, embedder)


def swap_under_load(
    url: str, swap: Callable[[], str], *, workers: int = 4
) -> tuple[list[str], list[int], str]:
    """Route one prompt from ``workers`` clients while ``swap`` puts a new build in place.

    Returns the build id of every decision in order, every failed status, and the id ``swap``
    returned, once decisions come from it (or after 20 s).
    """
    body = {"model": "auto", "messages": [{"role": "user", "content": "solve 2x + 5 = 13"}]}
    seen: list[str] = []
    failures: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                response = client.post(f"{url}/v1/route", json=body)
                if response.status_code != 200:
                    failures.append(response.status_code)
                else:
                    seen.append(response.json()["build_id"])

    threads = [threading.Thread(target=load) for _ in range(workers)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(seen) < 2 * workers and time.monotonic() < deadline:  # load on the first build
            time.sleep(0.01)
        swapped = swap()
        deadline = time.monotonic() + 20  # the watcher looks every 50 ms
        while swapped not in seen[-2 * workers :] and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    return seen, failures, swapped


def test_a_new_build_is_swapped_in_under_load_without_failures(
    tmp_path: Path, beta_upstream: tuple[object, str]
) -> None:
    embedder, source, index, first = first_build(tmp_path)
    text = CONFIG.format(index=index, beta=beta_upstream[1]).replace(
        "routing: {index:", "routing: {watch_interval_s: 0.05, index:"
    )
    with serve_in_thread(create_app(parse_settings(text.encode(), ENVIRON))) as url:
        seen, failures, second = swap_under_load(
            url, lambda: grow(source, index, embedder).build_id
        )
    assert failures == []
    assert second != first
    assert seen[0] == first
    swapped = seen.index(second)
    # After the swap only decisions already in flight (one per worker at most) use the old build.
    assert seen[swapped:].count(first) <= 4
    assert len(seen) > 20


def test_the_admin_endpoint_reloads_a_new_build_at_once(
    tmp_path: Path, beta_upstream: tuple[object, str]
) -> None:
    embedder, source, index, first = first_build(tmp_path)
    admin = key_hash(b"sk-admin-secret")
    text = (
        CONFIG.format(index=index, beta=beta_upstream[1]).replace(
            "routing: {index:", "routing: {watch_interval_s: 3600, index:"
        )
        + f"auth: {{admin_key_sha256: {admin}}}\n"
    )
    with serve_in_thread(create_app(parse_settings(text.encode(), ENVIRON))) as url:
        reload = f"{url}/v1/admin/index/reload"
        refused = httpx.post(reload, headers={"authorization": "Bearer sk-not-admin"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        assert "sk-not-admin" not in refused.text
        second = grow(source, index, embedder)
        headers = {"authorization": "Bearer sk-admin-secret"}
        answer = httpx.post(reload, headers=headers).json()
        assert answer == {"build_id": second.build_id, "previous_build_id": first, "reloaded": True}
        assert decide(url, "solve 2x + 5 = 13")["build_id"] == second.build_id
        assert httpx.post(reload, headers=headers).json()["reloaded"] is False
        (index / "manifest.json").write_text("{not json")
        broken = httpx.post(reload, headers=headers)
        assert broken.status_code == 409
        assert second.build_id in broken.json()["error"]["message"]
        assert decide(url, "solve 2x + 5 = 13")["build_id"] == second.build_id


def test_route_with_an_index_alone(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = index_dir.parent / "prompts.jsonl"
    prompts.write_text(
        '{"text": "solve the equation 2x + 5 = 13"}\n'
        '{"text": "Quelle est la meilleure saison pour visiter le Japon ?"}\n'
    )
    assert main(["route", "--index", str(index_dir), "--file", str(prompts), "--json"]) == 0
    first, second = (msgspec.json.decode(line) for line in capsys.readouterr().out.splitlines())
    assert (first["route"], first["tier"]) == ("math", "semantic")
    # No default route without a config: an unsure prompt keeps its best route, and says so.
    assert second["tier"] == "semantic"
    assert second["route"] in {"code", "math", "chit_chat"}
    assert str(second["explanation"]).endswith("; kept")
    assert main(["route", "--index", str(index_dir.parent / "missing"), "x"]) == 2
