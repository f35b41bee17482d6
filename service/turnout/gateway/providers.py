"""The provider contract: shape an upstream request, and classify what came back.

A provider speaks one or more APIs under its base URL (``providers[].apis``). A request goes to
the API the client spoke when the provider speaks it (the client's body, with only ``model``
rewritten), else to Chat Completions (its translation). Chat Completions and Responses take
the key as a bearer token; Messages as ``x-api-key``, with the client's ``anthropic-version``
(or the API's first, ``2023-06-01``). A provider that needs different behaviour gets its own
adapter class here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Protocol

from turnout import __version__
from turnout.wire.chat import encode_with_model
from turnout.wire.request import PATHS

if TYPE_CHECKING:
    from turnout.config import ProviderSettings
    from turnout.wire.request import Api, Request

Outcome = Literal["ok", "retry", "reject"]

RETRYABLE_STATUS: Final = frozenset({401, 403, 408, 409, 425, 429})
"""Worth another candidate: the provider's own faults (its key refused, 401 and 403), its
load (429) and conflicts or early data it may not refuse next time (408, 409, 425)."""
USER_AGENT: Final = f"turnout/{__version__}"
ANTHROPIC_VERSION: Final = "2023-06-01"


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """A POST to send upstream, in one API."""

    url: str
    headers: dict[str, str]
    body: bytes
    api: Api


class ProviderAdapter(Protocol):
    """What the gateway needs from a provider."""

    def prepare(self, request: Request, model: str, request_id: str) -> UpstreamRequest:
        """The upstream request for ``request``, whose ``model`` becomes ``model``."""
        ...

    def classify(self, status: int) -> Outcome:
        """``ok`` to relay, ``retry`` to fail over, ``reject`` to pass back to the client."""
        ...


class HttpAdapter:
    """Any endpoint that speaks Chat Completions, Responses or Messages (or several)."""

    def __init__(self, settings: ProviderSettings) -> None:
        base = settings.base_url.rstrip("/")
        self._apis = settings.apis
        self._urls = {api: base + PATHS[api] for api in settings.apis}
        common = {**settings.headers, "content-type": "application/json", "user-agent": USER_AGENT}
        key = None if settings.api_key is None else settings.api_key.reveal()
        bearer = common if key is None else {**common, "authorization": f"Bearer {key}"}
        anthropic = {"anthropic-version": ANTHROPIC_VERSION, **common}
        if key is not None:
            anthropic["x-api-key"] = key
        self._headers = {
            "chat_completions": bearer,
            "responses": bearer,
            "messages": anthropic,
        }

    def prepare(self, request: Request, model: str, request_id: str) -> UpstreamRequest:
        """POST the client's body natively if the provider speaks its API, else its Chat form.

        Only ``model`` is rewritten.

        Raises:
            AssertionError: the provider can take neither (the router keeps such targets out).
        """
        native = request.native
        if native is not None and native.api in self._apis:
            api, fields, extra = native.api, native.fields, dict(native.headers)
        elif "chat_completions" in self._apis:
            api, fields, extra = "chat_completions", request.fields, {}
        else:
            raise AssertionError(f"a {request.api} request reached a provider that cannot take it")
        return UpstreamRequest(
            self._urls[api],
            {**self._headers[api], **extra, "x-request-id": request_id},
            encode_with_model(fields, model),
            api,
        )

    def classify(self, status: int) -> Outcome:
        """2xx is ok; `RETRYABLE_STATUS` and 5xx are worth another candidate; other 4xx are not."""
        if 200 <= status < 300:
            return "ok"
        if status >= 500 or status in RETRYABLE_STATUS:
            return "retry"
        return "reject"
