"""The only place an error body is built: OpenAI's envelope, or Anthropic's on the Messages API.

OpenAI's is ``{"error": {"message", "type", "param", "code"}}``; clients branch on the HTTP
status and ``code``. Under ``/v1/messages`` it is Anthropic's, ``{"type": "error", "error":
{"type", "message"}}``, whose ``type`` follows the status (``invalid_request_error``,
``not_found_error``, ``rate_limit_error``, ...). Both are ``application/json``. Upstream client
errors (`UpstreamRejected`) pass back as sent when they are in the client's API's format, and
are re-enveloped when they are not (an OpenAI-compatible target's refusal of a translated
Messages request). Streams that break after their first byte end with an error event in their
API's shape.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

import msgspec
from litestar import MediaType, Response
from litestar.exceptions import HTTPException

from turnout.errors import (
    InvalidRequest,
    RequestTooLarge,
    ServiceError,
    UpstreamRejected,
)
from turnout.http.request_id import request_id
from turnout.wire.sse import named_event

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ExceptionHandlersMap, Scope

logger = logging.getLogger(__name__)

_ENCODER: Final = msgspec.json.Encoder()
_HTTP_CODES: Final = {
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", RequestTooLarge.code),
    415: ("invalid_request_error", "unsupported_media_type"),
}


def _json(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def _body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    """OpenAI's error body."""
    return _ENCODER.encode(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


_INTERNAL_MESSAGE: Final = "The server had an error processing your request."
_INTERNAL: Final = _body(_INTERNAL_MESSAGE, "server_error", "internal_error")
MESSAGES_PATH: Final = "/v1/messages"
_ANTHROPIC_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


class _OpenAIError(msgspec.Struct):
    message: str = ""


class _OpenAIBody(msgspec.Struct):
    error: _OpenAIError | None = None


_OPENAI_BODY: Final = msgspec.json.Decoder(_OpenAIBody)


def is_messages(scope: Scope) -> bool:
    """Whether a request is on the Messages API, whose errors are in Anthropic's envelope."""
    path: str = scope.get("path", "")
    return path == MESSAGES_PATH or path.startswith(MESSAGES_PATH + "/")


def anthropic_body(status: int, message: str) -> bytes:
    """Anthropic's error body for ``status``."""
    kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return _ENCODER.encode({"type": "error", "error": {"type": kind, "message": message}})


def messages_error_event(exc: ServiceError) -> bytes:
    """Anthropic's ``error`` event, for a Messages stream that breaks after its first byte."""
    return b"event: error\ndata: " + anthropic_body(exc.status, exc.message) + b"\n\n"


def responses_error_event(exc: ServiceError, sequence_number: int) -> bytes:
    """The Responses API's ``error`` event, for a stream that breaks after its first byte."""
    data = {
        "type": "error",
        "code": exc.code,
        "message": exc.message,
        "param": exc.param,
        "sequence_number": sequence_number,
    }
    return named_event("error", data)


def error_event(exc: ServiceError) -> bytes:
    """An SSE event carrying the error, for a stream that breaks after its first byte.

    The openai SDK raises ``APIError`` when a streamed event holds ``error``.
    """
    return b"data: " + _body(exc.message, exc.type, exc.code, exc.param) + b"\n\n"


def service_error(request: Request[Any, Any, Any], exc: ServiceError) -> Response[bytes]:
    """Any `ServiceError`, with its own status, type and code."""
    messages = is_messages(request.scope)
    if isinstance(exc, UpstreamRejected):
        if messages != (exc.api == "messages"):
            return _json(exc.upstream_status, _reenveloped(exc, messages=messages))
        return Response(
            exc.body,
            status_code=exc.upstream_status,
            media_type=exc.content_type or MediaType.JSON,
        )
    if messages:
        return _json(exc.status, anthropic_body(exc.status, exc.message), exc.headers() or None)
    body = _body(exc.message, exc.type, exc.code, exc.param)
    return _json(exc.status, body, exc.headers() or None)


def _reenveloped(exc: UpstreamRejected, *, messages: bool) -> bytes:
    """An upstream's refusal in the client's API's envelope (its message kept, if it had one)."""
    try:
        found = _OPENAI_BODY.decode(exc.body).error
    except (msgspec.MsgspecError, RecursionError):
        found = None
    message = found.message if found is not None and found.message else exc.message
    if messages:
        return anthropic_body(exc.upstream_status, message)
    return _body(message, "invalid_request_error", "upstream_rejected")


def http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Litestar's own errors: unknown path, wrong method, body too large, its validation."""
    status = exc.status_code
    messages = is_messages(request.scope)
    if status >= 500:
        logger.error("litestar error %s: %s", status, exc.detail)
        return _json(500, anthropic_body(500, _INTERNAL_MESSAGE) if messages else _INTERNAL)
    if messages:
        return _json(status, anthropic_body(status, exc.detail), exc.headers)
    type_, code = _HTTP_CODES.get(status, ("invalid_request_error", InvalidRequest.code))
    return _json(status, _body(exc.detail, type_, code), exc.headers)


def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """A bug: a generic 500 for the client, the details in the log under the request id."""
    logger.exception("unhandled error in request %s", request_id(request.scope), exc_info=exc)
    if is_messages(request.scope):
        return _json(500, anthropic_body(500, _INTERNAL_MESSAGE))
    return _json(500, _INTERNAL)


def exception_handlers() -> ExceptionHandlersMap:
    """The handlers to register on the app."""
    return {ServiceError: service_error, HTTPException: http_exception, Exception: unexpected}
