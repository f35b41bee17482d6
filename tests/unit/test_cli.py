"""The ``turnout route`` command and the CLI's config errors."""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING

import msgspec
import pytest

from turnout.cli import main

if TYPE_CHECKING:
    from pathlib import Path


def test_route_one_prompt_with_the_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "Translate this into French: good night"]) == 0
    route, model, tier, confidence, why = capsys.readouterr().out.strip().split("\t")
    assert (route, model, tier, confidence) == (
        "translation",
        "mistral/mistral-small-latest",
        "rule",
        "1.00",
    )
    assert "translate-into" in why


def test_route_file_prints_one_json_decision_per_line_in_order(
    tmp_path: Path, config_text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "turnout.yaml"
    config.write_text(config_text)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        '{"text": "```sql```"}\n'
        "\n"
        '{"messages": [{"role": "user", "content": "hello"}]}\n'
        '{"text": "nothing matches this"}\n'
        '{"text": "pinned", "model": "beta/b-small"}\n'
    )
    assert main(["route", "--config", str(config), "--file", str(prompts), "--json"]) == 0
    lines = [msgspec.json.decode(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["route"], d["tier"]) for d in lines] == [
        ("code", "rule"),
        ("chat", "rule"),
        ("general", "default"),
        (None, "explicit"),
    ]
    assert lines[3]["model"] == "beta/b-small"
    assert {"route", "model", "provider", "tier", "confidence", "candidates"} <= set(lines[0])


def test_route_reports_bad_prompts_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    first = '{"text": "write a python function that reverses a string"}'
    prompts.write_text(first + '\n{"text": "x", "model": "nope"}\n')
    assert main(["route", "--file", str(prompts), "--json"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert msgspec.json.decode(out[0])["route"] == "code"  # the default taxonomy's index
    assert "prompt 2" in msgspec.json.decode(out[1])["error"]


def test_config_errors_exit_2_with_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("providers: []\nroutes: []\ndefault_route: x\nbogus: 1\n")
    assert main(["route", "--config", str(config), "hi"]) == 2
    assert "bogus: unknown key" in capsys.readouterr().err
    not_json = tmp_path / "prompts.jsonl"
    not_json.write_text("{oops\n")
    assert main(["route", "--file", str(not_json)]) == 2
    assert "prompts.jsonl:1: not a JSON object" in capsys.readouterr().err
    assert main(["serve", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_key_hash_prints_what_clients_key_sha256_expects(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"sk-abc\n")))
    assert main(["key", "hash"]) == 0
    assert capsys.readouterr().out.strip() == hashlib.sha256(b"sk-abc").hexdigest()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert main(["key", "hash"]) == 2
    assert "no key on stdin" in capsys.readouterr().err


def test_serve_refuses_an_index_of_routes_the_config_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "few-routes.yaml"
    config.write_text(
        "routing: {index: default}\n"
        "providers: [{name: p, base_url: 'http://127.0.0.1:9', models: "
        "[{id: m, input_per_mtok: 1, output_per_mtok: 1, context_window: 1000}]}]\n"
        "routes: [{name: code, targets: [p/m]}]\ndefault_route: code\n"
    )
    assert main(["serve", "--config", str(config), "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert "are not configured routes" in error
    assert len(error.splitlines()) == 1


def test_serve_refuses_a_number_of_workers_under_one(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as exited:
            main(["serve", "--workers", bad])
        assert exited.value.code == 2
        assert "not a number of workers" in capsys.readouterr().err
