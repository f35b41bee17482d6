"""The dashboard in Debian's headless Chromium, against a served app with live traffic."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from tests.conftest import ENVIRON
from tests.fakes.browser import chromium, open_page
from tests.fakes.server import closed_port, serve_in_thread
from tests.integration.test_semantic import index_dir
from turnout.app import create_app
from turnout.caller import key_hash
from turnout.config import parse_settings
from turnout.routing.index import read_manifest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from turnout.demo.upstream import SimulatedUpstream

__all__ = ["index_dir"]  # a fixture: the semantic tests' index build

ADMIN = "sk-admin-dashboard"
ACME = "sk-acme-client"
CONFIG = """
routing: {{index: {index}}}
dashboard: {{open_on_loopback: {open}}}
auth: {{admin_key_sha256: {admin}}}
gateway: {{total_timeout_s: 5, breaker: {{failures: 2, open_s: 60}}}}
clients: [{{name: acme, key_sha256: {acme}}}]
providers:
  - name: beta
    base_url: {beta}/v1
    models: [{{id: b-small, input_per_mtok: 0.2, output_per_mtok: 0.6, context_window: 16000}}]
  - name: dead
    base_url: http://127.0.0.1:{dead}/v1
    models: [{{id: d-model, input_per_mtok: 1, output_per_mtok: 1, context_window: 8000}}]
routes:
  - {{name: code, targets: [beta/b-small]}}
  - {{name: math, targets: [beta/b-small]}}
  - {{name: chit_chat, targets: [beta/b-small]}}
  - {{name: general, targets: [beta/b-small]}}
  - {{name: fallback, targets: [dead/d-model, beta/b-small]}}
rules:
  - {{name: greeting, keywords: [hello], route: chit_chat}}
default_route: general
"""
PROMPTS = (
    ("auto", "hello there"),
    ("auto", "solve 3x + 5 = 20 for x"),
    ("auto", "write a python function that reverses a linked list"),
    ("fallback", "anything"),
)


def config(index: Path, beta: str, *, open_on_loopback: bool) -> str:
    return CONFIG.format(
        index=index,
        open=str(open_on_loopback).lower(),
        admin=key_hash(ADMIN.encode()),
        acme=key_hash(ACME.encode()),
        beta=beta,
        dead=closed_port(),
    )


@pytest.fixture
def served(index_dir: Path, beta_upstream: tuple[SimulatedUpstream, str]) -> Iterator[str]:
    text = config(index_dir, beta_upstream[1], open_on_loopback=True)
    with serve_in_thread(create_app(parse_settings(text.encode(), ENVIRON))) as url:
        yield url


def traffic(url: str, stop: threading.Event) -> None:
    """Requests until ``stop``: a rule, the semantic tier, a failing target; two clients."""
    with httpx.Client(base_url=url, timeout=10) as client:
        n = 0
        while not stop.is_set():
            model, text = PROMPTS[n % len(PROMPTS)]
            key = ACME if n % 2 else "sk-someone-else"
            body = {"model": model, "messages": [{"role": "user", "content": f"{text} ({n})"}]}
            client.post(
                "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
            )
            n += 1


@pytest.mark.anyio
@pytest.mark.timeout(120)
async def test_the_dashboard_shows_live_traffic_and_explains_a_prompt(
    served: str, index_dir: Path, redis_required: bool, request: pytest.FixtureRequest
) -> None:
    stop = threading.Event()
    sender = threading.Thread(target=traffic, args=(served, stop))
    sender.start()
    try:
        with chromium(required=redis_required) as port:
            async with open_page(port) as page:
                await page.goto(f"{served}/dashboard")

                def text(element: str) -> str:
                    return f"document.getElementById('{element}').textContent"

                def row(table: str, key: str) -> str:
                    return f"document.querySelector('#{table} tr[data-key=\"{key}\"]')"

                def shown(table: str, key: str) -> str:
                    return f"!!{row(table, key)}"

                # rates need two snapshots: wait for the second poll with traffic between
                await page.wait_for(f"Number({text('rps-total')}) > 0")
                build = read_manifest(index_dir)["build_id"]
                assert await page.evaluate(text("build-id")) == build
                assert await page.evaluate(text("encoder")) != "-"
                for route in ("chit_chat", "math", "fallback"):
                    await page.wait_for(shown("by-route", route))
                for tier in ("rule", "semantic", "explicit"):
                    await page.wait_for(shown("by-tier", tier))
                await page.wait_for(shown("by-model", "beta/b-small"))
                await page.wait_for(f"Number({text('decision-p50')}) > 0")
                await page.wait_for(f"Number({text('cost-total')}) > 0")
                await page.wait_for(shown("cost-by-client", "acme"))
                await page.wait_for(shown("cost-by-client", "unnamed"))
                breaker = await page.wait_for(f"{row('breakers', 'dead/d-model')}?.textContent")
                assert "open" in breaker
                await page.wait_for(shown("upstream-errors", "dead/d-model"))
                await page.wait_for(f"Number({text('cache-hit-rate')}) >= 0")
                # paste a prompt, ask why
                await page.evaluate(
                    "document.getElementById('prompt').value ="
                    " 'what is the integral of x squared from 0 to 3?';"
                    "document.getElementById('explain').click()"
                )
                route = await page.wait_for(text("explain-route"))
                assert route in {"math", "general", "code", "chit_chat"}
                assert await page.evaluate(text("explain-tier")) in {"semantic", "default"}
                neighbours = "document.querySelectorAll('#neighbours tbody tr').length"
                assert await page.wait_for(neighbours) > 0
                assert await page.evaluate("document.querySelectorAll('#scores tr').length") > 1
                assert "beta/b-small" in await page.evaluate(text("candidates"))
                await page.wait_for("rpsHistory.length >= 4")  # a few points of the sparkline
                picture = await page.screenshot()
    finally:
        stop.set()
        sender.join()
    assert picture.startswith(b"\x89PNG")
    saved = request.config.getoption("--screenshot")
    if saved:
        await anyio.Path(saved).write_bytes(picture)


def test_the_figures_need_the_admin_key_unless_opened_to_loopback(
    index_dir: Path, beta_upstream: tuple[SimulatedUpstream, str]
) -> None:
    text = config(index_dir, beta_upstream[1], open_on_loopback=False)
    with serve_in_thread(create_app(parse_settings(text.encode(), ENVIRON))) as url:
        page = httpx.get(f"{url}/dashboard")
        assert page.status_code == 200  # the page holds no figures
        assert page.headers["content-type"].startswith("text/html")
        refused = httpx.get(f"{url}/v1/admin/stats")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        admitted = httpx.get(f"{url}/v1/admin/stats", headers={"authorization": f"Bearer {ADMIN}"})
        assert admitted.status_code == 200
        assert admitted.json()["build"]["build_id"] == read_manifest(index_dir)["build_id"]
    # With auth.required, the page's explain box still works with the admin key.
    required = text.replace("auth: {", "auth: {required: true, ")
    with serve_in_thread(create_app(parse_settings(required.encode(), ENVIRON))) as url:
        body = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
        assert httpx.post(f"{url}/v1/route", json=body).status_code == 401
        admin = {"authorization": f"Bearer {ADMIN}"}
        explained = httpx.post(f"{url}/v1/route", json=body, headers=admin)
        assert explained.status_code == 200
        assert explained.json()["route"] == "chit_chat"
    off = text.replace("dashboard: {open_on_loopback: false}", "dashboard: {enabled: false}")
    with serve_in_thread(create_app(parse_settings(off.encode(), ENVIRON))) as url:
        assert httpx.get(f"{url}/dashboard").status_code == 404
        assert httpx.get(f"{url}/v1/admin/stats").status_code == 404
