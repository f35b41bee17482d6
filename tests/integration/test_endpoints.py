"""Models, route decisions, health, readiness and metrics over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import msgspec

from tests.fakes.server import closed_port, serve_in_thread
from turnout.app import create_app
from turnout.config import parse_settings
from turnout.demo.upstream import Behaviour

if TYPE_CHECKING:
    from turnout.config import Settings
    from turnout.demo.upstream import SimulatedUpstream


def test_models_lists_auto_routes_and_targets_with_availability(router_url: str) -> None:
    response = httpx.get(f"{router_url}/v1/models")
    assert response.status_code == 200
    models = {model["id"]: model for model in response.json()["data"]}
    assert models["auto"]["kind"] == "router"
    assert models["code"]["kind"] == "route"
    assert models["code"]["description"] == "programming"
    assert models["alpha/a-large"]["available"] is True
    assert models["alpha/a-large"]["capabilities"] == ["json", "tools", "vision"]
    assert models["locked/l-model"]["available"] is False
    assert all(model["object"] == "model" for model in models.values())


def test_models_show_where_each_price_came_from_and_its_date() -> None:
    config = b"""
providers:
  - name: openai
    base_url: http://127.0.0.1:9/v1
    models: [gpt-5.4, {id: gpt-5.4-mini, input_per_mtok: 0.5}]
routes: [{name: general, targets: [openai/gpt-5.4-mini]}]
default_route: general
"""
    with serve_in_thread(create_app(parse_settings(config, {}))) as url:
        data = httpx.get(f"{url}/v1/models").json()["data"]
    models = {model["id"]: model for model in data}
    full, mini = models["openai/gpt-5.4"], models["openai/gpt-5.4-mini"]
    assert (full["input_per_mtok"], full["output_per_mtok"]) == (2.5, 15.0)
    assert full["cache_read_per_mtok"] == 0.25
    assert full["long_context"] == {
        "above_tokens": 200_000,
        "input_per_mtok": 5.0,
        "output_per_mtok": 22.5,
        "cache_read_per_mtok": 0.5,
    }
    assert (full["context_window"], full["max_output_tokens"]) == (1_050_000, 128_000)
    assert full["sources"]["input_per_mtok"] == "models.dev 2026-08-18"
    assert mini["input_per_mtok"] == 0.5
    assert mini["sources"]["input_per_mtok"] == "config"
    assert mini["sources"]["output_per_mtok"] == "models.dev 2026-08-18"


def test_route_decides_without_calling_upstreams(
    router_url: str, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
    response = httpx.post(f"{router_url}/v1/route", json=body)
    assert response.status_code == 200
    decision = response.json()
    assert decision["route"] == "chat"
    assert decision["model"] == "beta/b-small"
    assert decision["provider"] == "beta"
    assert decision["tier"] == "rule"
    assert decision["confidence"] == 1.0
    assert [c["model"] for c in decision["candidates"]] == ["beta/b-small", "alpha/a-small"]
    assert "greeting" in decision["explanation"]
    assert set(decision["timings_ms"]) == {"rule", "total"}
    assert alpha.received == beta.received == []


def test_route_reports_unavailable_candidates(router_url: str) -> None:
    body = {"model": "sealed", "messages": [{"role": "user", "content": "x"}]}
    decision = httpx.post(f"{router_url}/v1/route", json=body).json()
    assert decision["model"] == "locked/l-model"
    assert decision["candidates"] == [
        {"model": "locked/l-model", "provider": "locked", "available": False}
    ]


def test_health_and_readiness(router_url: str) -> None:
    assert httpx.get(f"{router_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{router_url}/readyz").json()
    assert ready["status"] == "ready"
    assert ready["state"] == {"backend": "memory", "reachable": True}
    assert ready["providers_available"] == 4


def test_metrics_count_requests_decisions_and_upstream_errors(
    router_url: str, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("status", 503))
    body = {"model": "auto", "messages": [{"role": "user", "content": "```metrics-probe```"}]}
    assert httpx.post(f"{router_url}/v1/chat/completions", json=body).status_code == 200
    text = httpx.get(f"{router_url}/metrics").text
    assert (
        'turnout_requests_total{model="beta/b-large",route="code",status="200",tier="rule"}' in text
    )
    assert 'turnout_request_duration_seconds_bucket{le="+Inf",model="beta/b-large"' in text
    assert 'turnout_decision_duration_seconds_count{tier="rule"}' in text
    assert (
        'turnout_upstream_errors_total{kind="status_503",model="a-large",provider="alpha"}' in text
    )


def test_readiness_with_real_redis(settings: Settings, redis_url: str) -> None:
    state = msgspec.structs.replace(settings.state, backend="redis", url=redis_url)
    with serve_in_thread(create_app(msgspec.structs.replace(settings, state=state))) as url:
        ready = httpx.get(f"{url}/readyz").json()
    assert ready["state"] == {"backend": "redis", "reachable": True}


def test_redis_down_degrades_readiness_but_serving_goes_on(
    settings: Settings, beta: SimulatedUpstream
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    state = msgspec.structs.replace(settings.state, backend="redis", url=url)
    with serve_in_thread(create_app(msgspec.structs.replace(settings, state=state))) as base:
        ready = httpx.get(f"{base}/readyz")
        body = {"model": "chat", "messages": [{"role": "user", "content": "x"}]}
        chat = httpx.post(f"{base}/v1/chat/completions", json=body)
    assert ready.status_code == 200
    assert ready.json()["state"] == {"backend": "redis", "reachable": False}
    assert chat.status_code == 200
