"""Bad input on the Responses and Messages APIs: a 4xx in that API's error format, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

TEXT = "what is the capital of France?"


def responses(**fields: Any) -> bytes:
    return msgspec.json.encode({"model": "auto", "input": TEXT, **fields})


def messages(**fields: Any) -> bytes:
    body = {"model": "auto", "max_tokens": 64, "messages": [{"role": "user", "content": TEXT}]}
    return msgspec.json.encode({**body, **fields})


def nested(depth: int, key: bytes = b"x") -> bytes:
    """A body with ``depth`` nested lists under ``key`` (in an object, under ``thinking``)."""
    lists = b"[" * depth + b"]" * depth
    value = b'{"a": ' + lists + b"}" if key == b"thinking" else lists
    return b'{"model": "auto", "' + key + b'": ' + value + b"}"


# (id, raw body, status, code, param)
RESPONSES: list[tuple[str, bytes, int, str, str | None]] = [
    ("truncated json", b'{"input":', 400, "invalid_request", None),
    ("array body", b"[1]", 400, "invalid_request", None),
    ("deep nesting", nested(10_000), 400, "invalid_request", None),
    ("missing input", b'{"model": "auto"}', 400, "invalid_request", "input"),
    ("empty input list", responses(input=[]), 400, "invalid_request", "input"),
    ("input a number", responses(input=3), 400, "invalid_request", "input"),
    ("unknown key", responses(frobnicate=True), 400, "invalid_request", "frobnicate"),
    ("empty model", responses(model=""), 400, "invalid_request", "model"),
    (
        "unknown item type",
        responses(input=[{"type": "web_search_call", "id": "x"}]),
        400,
        "invalid_request",
        "input[0].type",
    ),
    (
        "message without role",
        responses(input=[{"type": "message", "content": "x"}]),
        400,
        "invalid_request",
        "input[0].role",
    ),
    (
        "unknown content part",
        responses(input=[{"role": "user", "content": [{"type": "input_audio"}]}]),
        400,
        "invalid_request",
        "input[0].content[0].type",
    ),
    (
        "image by file id",
        responses(input=[{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]),
        400,
        "invalid_request",
        "input[0].content[0]",
    ),
    (
        "function call without call_id",
        responses(input=[{"type": "function_call", "name": "f", "arguments": "{}"}]),
        400,
        "invalid_request",
        "input[0].call_id",
    ),
    (
        "built-in tool",
        responses(tools=[{"type": "web_search"}]),
        400,
        "invalid_request",
        "tools[0].type",
    ),
    (
        "function tool without name",
        responses(tools=[{"type": "function", "parameters": {}}]),
        400,
        "invalid_request",
        "tools[0].name",
    ),
    ("bad tool_choice", responses(tool_choice="sometimes"), 400, "invalid_request", "tool_choice"),
    (
        "max_output_tokens too small",
        responses(max_output_tokens=1),
        400,
        "invalid_request",
        "max_output_tokens",
    ),
    ("temperature too high", responses(temperature=3), 400, "invalid_request", "temperature"),
    (
        "unknown text format",
        responses(text={"format": {"type": "xml"}}),
        400,
        "invalid_request",
        "text.format.type",
    ),
    ("background mode", responses(background=True), 400, "invalid_request", "background"),
    ("stored prompt", responses(prompt={"id": "p"}), 400, "invalid_request", "prompt"),
    (
        "unknown previous response",
        responses(previous_response_id="resp_nope"),
        404,
        "response_not_found",
        "previous_response_id",
    ),
    ("unknown model", responses(model="gpt-9"), 404, "model_not_found", "model"),
    ("body too large", responses(input="x" * 70_000), 413, "request_too_large", None),
]


@pytest.mark.parametrize("case", RESPONSES, ids=[case[0] for case in RESPONSES])
def test_bad_responses_input_gets_openai_error(
    router_url: str, case: tuple[str, bytes, int, str, str | None]
) -> None:
    _, raw, status, code, param = case
    response = httpx.post(f"{router_url}/v1/responses", content=raw, timeout=10)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")
    assert error["message"]


TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}

# (id, raw body, status, Anthropic error type, words the message holds)
MESSAGES: list[tuple[str, bytes, int, str, str]] = [
    ("truncated json", b'{"messages":', 400, "invalid_request_error", "JSON"),
    ("string body", b'"hi"', 400, "invalid_request_error", "request body"),
    ("deep nesting", nested(10_000, b"thinking"), 400, "invalid_request_error", "nested"),
    ("missing max_tokens", messages(max_tokens=None), 400, "invalid_request_error", "max_tokens"),
    ("max_tokens zero", messages(max_tokens=0), 400, "invalid_request_error", "max_tokens"),
    ("missing messages", b'{"max_tokens": 5}', 400, "invalid_request_error", "messages"),
    ("empty messages", messages(messages=[]), 400, "invalid_request_error", "messages"),
    (
        "system role in messages",
        messages(messages=[{"role": "system", "content": "x"}]),
        400,
        "invalid_request_error",
        "messages[0].role",
    ),
    (
        "unknown block type",
        messages(messages=[{"role": "user", "content": [{"type": "document"}]}]),
        400,
        "invalid_request_error",
        "messages[0].content[0]",
    ),
    (
        "tool_use without id",
        messages(
            messages=[
                {"role": "assistant", "content": [{"type": "tool_use", "name": "f", "input": {}}]}
            ]
        ),
        400,
        "invalid_request_error",
        "messages[0].content[0].id",
    ),
    (
        "tool_result without tool_use_id",
        messages(messages=[{"role": "user", "content": [{"type": "tool_result"}]}]),
        400,
        "invalid_request_error",
        "tool_use_id",
    ),
    (
        "image without source",
        messages(messages=[{"role": "user", "content": [{"type": "image"}]}]),
        400,
        "invalid_request_error",
        "source",
    ),
    (
        "server tool",
        messages(tools=[{"type": "web_search_20250305", "name": "web_search"}]),
        400,
        "invalid_request_error",
        "tools[0].type",
    ),
    (
        "tool without input_schema",
        messages(tools=[{"name": "f"}]),
        400,
        "invalid_request_error",
        "tools[0].input_schema",
    ),
    (
        "tool_choice tool without name",
        messages(tool_choice={"type": "tool"}),
        400,
        "invalid_request_error",
        "tool_choice",
    ),
    (
        "temperature over one",
        messages(temperature=1.5),
        400,
        "invalid_request_error",
        "temperature",
    ),
    ("system a number", messages(system=5), 400, "invalid_request_error", "system"),
    ("unknown key", messages(frobnicate=1), 400, "invalid_request_error", "frobnicate"),
    ("unknown model", messages(model="claude-nope"), 404, "not_found_error", "claude-nope"),
    ("body too large", messages(system="x" * 70_000), 413, "request_too_large", "limit"),
]


@pytest.mark.parametrize("case", MESSAGES, ids=[case[0] for case in MESSAGES])
def test_bad_messages_input_gets_anthropic_error(
    router_url: str, case: tuple[str, bytes, int, str, str]
) -> None:
    _, raw, status, kind, words = case
    response = httpx.post(f"{router_url}/v1/messages", content=raw, timeout=10)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["request-id"] == response.headers["x-request-id"]
    body = response.json()
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == kind
    assert words in body["error"]["message"]


def test_each_new_surface_has_at_least_fifteen_kinds() -> None:
    assert len(RESPONSES) >= 15
    assert len(MESSAGES) >= 15


def test_count_tokens_and_unknown_messages_paths_answer_in_anthropic_format(
    router_url: str,
) -> None:
    bad = httpx.post(f"{router_url}/v1/messages/count_tokens", content=b"{", timeout=10)
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    wrong = httpx.get(f"{router_url}/v1/messages", timeout=10)
    assert wrong.status_code == 405
    assert wrong.json()["type"] == "error"
    missing = httpx.post(f"{router_url}/v1/messages/batches", content=b"{}", timeout=10)
    assert missing.status_code in {404, 405}
    assert missing.json()["type"] == "error"
