"""Speculative dispatch: a guess starts the upstream call; a wrong one never reaches the client.

The guesses are a speculative rule's, and a screened build's screen's (its best route for a
prompt it passes on to the build's encoder).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx
import msgspec
import pytest

from tests.builds import MINILM_L6, USE_M3
from tests.fakes.server import router_over_upstreams
from tests.integration.test_index_rebuild import ROUTES, write_exemplars
from tests.integration.test_semantic import index_dir  # noqa: F401 - the fixture
from turnout.cli import main
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
    assert_cut_off(guessed, decided, client, "rule")
    assert "turnout_speculation_wasted_tokens_total" in client.get("/metrics").text


def assert_cut_off(
    guess: SimulatedUpstream, decision: SimulatedUpstream, client: httpx.Client, by: str
) -> None:
    """The decision's upstream answered once; the guess's call, if sent, never completed."""
    assert len(decision.received) == 1
    assert len(guess.received) <= 1
    assert "completed" not in guess.wait_for_stream_ends(len(guess.received), timeout_s=2)
    metrics = client.get("/metrics").text
    assert f'turnout_speculation_total{{guess="{by}",outcome="disagreed"}} 1.0' in metrics


def test_a_guess_for_a_route_without_speculation_starts_nothing(fresh: Served) -> None:
    guessed, decided, client = fresh
    answer = chat(client, "the build crashes when I run the unit tests in my java project")
    assert "x-turnout-speculation" not in answer.headers
    assert guessed.received == []
    assert answer.headers["x-turnout-model"] == "decided/m"
    assert len(decided.received) == 1


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The routes above, minilm-l6 screened by use-m3 and no rules: only the screen guesses.

    With eight exemplars a route, the screen is never sure (its bar is 1: too few held-out
    rows to fit one), so it guesses on every prompt whose best route clears its threshold.
    """
    folder = tmp_path_factory.mktemp("screened")
    argv = ["index", "rebuild", "--exemplars", str(write_exemplars(folder / "exemplars", ROUTES))]
    argv += ["--out", str(folder / "index"), "--encoder", str(MINILM_L6), "--screen", str(USE_M3)]
    assert main(argv) == 0
    config = CONFIG[: CONFIG.index("rules:")] + "default_route: general\n"
    names = ("guessed", "decided")
    with router_over_upstreams(config, names, index=folder / "index") as (upstreams, client):
        yield upstreams[0], upstreams[1], client


def guessed_and_decided(answer: httpx.Response) -> tuple[str, str]:
    explanation = json.loads(answer.headers["x-turnout-decision"])["explanation"]
    assert "use-m3 unsure" in explanation
    return explanation.split("guesses '")[1].split("'")[0], answer.headers["x-turnout-route"]


def test_the_screens_guess_starts_the_call_and_is_the_answer_when_it_holds(
    screened: Served,
) -> None:
    math, code, client = screened  # the upstreams of those routes
    for upstream in (math, code):
        upstream.reset()
    answer = chat(client, "solve 2x + 5 = 13 for x")
    assert answer.status_code == 200
    assert guessed_and_decided(answer) == ("math", "math")
    assert answer.headers["x-turnout-speculation"] == "agreed"
    assert (len(math.received), code.received) == (1, [])  # sent once, on the guess
    metrics = client.get("/metrics").text
    assert 'turnout_speculation_total{guess="screen",outcome="agreed"} 1.0' in metrics


def test_a_wrong_screen_guess_is_cancelled_and_never_reaches_the_client(screened: Served) -> None:
    math, code, client = screened
    for upstream in (math, code):
        upstream.reset()
    code.queue(Behaviour(chunks=40, chunk_delay_s=0.05))  # a long stream, if it gets going
    answer = chat(client, "compute the factorial of 10 in python", stream=True)
    assert answer.status_code == 200
    assert guessed_and_decided(answer) == ("code", "math")
    assert answer.headers["x-turnout-speculation"] == "disagreed"
    assert answer.headers["x-turnout-model"] == "guessed/m"  # math's upstream
    assert "decided/m" not in answer.text
    assert_cut_off(code, math, client, "screen")
