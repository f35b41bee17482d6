"""The only place an error body is built: every error leaves as OpenAI's envelope.

``{"error": {"message", "type", "param", "code"}}`` with ``application/json``; clients branch on
the HTTP status and ``code``. Upstream client errors (`UpstreamRejected`) pass back as sent.
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

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ExceptionHandlersMap

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


_INTERNAL: Final = _body(
    "The server had an error processing your request.", "server_error", "internal_error"
)


def error_event(exc: ServiceError) -> bytes:
    """An SSE event carrying the error, for a stream that breaks after its first byte.

    The openai SDK raises ``APIError`` when a streamed event holds ``error``.
    """
    return b"data: " + _body(exc.message, exc.type, exc.code, exc.param) + b"\n\n"


def service_error(_: Request[Any, Any, Any], exc: ServiceError) -> Response[bytes]:
    """Any `ServiceError`, with its own status, type and code."""
    if isinstance(exc, UpstreamRejected):
        return Response(
            exc.body,
            status_code=exc.upstream_status,
            media_type=exc.content_type or MediaType.JSON,
        )
    body = _body(exc.message, exc.type, exc.code, exc.param)
    return _json(exc.status, body, exc.headers() or None)


def http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Litestar's own errors: unknown path, wrong method, body too large, its validation."""
    status = exc.status_code
    if status >= 500:
        logger.error("litestar error %s: %s", status, exc.detail)
        return _json(500, _INTERNAL)
    type_, code = _HTTP_CODES.get(status, ("invalid_request_error", InvalidRequest.code))
    return _json(status, _body(exc.detail, type_, code), exc.headers)


def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """A bug: a generic 500 for the client, the details in the log under the request id."""
    logger.exception("unhandled error in request %s", request_id(request.scope), exc_info=exc)
    return _json(500, _INTERNAL)


def exception_handlers() -> ExceptionHandlersMap:
    """The handlers to register on the app."""
    return {ServiceError: service_error, HTTPException: http_exception, Exception: unexpected}
