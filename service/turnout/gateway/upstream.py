"""One pooled HTTP client per provider, and the one place client errors become `UpstreamError`s.

The client is aiohttp rather than httpx: on this project's 2-core machine httpx spent 3.6x the
CPU per upstream request (``benchmarks/upstream_client.py``), and that CPU is proxy overhead.

What an upstream sends back is bounded: a JSON body by ``gateway.max_body_bytes`` (a larger one
is a failed attempt), a stream by the request's deadline (``gateway.total_timeout_s``). Both
count decompressed bytes; aiohttp inflates in bounded steps, so a compressed bomb is cut off
like any large body. A provider's 401 or 403 is its own fault (a revoked or expired key):
another candidate is tried, the breaker counts it, it is logged once per target, and the
provider's body, which may quote the router's key, never reaches the client.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Final

import aiohttp

from turnout.errors import UpstreamRejected, UpstreamTimeout, UpstreamUnavailable
from turnout.tracing import Tracing

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from turnout.config import GatewaySettings, ProviderSettings
    from turnout.gateway.providers import ProviderAdapter
    from turnout.wire.request import Api, Request

logger = logging.getLogger(__name__)

ERROR_BODY_LIMIT: Final = 64 * 1024
AUTH_FAILURES: Final = frozenset({401, 403})


@contextlib.contextmanager
def map_client_errors(target: str) -> Iterator[None]:
    """Translate aiohttp's and asyncio's exceptions into the service's tree, naming the target."""
    try:
        yield
    except TimeoutError as exc:
        raise UpstreamTimeout(f"{target}: timed out ({type(exc).__name__})", target=target) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(f"{target}: {type(exc).__name__}", target=target) from exc


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class UpstreamResponse:
    """A 2xx upstream response whose body is still unread. Its owner must `close` it.

    ``api``: the API it answers in, which the request was sent in.
    """

    def __init__(
        self,
        target: str,
        response: aiohttp.ClientResponse,
        api: Api,
        deadline: float,
        limits: GatewaySettings,
    ) -> None:
        self.target = target
        self._response = response
        self._deadline = deadline
        self._max_body_bytes = limits.max_body_bytes
        self.max_event_bytes = limits.max_event_bytes
        """The largest SSE event its relay passes on."""
        self.api = api
        self.status = response.status
        self.content_type = response.headers.get("content-type")

    async def read(self) -> bytes:
        """The whole body, up to ``gateway.max_body_bytes``.

        Raises:
            UpstreamError: the connection broke or timed out mid-body, or the body is too large.
        """
        chunks: list[bytes] = []
        size, limit = 0, self._max_body_bytes
        with map_client_errors(self.target):  # the gateway's deadline covers a JSON answer
            while chunk := await self._response.content.read(limit + 1 - size):
                size += len(chunk)
                if size > limit:
                    raise UpstreamUnavailable(
                        f"{self.target}: answered a body over {limit} bytes", target=self.target
                    )
                chunks.append(chunk)
        return b"".join(chunks)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, until the request's deadline.

        The deadline is checked as each chunk arrives: a stream that stalls instead is ended by
        the provider's read timeout.

        Raises:
            UpstreamError: the connection broke or timed out mid-body, or the deadline passed.
        """
        with map_client_errors(self.target):
            async for chunk in self._response.content.iter_any():
                if time.monotonic() > self._deadline:
                    raise UpstreamTimeout(
                        f"{self.target}: still answering at the request's deadline",
                        target=self.target,
                    )
                yield chunk

    def close(self) -> None:
        """Release the connection; an unfinished body drops it, which the upstream sees."""
        self._response.close()


class UpstreamClient:
    """Sends requests to one provider over a long-lived connection pool.

    Create it inside the running event loop (the app's lifespan) and `aclose` it there.
    """

    def __init__(
        self,
        settings: ProviderSettings,
        adapter: ProviderAdapter,
        gateway: GatewaySettings,
        tracing: Tracing | None = None,
    ) -> None:
        """``tracing``: whose current span each request's ``traceparent`` names."""
        timeouts = settings.timeouts
        self._tracing = tracing or Tracing()
        self.name = settings.name
        self._adapter = adapter
        self._gateway = gateway
        self._refused: set[str] = set()  # targets whose auth failure was logged
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.max_connections, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=timeouts.pool + timeouts.connect,
                sock_connect=timeouts.connect,
                sock_read=timeouts.read,
            ),
            skip_auto_headers=("user-agent",),
        )

    async def open(
        self, request: Request, model: str, request_id: str, deadline: float
    ) -> UpstreamResponse:
        """Send the request; return the response once its status is 2xx, body unread.

        ``deadline``: when the request's time is up (`time.monotonic`), its stream included.

        Raises:
            UpstreamTimeout: a connect, pool or read timeout.
            UpstreamUnavailable: connection trouble, or a status worth failing over (401, 403,
                429, 5xx).
            UpstreamRejected: any other non-2xx status; the body is kept for pass-through.
        """
        target = f"{self.name}/{model}"
        prepared = self._adapter.prepare(request, model, request_id)
        self._tracing.inject(prepared.headers)
        with map_client_errors(target):
            response = await self._session.post(
                prepared.url, data=prepared.body, headers=prepared.headers, allow_redirects=False
            )
        outcome = self._adapter.classify(response.status)
        if outcome == "ok":
            return UpstreamResponse(target, response, prepared.api, deadline, self._gateway)
        try:
            with map_client_errors(target):
                body = await response.content.read(ERROR_BODY_LIMIT)
        finally:
            response.close()
        if response.status in AUTH_FAILURES and target not in self._refused:
            self._refused.add(target)
            logger.error(
                "%s refused the router's API key (%s): check %s's key; failing over",
                target,
                response.status,
                self.name,
            )
        if outcome == "retry":
            raise UpstreamUnavailable(
                f"{target} answered {response.status}",
                target=target,
                status=response.status,
                retry_after=_retry_after(response),
            )
        raise UpstreamRejected(
            target=target,
            status=response.status,
            body=body,
            content_type=response.headers.get("content-type"),
            api=prepared.api,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._session.close()
