"""``turnout index rebuild``: a build on disk, incremental re-embedding, atomic replacement."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import faiss
import numpy as np
import pytest

from tests.builds import USE_M3
from turnout.cli import main
from turnout.routing.classifier import OnnxClassifier
from turnout.routing.encoder import OnnxEmbedder
from turnout.training.exemplars import load_exemplars
from turnout.training.index import rebuild

if TYPE_CHECKING:
    from pathlib import Path

ROUTES = {
    "code": [
        "fix the bug in my python function",
        "how do I reverse a linked list in java",
        "write a sql query that joins two tables",
        "why does my javascript promise never resolve",
        "refactor this class to use dependency injection",
        "explain this rust borrow checker error",
        "write unit tests for a sorting function",
        "convert this loop into a list comprehension",
    ],
    "math": [
        "what is the integral of x squared",
        "solve 3x + 7 = 22 for x",
        "how many ways can 5 people sit in a row",
        "is 221 a prime number",
        "find the derivative of sin(x) times x",
        "what is 15 percent of 240",
        "a train travels 300 km in 2.5 hours, what is its speed",
        "compute the determinant of a 2 by 2 matrix",
    ],
    "chit_chat": [
        "hello, how are you today",
        "good morning!",
        "tell me something fun",
        "thanks, that was helpful",
        "what's your favourite colour",
        "how was your weekend",
        "nice to meet you",
        "see you later",
    ],
}


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder(USE_M3, threads=1, max_tokens=128)


def write_exemplars(folder: Path, routes: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for route, texts in routes.items():
        lines = "".join(json.dumps({"text": text}) + "\n" for text in texts)
        (folder / f"{route}.jsonl").write_text(lines)
    return folder


def test_rebuild_writes_a_usable_build_and_reuses_vectors(
    tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    source = write_exemplars(tmp_path / "exemplars", ROUTES)
    out = tmp_path / "build"
    first = rebuild(load_exemplars(source), out, embedder)
    assert (first.exemplars, first.embedded, first.reused) == (24, 24, 0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["build_id"] == first.build_id
    assert manifest["encoder"]["name"] == "use-m3"
    assert set(manifest["routes"]) == {"chit_chat", "code", "math"}
    for route in manifest["routes"].values():
        assert route["exemplars"] == 8
        assert route["held_out"] == 1
        assert 0.0 <= route["threshold"] <= 1.0
    vectors = np.load(out / "vectors.npy")
    assert vectors.shape == (24, embedder.dim)
    index = faiss.read_index(str(out / "knn.faiss"))
    query = embedder.embed(["how do I sort a python list"])
    nearest = index.search(query, 1)[1][0, 0]
    rows = [json.loads(line) for line in (out / "exemplars.jsonl").read_text().splitlines()]
    assert rows[nearest]["route"] == "code"
    classifier = OnnxClassifier(out)
    assert classifier.labels == ("chit_chat", "code", "math")
    assert classifier.labels[int(classifier.probabilities(query).argmax())] == "code"

    written = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    same = rebuild(load_exemplars(source), out, embedder)
    assert (same.embedded, same.reused, same.build_id) == (0, 24, first.build_id)
    assert same.up_to_date
    assert same.routes == manifest["routes"]
    assert {path.name: path.stat().st_mtime_ns for path in out.iterdir()} == written
    forced = rebuild(load_exemplars(source), out, embedder, force=True)
    assert (forced.up_to_date, forced.embedded, forced.reused) == (False, 0, 24)
    assert forced.build_id == first.build_id

    changed = {**ROUTES, "math": [*ROUTES["math"][:-1], "what is the square root of 144"]}
    write_exemplars(source, changed)
    third = rebuild(load_exemplars(source), out, embedder)
    assert (third.embedded, third.reused) == (1, 23)
    assert third.build_id != first.build_id


def test_interrupted_rebuild_leaves_the_previous_build(
    tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    source = write_exemplars(tmp_path / "exemplars", ROUTES)
    out = tmp_path / "build"
    first = rebuild(load_exemplars(source), out, embedder)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    write_exemplars(source, {**ROUTES, "code": [*ROUTES["code"], "a new code prompt"]})

    def interrupt(done: int) -> None:
        if done == 0:  # the first call reports reused vectors; the next one is a new embedding
            return
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rebuild(load_exemplars(source), out, embedder, progress=interrupt)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert json.loads((out / "manifest.json").read_text())["build_id"] == first.build_id
    assert sorted(path.name for path in tmp_path.iterdir()) == ["build", "exemplars"]


def test_cli_rebuild_prints_a_summary_and_reports_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_exemplars(tmp_path / "exemplars", ROUTES)
    out = tmp_path / "build"
    argv = ["index", "rebuild", "--exemplars", str(source), "--out", str(out), "--no-tune"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "24 exemplars (24 embedded, 0 reused, 0 repeats dropped)" in printed
    assert "math" in printed
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "only one", "route": "lonely"}\n{oops\n')
    assert main(["index", "rebuild", "--exemplars", str(bad), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"{bad}:2: not a JSON object" in error
    assert "route 'lonely': 1 exemplar" in error


def test_the_threshold_percentile_sets_the_thresholds_and_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_exemplars(tmp_path / "exemplars", ROUTES)

    def command(percentile: str) -> list[str]:
        out = tmp_path / f"build-{percentile}"
        return [
            "index",
            "rebuild",
            "--exemplars",
            str(source),
            "--out",
            str(out),
            "--threshold-percentile",
            percentile,
            "--no-tune",
        ]

    manifests = {}
    for percentile in ("0", "50"):
        assert main(command(percentile)) == 0
        manifests[percentile] = json.loads(
            (tmp_path / f"build-{percentile}" / "manifest.json").read_text()
        )
        assert manifests[percentile]["threshold_percentile"] == float(percentile)
    low, high = manifests["0"], manifests["50"]
    assert low["build_id"] != high["build_id"]
    assert all(high["routes"][r]["threshold"] > low["routes"][r]["threshold"] for r in ROUTES)
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main(command("80"))
    assert refused.value.code == 2
    assert "not a percentile from 0 to 50: '80'" in capsys.readouterr().err


def test_rebuild_takes_an_encoder_by_its_name_in_the_data_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_exemplars(tmp_path / "exemplars", ROUTES)
    argv = ["index", "rebuild", "--exemplars", str(source), "--out", str(tmp_path / "build")]
    assert main([*argv, "--encoder", "minilm-l6", "--no-screen"]) == 0
    encoder = json.loads((tmp_path / "build" / "manifest.json").read_text())["encoder"]
    assert encoder["name"] == "minilm-l6"
    assert main([*argv, "--encoder", "no-such-encoder"]) == 2
    assert "no-such-encoder" in capsys.readouterr().err
