"""HTTP endpoints besides the API surfaces: route decisions, models, health, readiness, metrics.

Handlers only translate between HTTP and the components; routing, policy and the gateway own
the work. Litestar reads these signatures at run time, so their types are imported at run time.
The API surfaces (Chat Completions, Responses, Messages), the hot path, are raw ASGI handlers
on `turnout.http.surface`; `ROUTE_HANDLERS` lists every endpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec
from litestar import MediaType, Request, Response, get, post

from turnout.config import RESERVED_MODEL
from turnout.errors import ConfigError, IndexNotReloaded, InvalidRequest
from turnout.flow.router import NOBODY
from turnout.http.chat import chat_completions
from turnout.http.dashboard import dashboard, stats
from turnout.http.dependencies import ComponentsDependency
from turnout.http.messages import count_tokens, create_message
from turnout.http.responses import create_response, delete_response, get_response
from turnout.metrics import CONTENT_TYPE
from turnout.routing.reload import reload_build
from turnout.wire.feedback import decode_feedback

if TYPE_CHECKING:
    from turnout.config import ModelSettings

_ENCODER: Final = msgspec.json.Encoder()


@post("/v1/route", status_code=200)
async def route_decision(
    request: Request[Any, Any, Any], components: ComponentsDependency
) -> Response[bytes]:
    """Decide only: where this body would go, and why (for a client, or the admin key)."""
    headers, clients = request.scope["headers"], components.clients
    caller = NOBODY if clients.is_admin(headers) else clients.identify(headers)
    routed = await components.flow.router.route(await request.body(), caller)
    return Response(_ENCODER.encode(routed.payload()), media_type=MediaType.JSON)


@post("/v1/feedback", status_code=200)
async def feedback(
    request: Request[Any, Any, Any], components: ComponentsDependency
) -> Response[bytes]:
    """Score the answer of a decision (its ``x-request-id``) for the route's bandit."""
    caller = components.clients.identify(request.scope["headers"])
    given = decode_feedback(await request.body())
    bandit = components.admission.bandit
    if bandit is None:
        raise InvalidRequest("no route learns from feedback (routes[].bandit.enabled)")
    route, model = await bandit.feedback(caller, given.decision_id, given.score)
    body = {"decision_id": given.decision_id, "route": route, "model": model, "score": given.score}
    return Response(_ENCODER.encode(body), media_type=MediaType.JSON)


@post("/v1/admin/index/reload", status_code=200)
async def reload_index(
    request: Request[Any, Any, Any], components: ComponentsDependency
) -> Response[bytes]:
    """Admin: load the index build on disk now, if it is new; answer the build in use."""
    components.clients.require_admin(request.scope["headers"])
    semantic, folder = components.semantic, components.settings.routing.index
    if semantic is None or folder is None:
        raise InvalidRequest("no semantic index is configured (routing.index)")
    previous = semantic.index.build_id
    routes = {route.name for route in components.settings.routes}
    try:
        current = await reload_build(semantic, Path(folder), routes)
    except ConfigError as exc:
        raise IndexNotReloaded(
            f"index not reloaded, build {previous} still serves: {exc.message}"
        ) from exc
    body = {"build_id": current, "previous_build_id": previous, "reloaded": current != previous}
    return Response(_ENCODER.encode(body), media_type=MediaType.JSON)


@get("/v1/models")
async def list_models(
    request: Request[Any, Any, Any], components: ComponentsDependency
) -> Response[bytes]:
    """``auto``, every route and every ``provider/model``, with availability."""
    settings = components.settings
    if settings.auth.private_endpoints:
        components.clients.identify(request.scope["headers"])
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
                **_metadata(target.model),
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


def _metadata(model: ModelSettings) -> dict[str, Any]:
    """A model's prices, limits, capabilities and status, and each one's source."""
    fields = msgspec.structs.asdict(model)
    del fields["id"], fields["catalog_id"]
    fields["capabilities"] = sorted(model.capabilities)
    return {key: value for key, value in fields.items() if value is not None}


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
        "pid": os.getpid(),  # which worker answered (`turnout serve --workers`)
    }
    return Response(_ENCODER.encode(body), media_type=MediaType.JSON)


@get("/metrics")
async def metrics(
    request: Request[Any, Any, Any], components: ComponentsDependency
) -> Response[bytes]:
    """Prometheus exposition (the admin key's only, with ``auth.private_endpoints``)."""
    if components.settings.auth.private_endpoints:
        components.clients.require_admin(request.scope["headers"])
    return Response(components.metrics.exposition(), media_type=CONTENT_TYPE)


ROUTE_HANDLERS: Final = [
    dashboard,
    stats,
    chat_completions,
    create_response,
    get_response,
    delete_response,
    create_message,
    count_tokens,
    route_decision,
    feedback,
    reload_index,
    list_models,
    healthz,
    readyz,
    metrics,
]
