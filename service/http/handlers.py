"""HTTP endpoints: chat completions, route decisions, models, health, readiness and metrics.

Handlers only translate between HTTP and the components; routing, policy and the gateway own
the work. litestar reads these signatures at run time, so their types are imported at run time.
"""

from __future__ import annotations

import logging
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.response import Stream

from service.config import RESERVED_MODEL
from service.errors import ServiceError, UpstreamError
from service.gateway.relay import relay_sse, rewrite_model
from service.http.dependencies import ComponentsDependency
from service.http.error_handlers import error_event
from service.http.request_id import request_id
from service.metrics import CONTENT_TYPE
from service.policy.selector import available

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from service.gateway.failover import Opened
    from service.router import Routed

logger = logging.getLogger(__name__)

_ENCODER: Final = msgspec.json.Encoder()
MS: Final = 1000.0
SSE_HEADERS: Final = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _headers(routed: Routed, opened: Opened) -> dict[str, str]:
    return {
        "x-turnout-route": routed.decision.route or "",
        "x-turnout-model": opened.target.id,
        "x-turnout-tier": routed.decision.tier,
        "x-turnout-decision-ms": f"{routed.decision_ms:.3f}",
        "x-turnout-attempts": str(len(opened.attempts)),
    }


@post("/v1/chat/completions", status_code=200)
async def chat_completions(
    request: Request[Any, Any, Any], components: ComponentsDependency
) -> Response[Any]:
    """Route the request, forward it with failover, and relay the answer (JSON or SSE)."""
    started = perf_counter()
    route, model, tier, status = "", "", "", 500
    try:
        routed = await components.router.route(await request.body())
        route, tier = routed.decision.route or "", routed.decision.tier
        opened = await components.gateway.send(
            available(routed.candidates),
            routed.fields,
            request_id(request.scope),
            stream=bool(routed.chat.stream),
        )
    except ServiceError as exc:
        status = getattr(exc, "upstream_status", None) or exc.status
        components.metrics.request(
            route=route, model=model, tier=tier, status=status, seconds=perf_counter() - started
        )
        raise
    model, status = opened.target.id, opened.response.status_code
    headers = _headers(routed, opened)

    def finished() -> None:
        components.metrics.request(
            route=route, model=model, tier=tier, status=status, seconds=perf_counter() - started
        )

    if opened.body is None:
        return Stream(
            _stream(opened, finished),
            status_code=status,
            media_type="text/event-stream",
            headers={**headers, **SSE_HEADERS},
        )
    finished()
    return Response(
        rewrite_model(opened.body, model),
        status_code=status,
        media_type=opened.response.headers.get("content-type", MediaType.JSON),
        headers=headers,
    )


async def _stream(opened: Opened, finished: Callable[[], None]) -> AsyncIterator[bytes]:
    """Relay the stream; a break after the first byte ends it with an SSE error event."""
    try:
        async for chunk in relay_sse(opened.response, opened.target.id):
            yield chunk
    except UpstreamError as exc:
        logger.warning("stream from %s broke mid-way: %s", opened.target.id, exc.message)
        yield error_event(exc)
    finally:
        finished()


@post("/v1/route", status_code=200)
async def route_decision(
    request: Request[Any, Any, Any], components: ComponentsDependency
) -> Response[bytes]:
    """Decide only: where this body would go, and why."""
    routed = await components.router.route(await request.body())
    return Response(_ENCODER.encode(routed.payload()), media_type=MediaType.JSON)


@get("/v1/models")
async def list_models(components: ComponentsDependency) -> Response[bytes]:
    """``auto``, every route and every ``provider/model``, with availability."""
    settings = components.settings
    data: list[dict[str, Any]] = [
        _model(RESERVED_MODEL, "turnout", "router", available=True),
        *(
            _model(route.name, "turnout", "route", available=True, description=route.description)
            for route in settings.routes
        ),
        *(
            _model(
                target.id,
                target.provider.name,
                "model",
                available=target.provider.available,
                context_window=target.model.context_window,
                capabilities=sorted(target.model.capabilities),
                input_per_mtok=target.model.input_per_mtok,
                output_per_mtok=target.model.output_per_mtok,
            )
            for target in components.catalog.targets.values()
        ),
    ]
    return Response(_ENCODER.encode({"object": "list", "data": data}), media_type=MediaType.JSON)


def _model(
    model_id: str, owner: str, kind: str, *, available: bool, **extra: Any
) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": 0,
        "owned_by": owner,
        "kind": kind,
        "available": available,
        **extra,
    }


@get("/healthz")
async def healthz() -> Response[bytes]:
    """Liveness: the process serves HTTP."""
    return Response(b'{"status":"ok"}', media_type=MediaType.JSON)


@get("/readyz")
async def readyz(components: ComponentsDependency) -> Response[bytes]:
    """Readiness: components are built. Shared state that is down degrades, it does not fail."""
    state_ok = await components.state.ping()
    body = {
        "status": "ready",
        "state": {"backend": components.state.backend, "reachable": state_ok},
        "providers_available": sum(p.available for p in components.settings.providers),
    }
    return Response(_ENCODER.encode(body), media_type=MediaType.JSON)


@get("/metrics")
async def metrics(components: ComponentsDependency) -> Response[bytes]:
    """Prometheus exposition."""
    return Response(components.metrics.exposition(), media_type=CONTENT_TYPE)


ROUTE_HANDLERS: Final = [chat_completions, route_decision, list_models, healthz, readyz, metrics]
