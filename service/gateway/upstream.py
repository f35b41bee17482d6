"""One pooled httpx client per provider, and the one place httpx errors become `UpstreamError`s."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Final

import httpx

from service.errors import UpstreamRejected, UpstreamTimeout, UpstreamUnavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from service.config import ProviderSettings
    from service.gateway.providers import ProviderAdapter
    from service.http.body import Fields

ERROR_BODY_LIMIT: Final = 64 * 1024


@contextlib.contextmanager
def map_httpx_errors(target: str) -> Iterator[None]:
    """Translate httpx's exceptions into the service's tree, naming the target."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"{target}: {type(exc).__name__}", target=target) from exc
    except httpx.TransportError as exc:
        raise UpstreamUnavailable(f"{target}: {type(exc).__name__}", target=target) from exc


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, when the upstream sent a number."""
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class UpstreamClient:
    """Sends requests to one provider over a long-lived connection pool."""

    def __init__(self, settings: ProviderSettings, adapter: ProviderAdapter) -> None:
        timeouts = settings.timeouts
        self.name = settings.name
        self._adapter = adapter
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=timeouts.connect,
                read=timeouts.read,
                write=timeouts.write,
                pool=timeouts.pool,
            ),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_connections,
            ),
            follow_redirects=False,
        )

    async def open(self, fields: Fields, model: str, request_id: str) -> httpx.Response:
        """Send the request and return the response with its body still unread.

        The caller owns the response and must close it.

        Raises:
            UpstreamTimeout: a connect, write, read or pool timeout.
            UpstreamUnavailable: connection trouble, or a status worth failing over (429, 5xx).
            UpstreamRejected: any other non-2xx status; the body is kept for pass-through.
        """
        target = f"{self.name}/{model}"
        request = self._adapter.prepare(fields, model, request_id)
        with map_httpx_errors(target):
            response = await self._client.send(request, stream=True)
        outcome = self._adapter.classify(response.status_code)
        if outcome == "ok":
            return response
        try:
            with map_httpx_errors(target):
                body = await _read_capped(response)
        finally:
            await response.aclose()
        status = response.status_code
        if outcome == "retry":
            raise UpstreamUnavailable(
                f"{target} answered {status}",
                target=target,
                status=status,
                retry_after=retry_after(response),
            )
        raise UpstreamRejected(
            target=target,
            status=status,
            body=body,
            content_type=response.headers.get("content-type"),
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= ERROR_BODY_LIMIT:
            break
    return b"".join(chunks)[:ERROR_BODY_LIMIT]
