"""Speculative dispatch: a guess starts the upstream call; a wrong one never reaches the client."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import msgspec
import pytest

from tests.fakes.server import router_over_upstreams
from tests.integration.test_semantic import index_dir  # noqa: F401 - the fixture
from turnout.demo.upstream import Behaviour, SimulatedUpstream

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CONFIG = """
routing: {{index: {index}, cache: {{enabled: false}}}}
gateway: {{retry: {{passes: 1}}}}
providers:
  - name: guessed
    base_url: {guessed}/v1
    models: [{{id: m, input_per_mtok: 1, output_per_mtok: 1, context_window: 8000}}]
  - name: decided
    base_url: {decided}/v1
    models: [{{id: m, input_per_mtok: 1, output_per_mtok: 1, context_window: 8000}}]
routes:
  - {{name: code, targets: [decided/m], speculate: true}}
  - {{name: math, targets: [guessed/m], speculate: true}}
  - {{name: chit_chat, targets: [guessed/m]}}
  - {{name: general, targets: [decided/m]}}
rules:
  - {{name: looks-like-math, keywords: [solve, python], route: math, speculative: true}}
  - {{name: looks-like-chat, keywords: [crashes], route: chit_chat, speculative: true}}
default_route: general
"""

Served = tuple[SimulatedUpstream, SimulatedUpstream, httpx.Client]


@pytest.fixture(scope="module")
def served(index_dir: Path) -> Iterator[Served]:  # noqa: F811 - the imported fixture
    names = ("guessed", "decided")
    with router_over_upstreams(CONFIG, names, index=index_dir) as ((guessed, decided), client):
        yield guessed, decided, client


@pytest.fixture
def fresh(served: Served) -> Served:
    for upstream in served[:2]:
        upstream.reset()
    return served


def chat(client: httpx.Client, text: str, *, stream: bool = False) -> httpx.Response:
    body = {"model": "auto", "stream": stream, "messages": [{"role": "user", "content": text}]}
    return client.post("/v1/chat/completions", json=body, headers={"x-turnout-debug": "1"})


def test_a_right_guess_is_the_answer_and_is_not_sent_again(fresh: Served) -> None:
    guessed, decided, client = fresh
    answer = chat(client, "solve the equation 2x + 5 = 13")
    assert answer.status_code == 200
    assert answer.headers["x-turnout-route"] == "math"
    assert answer.headers["x-turnout-tier"] == "semantic"
    assert answer.headers["x-turnout-speculation"] == "agreed"
    assert answer.headers["x-turnout-model"] == "guessed/m"
    assert len(guessed.received) == 1  # sent once, on the guess
    assert decided.received == []


def test_a_wrong_guess_is_cancelled_and_never_reaches_the_client(fresh: Served) -> None:
    guessed, decided, client = fresh
    guessed.queue(Behaviour(chunks=40, chunk_delay_s=0.05))  # a long stream, if it gets going
    answer = chat(
        client, "my python script crashes with a KeyError, how do I debug it?", stream=True
    )
    assert answer.status_code == 200
    assert answer.headers["x-turnout-route"] == "code"
    assert answer.headers["x-turnout-speculation"] == "disagreed"
    assert answer.headers["x-turnout-model"] == "decided/m"
    events = [line[6:] for line in answer.text.splitlines() if line.startswith("data: {")]
    words = "".join(
        msgspec.json.decode(event)["choices"][0]["delta"].get("content", "") for event in events
    )
    assert words.startswith("[simulated decided/m]")
    assert "guessed" not in answer.text
    assert len(decided.received) == 1
    # the guess was sent (speculation started) and then cut off: never completed
    assert len(guessed.received) <= 1
    assert "completed" not in guessed.wait_for_stream_ends(len(guessed.received), timeout_s=2)
    metrics = client.get("/metrics").text
    assert 'turnout_speculation_total{outcome="disagreed"} 1.0' in metrics
    assert "turnout_speculation_wasted_tokens_total" in metrics


def test_a_guess_for_a_route_without_speculation_starts_nothing(fresh: Served) -> None:
    guessed, decided, client = fresh
    answer = chat(client, "the build crashes when I run the unit tests in my java project")
    assert "x-turnout-speculation" not in answer.headers
    assert guessed.received == []
    assert answer.headers["x-turnout-model"] == "decided/m"
    assert len(decided.received) == 1
