"""``turnout index rebuild --tune``: a tuned encoder in the build, deterministic, hot-swapped.

The builds are real: e5-small as ``turnout setup`` built it, tuned with torch on the exemplars
of `tests.integration.test_index_rebuild.ROUTES`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pytest

from tests.builds import E5_SMALL, USE_M3
from tests.conftest import ENVIRON
from tests.fakes.server import serve_in_thread
from tests.integration.test_index_rebuild import ROUTES, write_exemplars
from tests.integration.test_semantic import CONFIG, decide, swap_under_load
from turnout.app import create_app
from turnout.cli import main
from turnout.config import READ_TOKENS, parse_settings
from turnout.models.tune import RECIPE, TRAIN_TOKENS
from turnout.routing.encoder import OnnxEmbedder
from turnout.training.exemplars import load_exemplars
from turnout.training.index import BuildReport, rebuild

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(240)  # each tuning run writes and quantizes the whole encoder


def config(index: Path, beta: str) -> str:
    """`tests.integration.test_semantic`'s config, serving with e5-small and watching closely."""
    return CONFIG.format(index=index, beta=beta).replace(
        "routing: {index:", f"routing: {{encoder: {E5_SMALL}, watch_interval_s: 0.05, index:"
    )


def build(folder: Path, *, tune: bool) -> BuildReport:
    """As `tuned` builds, but in-process."""
    embedder = OnnxEmbedder(E5_SMALL, threads=2, max_tokens=READ_TOKENS)
    source = write_exemplars(folder / "exemplars", ROUTES)
    return rebuild(load_exemplars(source), folder / "index", embedder, tune=tune)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tuned build, by the command a user runs."""
    folder = tmp_path_factory.mktemp("tuned")
    source = write_exemplars(folder / "exemplars", ROUTES)
    argv = ["index", "rebuild", "--exemplars", str(source), "--out", str(folder / "index")]
    assert main([*argv, "--encoder", str(E5_SMALL), "--tune", "--no-screen"]) == 0
    return folder / "index"


def manifest(index: Path) -> dict[str, object]:
    found: dict[str, object] = json.loads((index / "manifest.json").read_text())
    return found


def route_margin(embedder: OnnxEmbedder) -> float:
    """How much nearer each exemplar is to its own route's centroid than to the nearest other."""
    vectors = {route: embedder.embed(texts) for route, texts in ROUTES.items()}
    centroids = {
        route: v.mean(axis=0) / np.linalg.norm(v.mean(axis=0)) for route, v in vectors.items()
    }
    margins = []
    for route, v in vectors.items():
        own = v @ centroids[route]
        other = np.max([v @ c for name, c in centroids.items() if name != route], axis=0)
        margins.append(own - other)
    return float(np.concatenate(margins).mean())


def test_a_tuned_build_carries_its_encoder_and_separates_the_routes(
    tuned: Path,
) -> None:
    index = tuned
    encoder = manifest(index)["encoder"]
    assert isinstance(encoder, dict)
    assert encoder["folder"] == "encoder"
    assert encoder["name"] == "e5-small+tuned"
    assert encoder["tuned"]["recipe"] == RECIPE
    base = OnnxEmbedder(E5_SMALL, threads=2, max_tokens=128)
    assert encoder["tuned"]["base_sha256"] == base.sha256
    # The held-out rows are not tuned on.
    assert encoder["tuned"]["examples"] < int(str(manifest(index)["exemplars"]))
    tuned_encoder = OnnxEmbedder(index / "encoder", threads=2, max_tokens=128)
    assert tuned_encoder.sha256 == encoder["sha256"] != base.sha256
    assert route_margin(tuned_encoder) > route_margin(base) + 0.05


def test_a_tuned_encoder_reads_at_most_what_it_was_tuned_on(tuned: Path) -> None:
    base = OnnxEmbedder(E5_SMALL, threads=2, max_tokens=READ_TOKENS)
    encoder = OnnxEmbedder(tuned / "encoder", threads=2, max_tokens=READ_TOKENS)
    assert base.max_tokens == READ_TOKENS > encoder.max_tokens == TRAIN_TOKENS
    assert OnnxEmbedder(tuned / "encoder", threads=2, max_tokens=64).max_tokens == 64
    # Two prompts of about 200 tokens that differ only past the tuned encoder's head and tail
    head = "Please summarize the following report for the board. " * 6
    tail = " The quarterly figures are attached below." + " Revenue grew in every region." * 12
    one, other = (head + words * 6 + tail for words in (" cats sleep", " stock fell"))
    tuned_one, tuned_other = encoder.embed([one, other])
    base_one, base_other = base.embed([one, other])
    assert np.array_equal(tuned_one, tuned_other)
    assert not np.allclose(base_one, base_other, atol=1e-3)
    assert encoder.identity != OnnxEmbedder(tuned / "encoder", threads=2, max_tokens=64).identity


def test_tuning_is_deterministic(tmp_path: Path, tuned: Path) -> None:
    index = tuned
    again = build(tmp_path, tune=True)
    assert again.build_id == manifest(index)["build_id"]
    first, second = (manifest(folder)["encoder"] for folder in (index, tmp_path / "index"))
    assert isinstance(first, dict)
    assert isinstance(second, dict)
    assert first["sha256"] == second["sha256"]
    assert {**first["tuned"], "seconds": 0} == {**second["tuned"], "seconds": 0}
    assert np.array_equal(
        np.load(tmp_path / "index" / "vectors.npy"), np.load(index / "vectors.npy")
    )
    # Up to date: nothing is tuned again.
    assert build(tmp_path, tune=True).up_to_date


def test_a_build_whose_encoder_changed_is_swapped_in_under_load(
    tmp_path: Path, tuned: Path, beta_upstream: tuple[object, str]
) -> None:
    first = build(tmp_path, tune=False)
    index = tmp_path / "index"
    text = config(index, beta_upstream[1])

    def swap() -> str:
        """As `turnout index rebuild` puts a build in place: staged beside it, two renames."""
        shutil.copytree(tuned, tmp_path / ".staged")
        index.rename(tmp_path / ".previous")
        (tmp_path / ".staged").rename(index)
        return str(manifest(tuned)["build_id"])

    with serve_in_thread(create_app(parse_settings(text.encode(), ENVIRON))) as url:
        seen, failures, second = swap_under_load(url, swap)
        after = decide(url, "solve 2x + 5 = 13")  # once the load is over: the new build only
    assert failures == []
    assert seen[0] == first.build_id
    swapped = seen.index(second)
    # After the swap only decisions already in flight (one per worker at most) use the old build.
    assert seen[swapped:].count(first.build_id) <= 4
    assert after["build_id"] == second


def test_serving_a_tuned_build_never_imports_torch(tuned: Path) -> None:
    script = (
        "import sys\n"
        "from turnout.config import parse_settings\n"
        "from turnout.routing.index import load_semantic\n"
        f"settings = parse_settings({config(tuned, 'http://127.0.0.1:9')!r}.encode(), {{}})\n"
        "routes = {'code', 'math', 'chit_chat', 'general'}\n"
        "loaded = load_semantic(settings.routing, routes)\n"
        "encoder, index = loaded.encoder, loaded.index\n"
        "print(encoder.name, index.score(encoder.embed(['solve 2x = 4'])[0], 5)[0].argmax())\n"
        "heavy = ('torch', 'turnout.models', 'turnout.training')\n"
        "print(','.join(m for m in heavy if m in sys.modules) or 'none')\n"
    )
    out = subprocess.run(  # noqa: S603 - the test's own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    name, heavy = out.stdout.strip().splitlines()
    assert name.startswith("e5-small+tuned ")
    assert heavy == "none"


def test_without_torch_the_rebuild_says_so_and_uses_the_frozen_encoder(tmp_path: Path) -> None:
    hidden = tmp_path / "no-torch" / "torch"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('torch is not installed here')\n")
    source = write_exemplars(tmp_path / "exemplars", ROUTES)
    out = subprocess.run(  # noqa: S603 - the test's own interpreter
        [
            sys.executable,
            "-m",
            "turnout",
            "index",
            "rebuild",
            "--exemplars",
            str(source),
            "--out",
            str(tmp_path / "index"),
            "--encoder",
            str(E5_SMALL),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={
            "PYTHONPATH": str(tmp_path / "no-torch"),
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        },
    )
    assert "tuning needs torch: pip install 'turnout[build]'" in out.stdout
    encoder = manifest(tmp_path / "index")["encoder"]
    assert isinstance(encoder, dict)
    assert "tuned" not in encoder
    assert encoder["sha256"] == OnnxEmbedder(E5_SMALL, threads=1, max_tokens=64).sha256


def test_tuning_an_encoder_that_cannot_be_tuned_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_exemplars(tmp_path / "exemplars", ROUTES)
    argv = ["index", "rebuild", "--exemplars", str(source), "--out", str(tmp_path / "index")]
    assert main([*argv, "--encoder", str(USE_M3), "--tune"]) == 2
    assert "cannot be tuned (e5-small builds can)" in capsys.readouterr().err
    assert not (tmp_path / "index").exists()


def test_the_cache_floor_follows_the_encoder_and_holds_back_near_duplicates_under_it(
    tmp_path: Path, tuned: Path, beta_upstream: tuple[object, str]
) -> None:
    frozen = build(tmp_path, tune=False)
    index = tmp_path / "index"
    floors = {name: float(str(manifest(folder)["cache_floor"])) for name, folder in
              (("frozen", index), ("tuned", tuned))}  # fmt: skip
    assert 0 < floors["tuned"] < floors["frozen"] < 1  # tuning spreads the routes apart
    # A build whose prompts of two routes come as close as 0.99 (as frozen e5's do on the
    # default taxonomy at 0.95): the paraphrase below is 0.976 similar, the repeat 0.993.
    found = manifest(index) | {"cache_floor": 0.99}
    (index / "manifest.json").write_text(json.dumps(found))
    text = config(index, beta_upstream[1])
    with serve_in_thread(create_app(parse_settings(text.encode(), ENVIRON))) as url:
        assert (
            decide(url, "Increase the font size in my Python editor")["build_id"] == frozen.build_id
        )
        similar = decide(url, "Increase the font size in my Python IDE please")
        assert similar["tier"] != "cache"  # over the config's 0.9, under the floor: decided anew
        assert decide(url, "Increase the font size in my Python editor.")["tier"] == "cache"
        metrics = httpx.get(f"{url}/metrics").text
    assert 'turnout_decision_cache_total{outcome="miss"}' in metrics
