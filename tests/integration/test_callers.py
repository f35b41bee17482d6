"""What the caller changes: sessions keep a conversation on its model, A/B splits keep a caller
in its variant, a client's tier picks its targets, and unknown clients are turned away."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.fakes.server import serve_in_thread
from turnout.app import create_app
from turnout.caller import key_hash
from turnout.config import parse_settings
from turnout.demo.upstream import Behaviour, SimulatedUpstream
from turnout.policy.sessions import MemorySessions, RedisSessions

if TYPE_CHECKING:
    from collections.abc import Iterator

CONFIG = """
gateway: {{breaker: {{enabled: false}}, retry: {{passes: 1}}}}
providers:
  - name: one
    base_url: {one}/v1
    models: [{{id: m1, input_per_mtok: 1, output_per_mtok: 1, context_window: 8000}}]
  - name: two
    base_url: {two}/v1
    models: [{{id: m2, input_per_mtok: 1, output_per_mtok: 1, context_window: 8000}}]
routes:
  - {{name: general, targets: [one/m1, two/m2]}}
  - {{name: split, targets: [one/m1]}}
rules:
  - {{name: ab, keywords: [experiment], route: split}}
experiments:
  - name: model-test
    route: split
    variants:
      - {{name: a, weight: 50, targets: [one/m1]}}
      - {{name: b, weight: 50, targets: [two/m2, one/m1]}}
default_route: general
"""


Upstreams = tuple[SimulatedUpstream, SimulatedUpstream, str]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[Upstreams]:
    one, two = SimulatedUpstream("one"), SimulatedUpstream("two")
    with serve_in_thread(one) as one_url, serve_in_thread(two) as two_url:
        yield one, two, CONFIG.format(one=one_url, two=two_url)


def _client(config: str) -> Iterator[httpx.Client]:
    app = create_app(parse_settings(config.encode(), {}))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def served(
    upstreams: Upstreams,
) -> Iterator[tuple[SimulatedUpstream, SimulatedUpstream, httpx.Client]]:
    one, two, config = upstreams
    for client in _client(config):
        yield one, two, client


@pytest.fixture(scope="module")
def guarded(upstreams: Upstreams) -> Iterator[httpx.Client]:
    config = upstreams[2].replace(
        "{name: general, targets: [one/m1, two/m2]}",
        "{name: general, targets: [one/m1], tiers: {premium: [two/m2]}}",
    )
    config += f"""
clients:
  - {{name: acme, key_sha256: {key_hash(b"sk-acme")}, tier: premium}}
  - {{name: basic, key_sha256: {key_hash(b"sk-basic")}}}
auth: {{required: true, private_endpoints: true, admin_key_sha256: {key_hash(b"sk-admin")}}}
"""
    yield from _client(config)


def ask(
    client: httpx.Client, text: str, *, tenant: str | None = None, session: str | None = None
) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    headers = {"authorization": f"Bearer {tenant}"} if tenant else {}
    if session:
        headers["x-session-id"] = session
    return client.post("/v1/chat/completions", json=body, headers=headers)


def test_a_conversation_stays_on_the_model_that_answered_it(
    served: tuple[SimulatedUpstream, SimulatedUpstream, httpx.Client],
) -> None:
    one, _, client = served
    one.queue(Behaviour("status", 503))
    first = ask(client, "hi", tenant="tenant-a", session="chat-1")
    assert first.headers["x-turnout-model"] == "two/m2"  # one failed: the session is on two
    before = len(one.received)
    for _ in range(3):
        again = ask(client, "and then?", tenant="tenant-a", session="chat-1")
        assert again.headers["x-turnout-model"] == "two/m2"
        assert again.headers["x-turnout-attempts"] == "1"
    assert len(one.received) == before  # never tried again within the session
    # another tenant's session of the same name, and requests without one, start afresh
    other = ask(client, "hi", tenant="tenant-b", session="chat-1")
    assert other.headers["x-turnout-model"] == "one/m1"
    assert ask(client, "hi").headers["x-turnout-model"] == "one/m1"
    metrics = client.get("/metrics").text
    assert 'turnout_sessions_total{outcome="kept"} 3.0' in metrics
    assert 'turnout_sessions_total{outcome="new"} 2.0' in metrics


def test_ab_split_is_deterministic_and_weighted(
    served: tuple[SimulatedUpstream, SimulatedUpstream, httpx.Client],
) -> None:
    _, _, client = served

    def variant(user: str) -> str:
        body = {"model": "auto", "messages": [{"role": "user", "content": "experiment"}]}
        answer = client.post("/v1/route", json={**body, "user": user}).json()
        assert answer["experiment"]["name"] == "model-test"
        return str(answer["experiment"]["variant"])

    first = {f"user-{i}": variant(f"user-{i}") for i in range(200)}
    assert {user: variant(user) for user in first} == first  # same caller, same variant
    counts = Counter(first.values())
    assert set(counts) == {"a", "b"}
    assert 70 <= counts["a"] <= 130
    routed = ask(client, "experiment", session="sess-42")
    assert routed.headers["x-turnout-experiment"].startswith("model-test=")


def test_unknown_clients_are_refused_and_tiers_pick_their_targets(guarded: httpx.Client) -> None:
    for tenant in (None, "sk-stranger"):
        refused = ask(guarded, "hi", tenant=tenant)
        assert refused.status_code == 401
        error = refused.json()["error"]
        assert (error["type"], error["code"]) == ("authentication_error", "invalid_api_key")
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    assert guarded.post("/v1/route", json=body).status_code == 401
    assert ask(guarded, "hi", tenant="sk-acme").headers["x-turnout-model"] == "two/m2"
    assert ask(guarded, "hi", tenant="sk-basic").headers["x-turnout-model"] == "one/m1"


def test_private_endpoints_need_a_clients_key_or_the_admin_key(guarded: httpx.Client) -> None:
    assert guarded.get("/v1/models").status_code == 401
    known = {"authorization": "Bearer sk-basic"}
    assert guarded.get("/v1/models", headers=known).status_code == 200
    assert guarded.get("/metrics", headers=known).status_code == 401
    admin = {"authorization": "Bearer sk-admin"}
    assert guarded.get("/metrics", headers=admin).text.startswith("# HELP")
    assert guarded.get("/healthz").status_code == 200


@pytest.mark.anyio
async def test_session_stores_expire_and_stay_bounded(redis_url: str) -> None:
    now = [0.0]
    local = MemorySessions(ttl_s=10, capacity=2, clock=lambda: now[0])
    await local.put("a", "p/m")
    await local.put("b", "p/m")
    assert await local.get("a") == "p/m"  # a is now the most recently used
    await local.put("c", "p/m")
    assert await local.get("b") is None  # the least recently used went
    now[0] = 10.0
    assert await local.get("a") is None  # expired
    import redis.asyncio as aioredis  # noqa: PLC0415 - only this test needs a client

    client = aioredis.Redis.from_url(redis_url)
    shared = RedisSessions(client, ttl_s=0.2)
    await shared.put("conv", "p/m")
    assert await shared.get("conv") == "p/m"
    assert 0 < await client.pttl("turnout:session:conv") <= 200
    await client.aclose()
