"""Bad input of every kind gets a 4xx in OpenAI's error envelope, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

MSG = [{"role": "user", "content": "hi"}]


def body(**fields: Any) -> bytes:
    return msgspec.json.encode({"model": "auto", "messages": MSG, **fields})


IMAGE = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]

# (id, method, path, raw body, status, code, param)
CASES: list[tuple[str, str, str, bytes | None, int, str, str | None]] = [
    ("truncated json", "POST", "/v1/chat/completions", b'{"model":', 400, "invalid_request", None),
    ("empty body", "POST", "/v1/chat/completions", b"", 400, "invalid_request", None),
    (
        "trailing garbage",
        "POST",
        "/v1/chat/completions",
        body() + b"}",
        400,
        "invalid_request",
        None,
    ),
    ("array body", "POST", "/v1/chat/completions", b"[1, 2]", 400, "invalid_request", None),
    (
        "deep nesting",
        "POST",
        "/v1/chat/completions",
        b'{"messages": [{"role": "user", "content": "x"}], "x": '
        + b"[" * 10_000
        + b"]" * 10_000
        + b"}",
        400,
        "invalid_request",
        None,
    ),
    ("string body", "POST", "/v1/chat/completions", b'"hello"', 400, "invalid_request", None),
    (
        "not utf-8",
        "POST",
        "/v1/chat/completions",
        b'{"model": "auto", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
        400,
        "invalid_request",
        None,
    ),
    (
        "missing messages",
        "POST",
        "/v1/chat/completions",
        b'{"model": "auto"}',
        400,
        "invalid_request",
        "messages",
    ),
    (
        "empty messages",
        "POST",
        "/v1/chat/completions",
        body(messages=[]),
        400,
        "invalid_request",
        "messages",
    ),
    (
        "messages not a list",
        "POST",
        "/v1/chat/completions",
        body(messages="hi"),
        400,
        "invalid_request",
        "messages",
    ),
    (
        "null message",
        "POST",
        "/v1/chat/completions",
        body(messages=[None]),
        400,
        "invalid_request",
        "messages[0]",
    ),
    (
        "message without role",
        "POST",
        "/v1/chat/completions",
        body(messages=[{"content": "x"}]),
        400,
        "invalid_request",
        "messages[0].role",
    ),
    (
        "unknown role",
        "POST",
        "/v1/chat/completions",
        body(messages=[{"role": "wizard", "content": "x"}]),
        400,
        "invalid_request",
        "messages[0].role",
    ),
    (
        "role not a string",
        "POST",
        "/v1/chat/completions",
        body(messages=[{"role": 3, "content": "x"}]),
        400,
        "invalid_request",
        "messages[0].role",
    ),
    (
        "user message without content",
        "POST",
        "/v1/chat/completions",
        body(messages=[{"role": "user"}]),
        400,
        "invalid_request",
        "messages[0].content",
    ),
    (
        "tool message with null content",
        "POST",
        "/v1/chat/completions",
        body(messages=[{"role": "tool", "tool_call_id": "c", "content": None}]),
        400,
        "invalid_request",
        "messages[0].content",
    ),
    (
        "content not text",
        "POST",
        "/v1/chat/completions",
        body(messages=[{"role": "user", "content": 42}]),
        400,
        "invalid_request",
        "messages[0].content",
    ),
    (
        "content part without type",
        "POST",
        "/v1/chat/completions",
        body(messages=[{"role": "user", "content": [{"text": "x"}]}]),
        400,
        "invalid_request",
        "messages[0].content[0].type",
    ),
    (
        "model not a string",
        "POST",
        "/v1/chat/completions",
        body(model=7),
        400,
        "invalid_request",
        "model",
    ),
    (
        "empty model",
        "POST",
        "/v1/chat/completions",
        body(model=""),
        400,
        "invalid_request",
        "model",
    ),
    (
        "stream not a bool",
        "POST",
        "/v1/chat/completions",
        body(stream="yes"),
        400,
        "invalid_request",
        "stream",
    ),
    (
        "max_tokens zero",
        "POST",
        "/v1/chat/completions",
        body(max_tokens=0),
        400,
        "invalid_request",
        "max_tokens",
    ),
    (
        "max_tokens not a number",
        "POST",
        "/v1/chat/completions",
        body(max_tokens="many"),
        400,
        "invalid_request",
        "max_tokens",
    ),
    (
        "tools not a list",
        "POST",
        "/v1/chat/completions",
        body(tools={"a": 1}),
        400,
        "invalid_request",
        "tools",
    ),
    (
        "response_format not an object",
        "POST",
        "/v1/chat/completions",
        body(response_format="json"),
        400,
        "invalid_request",
        "response_format",
    ),
    (
        "user not a string",
        "POST",
        "/v1/chat/completions",
        body(user=12),
        400,
        "invalid_request",
        "user",
    ),
    (
        "unknown model",
        "POST",
        "/v1/chat/completions",
        body(model="gpt-9"),
        404,
        "model_not_found",
        "model",
    ),
    (
        "unknown provider model",
        "POST",
        "/v1/chat/completions",
        body(model="alpha/nope"),
        404,
        "model_not_found",
        "model",
    ),
    (
        "no capable model: vision",
        "POST",
        "/v1/chat/completions",
        body(model="chat", messages=IMAGE),
        400,
        "no_capable_model",
        None,
    ),
    (
        "no capable model: context",
        "POST",
        "/v1/chat/completions",
        body(max_tokens=10**9),
        400,
        "no_capable_model",
        None,
    ),
    (
        "body too large",
        "POST",
        "/v1/chat/completions",
        body(padding="x" * 70_000),
        413,
        "request_too_large",
        None,
    ),
    ("wrong method", "GET", "/v1/chat/completions", None, 405, "method_not_allowed", None),
    ("wrong method on models", "DELETE", "/v1/models", None, 405, "method_not_allowed", None),
    ("unknown path", "POST", "/v1/completions", body(), 404, "not_found", None),
    ("route: bad body", "POST", "/v1/route", b"{", 400, "invalid_request", None),
    (
        "route: unknown model",
        "POST",
        "/v1/route",
        body(model="nope"),
        404,
        "model_not_found",
        "model",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input_gets_openai_error(
    router_url: str, case: tuple[str, str, str, bytes | None, int, str, str | None]
) -> None:
    _, method, path, raw, status, code, param = case
    response = httpx.request(
        method,
        router_url + path,
        content=raw,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert isinstance(error["message"], str)
    assert error["message"]


def test_there_are_at_least_twenty_kinds() -> None:
    assert len(CASES) >= 20


def test_client_request_id_is_echoed_when_sane(router_url: str) -> None:
    sane = httpx.get(f"{router_url}/healthz", headers={"x-request-id": "trace-42"})
    assert sane.headers["x-request-id"] == "trace-42"
    insane = httpx.get(f"{router_url}/healthz", headers={"x-request-id": "a b\tc"})
    assert insane.headers["x-request-id"].startswith("req_")


def test_an_unknown_models_name_is_clipped_in_its_404(router_url: str) -> None:
    answer = httpx.post(
        f"{router_url}/v1/chat/completions", content=body(model="m" * 60_000), timeout=10
    )
    assert answer.status_code == 404
    assert len(answer.json()["error"]["message"]) < 300


@pytest.mark.parametrize("value", ["sk-no-scheme", "Basic dXNlcjpwYXNz", "Bearer"])
def test_an_authorization_header_must_be_a_bearer_token(router_url: str, value: str) -> None:
    answer = httpx.post(
        f"{router_url}/v1/chat/completions",
        content=body(),
        headers={"authorization": value},
        timeout=10,
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"
