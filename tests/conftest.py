"""Shared fixtures: simulated upstreams over loopback, a served router, a real Redis."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from tests.fakes.redis import redis_server
from tests.fakes.server import closed_port, serve_in_thread
from turnout.app import create_app
from turnout.config import Settings, parse_settings
from turnout.demo.upstream import SimulatedUpstream

if TYPE_CHECKING:
    from collections.abc import Iterator

ENVIRON = {"ALPHA_KEY": "sk-alpha-secret", "HOME": "/nonexistent"}

CONFIG = """
server: {{max_body_bytes: 65536, header_timeout_s: 1, body_timeout_s: 1}}
# Breakers would carry one test's failures into the next; tests/*/test_breakers.py cover them.
gateway: {{total_timeout_s: 5, breaker: {{enabled: false}}}}
providers:
  - name: alpha
    base_url: {alpha}/v1
    api_key_env: ALPHA_KEY
    headers: {{x-alpha-version: "2"}}
    timeouts: {{connect: 1, read: 1, pool: 1}}
    models:
      - id: a-large
        input_per_mtok: 3
        output_per_mtok: 15
        context_window: 200000
        capabilities: [tools, json, vision]
      - id: a-small
        input_per_mtok: 0.1
        output_per_mtok: 0.4
        context_window: 8000
        capabilities: [tools, json]
  - name: beta
    base_url: {beta}/v1
    timeouts: {{connect: 1, read: 1, pool: 1}}
    models:
      - id: b-large
        input_per_mtok: 2
        output_per_mtok: 8
        context_window: 128000
        capabilities: [tools, json, vision]
      - id: b-small
        input_per_mtok: 0.2
        output_per_mtok: 0.6
        context_window: 16000
  - name: dead
    base_url: http://127.0.0.1:{dead}/v1
    timeouts: {{connect: 1, read: 1, pool: 1}}
    models:
      - id: d-model
        input_per_mtok: 1
        output_per_mtok: 1
        context_window: 8000
  - name: native
    base_url: {alpha}/v1
    apis: [responses, messages]
    models:
      - id: n-model
        input_per_mtok: 1
        output_per_mtok: 4
        context_window: 100000
        capabilities: [tools, json, vision]
  - name: locked
    base_url: {alpha}/v1
    api_key_env: LOCKED_KEY
    models:
      - id: l-model
        input_per_mtok: 1
        output_per_mtok: 1
        context_window: 8000
routes:
  - {{name: code, description: programming, targets: [alpha/a-large, beta/b-large]}}
  - {{name: chat, targets: [beta/b-small, alpha/a-small]}}
  - {{name: fallback, targets: [dead/d-model, beta/b-large]}}
  - {{name: pair, targets: [alpha/a-small, beta/b-large]}}
  - {{name: sealed, targets: [locked/l-model]}}
  - {{name: native, targets: [native/n-model]}}
  - {{name: general, targets: [alpha/a-small, beta/b-large]}}
rules:
  - {{name: code-fence, regex: "```", route: code}}
  - {{name: greeting, keywords: [hello, good morning], route: chat}}
  - {{name: history, keywords: [legacy system], route: pair, match: any}}
default_route: general
"""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--screenshot",
        default=None,
        help="where the dashboard test saves its screenshot (the README's is one)",
    )


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_required() -> bool:
    """Under CI a missing redis-server fails the tests that need one; elsewhere it skips them."""
    return os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def redis_url(redis_required: bool) -> Iterator[str]:
    with redis_server(required=redis_required) as url:
        yield url


@pytest.fixture(scope="session")
def alpha_upstream() -> Iterator[tuple[SimulatedUpstream, str]]:
    upstream = SimulatedUpstream("alpha")
    with serve_in_thread(upstream) as url:
        yield upstream, url


@pytest.fixture(scope="session")
def beta_upstream() -> Iterator[tuple[SimulatedUpstream, str]]:
    upstream = SimulatedUpstream("beta")
    with serve_in_thread(upstream) as url:
        yield upstream, url


@pytest.fixture
def alpha(alpha_upstream: tuple[SimulatedUpstream, str]) -> Iterator[SimulatedUpstream]:
    upstream = alpha_upstream[0]
    upstream.reset()
    yield upstream
    upstream.reset()


@pytest.fixture
def beta(beta_upstream: tuple[SimulatedUpstream, str]) -> Iterator[SimulatedUpstream]:
    upstream = beta_upstream[0]
    upstream.reset()
    yield upstream
    upstream.reset()


@pytest.fixture(scope="session")
def config_text(
    alpha_upstream: tuple[SimulatedUpstream, str], beta_upstream: tuple[SimulatedUpstream, str]
) -> str:
    return CONFIG.format(alpha=alpha_upstream[1], beta=beta_upstream[1], dead=closed_port())


@pytest.fixture(scope="session")
def settings(config_text: str) -> Settings:
    return parse_settings(config_text.encode(), ENVIRON)


@pytest.fixture(scope="session")
def router_url(settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(settings)) as url:
        yield url
