"""The one exception tree of the service, and each error's HTTP mapping.

    ServiceError
    ├── RequestError
    │   ├── InvalidRequest          400  invalid_request_error
    │   ├── RequestTooLarge         413  invalid_request_error   request_too_large
    │   ├── RequestTimedOut         408  invalid_request_error   request_timeout
    │   ├── ModelNotFound           404  invalid_request_error   model_not_found
    │   ├── ResponseNotFound        404  invalid_request_error   response_not_found
    │   ├── AuthenticationFailed    401  authentication_error    invalid_api_key
    │   └── RateLimited             429  rate_limit_error        rate_limit_exceeded
    ├── UpstreamError               (one attempt failed; the gateway may fail over)
    │   ├── UpstreamTimeout
    │   ├── UpstreamUnavailable
    │   └── UpstreamRejected        (carries the upstream status and raw body for pass-through)
    ├── AllProvidersFailed          503  server_error            all_providers_unavailable
    └── ConfigError                 (start-up only, never reaches HTTP)

The envelope itself is built in exactly one place: ``turnout/http/error_handlers.py``; it is
OpenAI's on every path but the Messages API's, where it is Anthropic's, with the same statuses.
"""

from __future__ import annotations

from typing import ClassVar, Literal

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "rate_limit_error",
    "insufficient_quota",
    "server_error",
]


class ServiceError(Exception):
    """Base of every error the service raises on purpose."""

    status: ClassVar[int] = 500
    type: ClassVar[ErrorType] = "server_error"
    code: ClassVar[str | None] = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def headers(self) -> dict[str, str]:
        """Extra response headers this error carries (e.g. ``Retry-After``)."""
        return {}

    @property
    def counted_status(self) -> int:
        """The status metrics and traces count a failed request under (an upstream's, or own)."""
        return getattr(self, "upstream_status", None) or self.status


class RequestError(ServiceError):
    """The client's request cannot be served as sent."""

    status = 400
    type: ClassVar[ErrorType] = "invalid_request_error"


class InvalidRequest(RequestError):
    """Malformed or invalid request body."""

    code = "invalid_request"


class RequestTooLarge(RequestError):
    """The body is over the configured size limit."""

    status = 413
    code = "request_too_large"


class RequestTimedOut(RequestError):
    """The body did not arrive within ``server.body_timeout_s``."""

    status = 408
    code = "request_timeout"


class ModelNotFound(RequestError):
    """``model`` names no route, model or ``auto``."""

    status = 404
    code = "model_not_found"

    def __init__(self, message: str) -> None:
        super().__init__(message, param="model")


class ResponseNotFound(RequestError):
    """No stored response of this client has the id (``previous_response_id``, or the path)."""

    status = 404
    code = "response_not_found"


class NoCapableModel(RequestError):
    """No candidate of the route can take this request (vision, tools, context window)."""

    code = "no_capable_model"


class AuthenticationFailed(RequestError):
    """Missing or unknown client API key."""

    status = 401
    type: ClassVar[ErrorType] = "authentication_error"
    code = "invalid_api_key"


class FeedbackNotFound(RequestError):
    """Feedback for a decision that is not awaiting any."""

    status = 404
    code = "decision_not_found"


class IndexNotReloaded(RequestError):
    """The index build on disk could not be loaded; the one in use keeps serving."""

    status = 409
    code = "index_not_reloaded"


class RateLimited(RequestError):
    """A rate limit or budget refused the request."""

    status = 429
    type: ClassVar[ErrorType] = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """``Retry-After`` in whole seconds, when known."""
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, round(self.retry_after)))}


class BudgetSpent(RateLimited):
    """A client's or team's budget for the day is spent (OpenAI's quota error)."""

    type: ClassVar[ErrorType] = "insufficient_quota"
    code = "insufficient_quota"


class UpstreamError(ServiceError):
    """One upstream attempt failed. The gateway decides whether to try another candidate."""

    status = 502
    code = "upstream_error"

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target


class UpstreamTimeout(UpstreamError):
    """Connect, read, write or pool timeout talking to an upstream."""

    status = 504
    code = "upstream_timeout"


class UpstreamUnavailable(UpstreamError):
    """The upstream could not be reached, dropped the connection, or answered 429/5xx."""

    code = "upstream_unavailable"

    def __init__(
        self,
        message: str,
        *,
        target: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, target=target)
        self.upstream_status = status
        self.retry_after = retry_after


class UpstreamRejected(UpstreamError):
    """The upstream refused the request itself (a 4xx other than 408/429): passed back as is."""

    def __init__(
        self, *, target: str, status: int, body: bytes, content_type: str | None, api: str
    ) -> None:
        super().__init__(f"{target} answered {status}", target=target)
        self.upstream_status = status
        self.body = body
        self.content_type = content_type
        self.api = api
        """The API the body is in (``chat_completions``, ``responses``, ``messages``)."""


class AllProvidersFailed(ServiceError):
    """Every candidate failed or none was available."""

    status = 503
    code = "all_providers_unavailable"


class ConfigError(ServiceError):
    """Invalid configuration; raised at start-up only, with the offending key in the message."""
