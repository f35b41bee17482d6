"""A screened build: a fast encoder decides what it is sure of, the build's encoder the rest.

The builds are real and by the command users run: the default taxonomy's exemplars, with
``minilm-l6`` as the build's encoder (untuned, to keep the test short) screened by ``use-m3``.
"""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpx
import msgspec
import pytest

from tests.builds import MINILM_L6, USE_M3
from tests.conftest import ENVIRON
from tests.fakes.server import serve_in_thread
from tests.integration.test_semantic import decide, swap_under_load
from tests.unit.test_routing import inp
from turnout.app import create_app
from turnout.cli import main
from turnout.cli.route import index_settings
from turnout.config import default_exemplars
from turnout.metrics import Metrics
from turnout.routing.batcher import MicroBatcher
from turnout.routing.decision import Tier
from turnout.routing.encoder import OnnxEmbedder
from turnout.routing.focus import FocusedEmbedder
from turnout.routing.index import load_semantic
from turnout.routing.semantic import open_semantic
from turnout.training.screen import MIXES

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt

    from turnout.routing.decision import RouteMatch
    from turnout.routing.encoder import Embedder

pytestmark = pytest.mark.timeout(120)

SURE = "Write a Python function that reverses a linked list, with unit tests."
# Prompts the screen reads but is not sure of, at least one of them (found by trying).
UNSURE = (
    "2つのデータフレーム`a`と`b`を行方向に結合する",
    "Найти кваратный корень из `num`",
    "Converting 85 F to Celsius.",
    "what should I cook for dinner tonight?",
)
# One of the default taxonomy's exemplars, in Swahili: use-m3 was not trained on it.
SWAHILI = "Andika hadithi fupi kuhusu simba aliyepoteza sauti yake"
# Telugu: use-m3 has no pieces for its script, so it cannot be sure of it.
UNREAD = "ఒక రైలు 2 గంటల్లో 120 కిలోమీటర్లు ప్రయాణిస్తే, దాని సగటు వేగం ఎంత?"


def rebuild(out: Path, *extra: str) -> int:
    argv = ["index", "rebuild", "--exemplars", str(default_exemplars()), "--out", str(out)]
    return main([*argv, "--encoder", str(MINILM_L6), *extra])


def manifest(index: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((index / "manifest.json").read_text())
    return found


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("screened") / "index"
    assert rebuild(out, "--screen", str(USE_M3)) == 0
    return out


@pytest.fixture(scope="module")
def screened_url(screened: Path) -> Iterator[str]:
    with serve_in_thread(create_app(index_settings(screened, ENVIRON))) as url:
        yield url


def test_a_screened_build_keeps_both_stages_and_the_bar(
    screened: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = manifest(screened)
    first = manifest(screened / "screen")
    assert first["build_id"] == built["build_id"]
    assert first["encoder"]["sha256"] == OnnxEmbedder(USE_M3, threads=1, max_tokens=8).sha256
    assert built["encoder"]["name"] == "minilm-l6"
    screen = built["screen"]
    assert screen["folder"] == "screen"
    assert 0 < screen["bar"] < 1
    assert screen["mix"] in MIXES
    assert 0 < screen["held_out_decided"] < 1
    accuracy = screen["held_out_accuracy"]
    # The bar loses nothing on the held-out rows against the build's encoder alone.
    assert accuracy["together"] >= accuracy["encoder"]
    # The same exemplars unscreened are another build; screened again, the same one.
    assert rebuild(tmp_path / "plain", "--no-screen") == 0
    plain = manifest(tmp_path / "plain")
    assert "screen" not in plain
    assert plain["build_id"] != built["build_id"]
    assert not (tmp_path / "plain" / "screen").exists()
    again = tmp_path / "again"
    assert rebuild(again, "--screen", str(USE_M3)) == 0
    assert manifest(again)["build_id"] == built["build_id"]
    assert manifest(again)["screen"] == screen
    out = capsys.readouterr().out
    assert f"screen use-m3: decides prompts it scores at least {screen['bar']}" in out


def test_the_screen_learns_only_from_exemplars_in_its_encoders_languages(screened: Path) -> None:
    def texts(folder: Path) -> set[str]:
        lines = (folder / "exemplars.jsonl").read_text().splitlines()
        return {json.loads(line)["text"] for line in lines}

    build, first = texts(screened), texts(screened / "screen")
    assert SWAHILI in build
    assert SWAHILI not in first
    assert first < build
    assert manifest(screened)["screen"]["other_languages"] == len(build - first)
    assert manifest(screened / "screen")["exemplars"] == len(first)


def test_the_screen_decides_what_it_is_sure_of_and_passes_on_the_rest(screened_url: str) -> None:
    sure = decide(screened_url, SURE)
    assert (sure["route"], sure["tier"], sure["encoder"]) == ("code", "semantic", "use-m3")
    assert sure["explanation"].startswith("use-m3 is sure of 'code'")
    assert "semantic.screen" in sure["timings_ms"]
    assert "semantic.encoder" not in sure["timings_ms"]
    unread = decide(screened_url, UNREAD)
    assert unread["encoder"] == "minilm-l6"
    assert unread["explanation"].startswith("use-m3 cannot read it")
    phases = ("semantic.screen", "semantic.encoder", "semantic.knn_classifier")
    assert all(phase in unread["timings_ms"] for phase in phases)
    metrics = httpx.get(f"{screened_url}/metrics").text
    assert 'turnout_screen_total{outcome="decided"} 1.0' in metrics
    assert 'turnout_screen_total{outcome="passed"} 1.0' in metrics
    # A near-duplicate of a passed prompt reuses its decision, keyed by the screen's vector.
    again = decide(screened_url, UNREAD + " ")
    assert (again["tier"], again["route"]) == ("cache", unread["route"])


def test_a_screened_build_is_swapped_in_under_load(tmp_path: Path, screened: Path) -> None:
    index = tmp_path / "index"
    assert rebuild(index, "--no-screen") == 0
    first = manifest(index)["build_id"]

    def swap() -> str:
        """As `turnout index rebuild` puts a build in place: staged beside it, two renames."""
        shutil.copytree(screened, tmp_path / ".staged")
        index.rename(tmp_path / ".previous")
        (tmp_path / ".staged").rename(index)
        return str(manifest(screened)["build_id"])

    with serve_in_thread(create_app(index_settings(index, ENVIRON))) as url:
        seen, failures, second = swap_under_load(url, swap)
        after = decide(url, SURE)
    assert failures == []
    assert seen[0] == first
    assert second in seen
    assert after["encoder"] == "use-m3"


def test_a_passed_on_prompt_is_decided_on_both_stages_scores_mixed(
    screened: Path, screened_url: str
) -> None:
    share = manifest(screened)["screen"]["mix"]
    assert share > 0  # on these exemplars, mixing routes more held-out rows right
    settings = index_settings(screened, ENVIRON)
    loaded = load_semantic(settings.routing, {route.name for route in settings.routes})
    assert loaded.screen is not None
    passed = [
        (text, found)
        for text in UNSURE
        if (found := decide(screened_url, text))["explanation"].startswith("use-m3 unsure")
    ]
    assert passed
    for text, found in passed:
        assert found["encoder"] == "minilm-l6"
        stages = []
        for stage in (loaded.screen, loaded):
            vector = stage.encoder.embed([text])[0]
            stages.append(stage.index.score(vector, settings.routing.neighbours)[0])
        expected = share * stages[0] + (1 - share) * stages[1]
        for route, score in found["scores"].items():
            assert score == pytest.approx(expected[loaded.index.routes.index(route)], abs=2e-4)


class HeldEmbedder:
    """The build's own encoder, held inside its call until released: a busy encoder."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self.entered = threading.Event()
        self.release = threading.Event()

    @property
    def dim(self) -> int:
        return self._embedder.dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.entered.set()
        self.release.wait(timeout=30)
        return self._embedder.embed(texts)


@pytest.mark.anyio
@pytest.mark.parametrize("when_busy", [True, False])
async def test_while_the_builds_encoder_is_busy_the_screen_decides_down_to_its_busy_bar(
    screened: Path, *, when_busy: bool
) -> None:
    built = manifest(screened)["screen"]
    assert built["busy_bar"] <= built["bar"]
    assert built["held_out_decided_busy"] >= built["held_out_decided"]
    settings = index_settings(screened, ENVIRON)
    routing = msgspec.structs.replace(settings.routing, screen_when_busy=when_busy)
    settings = msgspec.structs.replace(settings, routing=routing)
    metrics = Metrics()
    tier = await open_semantic(settings, metrics)
    assert tier is not None
    held = HeldEmbedder(FocusedEmbedder(tier.build.encoder))  # as `open_semantic` wraps it
    # No bar for the screen when idle, none but the routes' thresholds when busy: every prompt
    # it reads and is sure of above a threshold is then decided by it only while busy.
    tier.swap(
        replace(
            tier.build,
            batcher=MicroBatcher(held, workers=1, max_batch=8),
            bar=1.0,
            busy_bar=0.0,
        )
    )
    async with anyio.create_task_group() as tasks:
        passed: list[RouteMatch] = []

        async def first() -> None:
            passed.append(await tier.match(inp(UNREAD)))

        tasks.start_soon(first)
        await anyio.to_thread.run_sync(held.entered.wait, 30)
        assert tier.build.batcher.busy
        if when_busy:  # decided while the encoder is still held
            found = await tier.match(inp(SURE))
            held.release.set()
        else:  # it would wait for the encoder
            held.release.set()
            found = await tier.match(inp(SURE))
    assert passed[0].reason.startswith("use-m3 cannot read it")  # the one that kept it busy
    again = await tier.match(inp(SURE))  # the encoder is free now
    metric = metrics.registry.get_sample_value
    if when_busy:
        assert found.route == "code"
        assert found.reason.startswith("use-m3 is sure of 'code'")
        assert found.reason.endswith("its bar while minilm-l6 is busy")
        assert metric("turnout_screen_total", {"outcome": "decided_busy"}) == 1
        # Not cached: the busy bar's decision holds only while the encoder is busy.
        assert again.reason.startswith("use-m3 unsure")
    else:
        assert found.reason.startswith("use-m3 unsure")  # it waited for the encoder
        assert metric("turnout_screen_total", {"outcome": "passed"}) == 2
        assert (again.tier, again.route) == (Tier.CACHE, found.route)
