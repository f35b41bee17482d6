"""Request decoding, body rewriting, SSE relay framing and the error tree's HTTP mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
import pytest

from turnout import errors
from turnout.gateway.relay import rewrite_event, rewrite_model
from turnout.http.error_handlers import error_event
from turnout.wire.chat import decode_chat, encode_with_model
from turnout.wire.sse import split_events

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def test_encode_with_model_keeps_every_other_field_byte_for_byte() -> None:
    raw = b'{"model":"auto","messages":[{"role":"user","content":"hi"}],"x_vendor":{"a":[1,2.50]}}'
    fields, request = decode_chat(raw)
    assert request.model == "auto"
    out = encode_with_model(fields, "gpt-4o")
    assert out == raw.replace(b'"auto"', b'"gpt-4o"')
    assert fields["model"] == msgspec.Raw(b'"auto"')


def test_invalid_routing_fields_name_their_path() -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        decode_chat(b'{"messages": [{"role": "user", "content": [{"type": 1}]}]}')
    assert caught.value.param == "messages[0].content[0].type"
    assert caught.value.message.startswith("messages[0].content[0].type: expected `str`")


def test_rewrite_model_only_touches_json_objects_with_a_model() -> None:
    assert rewrite_model(b'{"model":"m","id":1}', "p/m") == b'{"model":"p/m","id":1}'
    assert rewrite_model(b'{"id":1}', "p/m") == b'{"id":1}'
    assert rewrite_model(b"not json", "p/m") == b"not json"


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.anyio
async def test_sse_events_split_across_chunks_are_rewritten_whole() -> None:
    parts = (
        b'data: {"model":"m","n":1}\n\ndata: {"mo',
        b'del":"m","n":2}\r\n\r\n',
        b": keep-alive comment\n\n",
        b"data: [DONE]\n\n",
        b"trailing",
    )
    out = [
        [rewrite_event(event, "p/m") for event in events]
        async for events in split_events(_chunks(*parts))
    ]
    assert out == [
        [b'data: {"model":"p/m","n":1}'],
        [b'data: {"model":"p/m","n":2}'],
        [b": keep-alive comment"],
        [b"data: [DONE]"],
        [b"trailing"],
    ]


@pytest.mark.anyio
async def test_one_large_event_in_many_chunks_is_split_once_whole() -> None:
    event = b"data: " + b"x" * 100_000
    chunks = [event[i : i + 1000] for i in range(0, len(event), 1000)] + [b"\n", b"\ndata: 2\n\n"]
    out = [events async for events in split_events(_chunks(*chunks))]
    assert out == [[event, b"data: 2"]]


@pytest.mark.parametrize(
    ("error", "status", "type_", "code"),
    [
        (errors.InvalidRequest("x"), 400, "invalid_request_error", "invalid_request"),
        (errors.RequestTooLarge("x"), 413, "invalid_request_error", "request_too_large"),
        (errors.ModelNotFound("x"), 404, "invalid_request_error", "model_not_found"),
        (errors.NoCapableModel("x"), 400, "invalid_request_error", "no_capable_model"),
        (errors.AuthenticationFailed("x"), 401, "authentication_error", "invalid_api_key"),
        (errors.RateLimited("x"), 429, "rate_limit_error", "rate_limit_exceeded"),
        (errors.AllProvidersFailed("x"), 503, "server_error", "all_providers_unavailable"),
        (errors.UpstreamTimeout("x", target="t"), 504, "server_error", "upstream_timeout"),
        (errors.UpstreamUnavailable("x", target="t"), 502, "server_error", "upstream_unavailable"),
    ],
)
def test_error_tree_http_mapping(
    error: errors.ServiceError, status: int, type_: str, code: str
) -> None:
    assert (error.status, error.type, error.code) == (status, type_, code)
    event = msgspec.json.decode(error_event(error)[6:])
    assert event == {"error": {"message": "x", "type": type_, "param": error.param, "code": code}}


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert errors.RateLimited("x", retry_after=0.2).headers() == {"retry-after": "1"}
    assert errors.RateLimited("x", retry_after=7.4).headers() == {"retry-after": "7"}
    assert errors.RateLimited("x").headers() == {}
    assert errors.ModelNotFound("x").param == "model"
