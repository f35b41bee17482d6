"""Exemplar sources: a JSONL file or a folder per route; every problem named by file and line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from turnout.errors import ConfigError
from turnout.training.exemplars import load_exemplars

if TYPE_CHECKING:
    from pathlib import Path


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_file_with_routes(tmp_path: Path) -> None:
    source = write(
        tmp_path / "all.jsonl",
        '{"text": "fix this python bug", "route": "code"}',
        '{"text": "write a sql query", "route": "code"}',
        "",
        '{"text": "hello there", "route": "chit_chat"}',
        '{"text": "  Hello   THERE ", "route": "chit_chat"}',
        '{"text": "good morning!", "route": "chit_chat"}',
    )
    found = load_exemplars(source)
    assert found.routes == ("chit_chat", "code")
    assert [e.text for e in found.exemplars] == [
        "fix this python bug",
        "write a sql query",
        "hello there",
        "good morning!",
    ]
    assert found.repeats_dropped == 1
    assert found.exemplars[2].source == f"{source}:4"


def test_folder_of_route_files(tmp_path: Path) -> None:
    write(tmp_path / "math.jsonl", '{"text": "what is 2+2"}', '{"text": "solve x^2=4"}')
    write(tmp_path / "code.jsonl", '{"text": "reverse a list"}', '{"text": "x", "route": "code"}')
    found = load_exemplars(tmp_path)
    assert found.routes == ("code", "math")
    assert {e.route for e in found.exemplars if "list" in e.text} == {"code"}


def test_every_problem_is_reported_with_file_and_line(tmp_path: Path) -> None:
    source = write(
        tmp_path / "bad.jsonl",
        '{"text": "ok one", "route": "a"}',
        "{not json",
        '{"text": "   ", "route": "a"}',
        '{"text": "no route"}',
        '{"text": "bad name", "route": "has space"}',
        '{"text": "ok one", "route": "b"}',
        '{"text": "lonely", "route": "c"}',
        "[1, 2]",
    )
    with pytest.raises(ConfigError) as caught:
        load_exemplars(source, strict=True)
    message = caught.value.message
    assert f"{source}:2: not a JSON object" in message
    assert f"{source}:3: empty or missing text" in message
    assert f"{source}:4: missing route" in message
    assert "route name 'has space' is not a route id ('has_space')" in message
    assert f"{source}:6: the same text as {source}:1, but for route 'b' instead of 'a'" in message
    assert "route 'c': 1 exemplar, at least 2 are needed" in message
    assert "route 'has_space': 1 exemplar" in message
    assert f"{source}:8: not a JSON object" in message


def test_real_datasets_are_mended_unless_strict(tmp_path: Path) -> None:
    source = write(
        tmp_path / "intents.jsonl",
        '{"text": "what is a monad", "route": "computer science"}',
        '{"text": "explain big-O", "route": "computer science"}',
        '{"text": "my card payment came back", "route": "reverted_card_payment?"}',
        '{"text": "the payment was reverted", "route": "reverted_card_payment?"}',
        '{"text": "Is this a payment?", "route": "reverted_card_payment?"}',
        '{"text": "is this  a payment?", "route": "computer science"}',
        '{"text": "explain big-o", "route": "computer science"}',
    )
    found = load_exemplars(source)
    assert found.routes == ("computer_science", "reverted_card_payment")
    assert found.renamed == (
        ("computer science", "computer_science"),
        ("reverted_card_payment?", "reverted_card_payment"),
    )
    # The text given to both routes is dropped from both, and listed; a repeat is counted.
    assert [e.text for e in found.exemplars] == [
        "what is a monad",
        "explain big-O",
        "my card payment came back",
        "the payment was reverted",
    ]
    assert found.clashes == (
        f"{source}:6: the same text as {source}:5, but for route 'computer_science' "
        "instead of 'reverted_card_payment'",
    )
    assert found.repeats_dropped == 1
    with pytest.raises(ConfigError, match="is not a route id"):
        load_exemplars(source, strict=True)


def test_route_names_that_cannot_be_ids(tmp_path: Path) -> None:
    source = write(
        tmp_path / "bad.jsonl",
        '{"text": "a", "route": "???"}',
        '{"text": "b", "route": "???"}',
        '{"text": "c", "route": "x y"}',
        '{"text": "d", "route": "x_y"}',
    )
    with pytest.raises(ConfigError) as caught:
        load_exemplars(source)
    assert "route name '???' has no letters or digits to name it by" in caught.value.message
    assert "route names ['x y', 'x_y'] all map to route id 'x_y'" in caught.value.message


def test_folder_file_naming_another_route_and_empty_sources(tmp_path: Path) -> None:
    write(tmp_path / "math.jsonl", '{"text": "2+2", "route": "code"}', '{"text": "3+3"}')
    with pytest.raises(ConfigError, match="route 'code' in the file of route 'math'"):
        load_exemplars(tmp_path)
    with pytest.raises(ConfigError, match="no such exemplar file or folder"):
        load_exemplars(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"no \*\.jsonl exemplar files"):
        load_exemplars(empty)
    with pytest.raises(ConfigError, match="no exemplars"):
        load_exemplars(write(tmp_path / "blank.jsonl", ""))


def test_long_problem_lists_are_cut(tmp_path: Path) -> None:
    source = write(tmp_path / "many.jsonl", *["{bad"] * 30)
    with pytest.raises(ConfigError, match=r"\.\.\. and 10 more"):
        load_exemplars(source)
