"""The provider contract: shape an upstream request, and classify what came back.

Providers are OpenAI-compatible, so the one adapter rewrites the URL, the auth header and the
model id. A provider that needs different behaviour gets its own adapter class here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Protocol

from turnout import __version__
from turnout.wire.chat import encode_with_model

if TYPE_CHECKING:
    from turnout.config import ProviderSettings
    from turnout.wire.chat import Fields

Outcome = Literal["ok", "retry", "reject"]

RETRYABLE_STATUS: Final = frozenset({408, 409, 425, 429})
USER_AGENT: Final = f"turnout/{__version__}"


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """A POST to send upstream."""

    url: str
    headers: dict[str, str]
    body: bytes


class ProviderAdapter(Protocol):
    """What the gateway needs from a provider."""

    def prepare(self, fields: Fields, model: str, request_id: str) -> UpstreamRequest:
        """The upstream request for a body whose ``model`` becomes ``model``."""
        ...

    def classify(self, status: int) -> Outcome:
        """``ok`` to relay, ``retry`` to fail over, ``reject`` to pass back to the client."""
        ...


class OpenAICompatibleAdapter:
    """Any endpoint that speaks OpenAI's ``/chat/completions``."""

    def __init__(self, settings: ProviderSettings) -> None:
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        headers = {**settings.headers, "content-type": "application/json", "user-agent": USER_AGENT}
        if settings.api_key is not None:
            headers["authorization"] = f"Bearer {settings.api_key.reveal()}"
        self._headers = headers

    def prepare(self, fields: Fields, model: str, request_id: str) -> UpstreamRequest:
        """POST the client's body, with only ``model`` rewritten, to the provider."""
        return UpstreamRequest(
            self._url,
            {**self._headers, "x-request-id": request_id},
            encode_with_model(fields, model),
        )

    def classify(self, status: int) -> Outcome:
        """2xx is ok; 408, 409, 425, 429 and 5xx are worth another candidate; other 4xx are not."""
        if 200 <= status < 300:
            return "ok"
        if status >= 500 or status in RETRYABLE_STATUS:
            return "retry"
        return "reject"
