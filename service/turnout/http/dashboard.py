"""``GET /dashboard`` and ``GET /v1/admin/stats``: a live page served by turnout itself.

The page (``dashboard.html``, one file: HTML, CSS and script, no build step and nothing from a
CDN) holds no figures: it polls ``/v1/admin/stats`` every two seconds, takes rates from the
differences between snapshots, and asks ``POST /v1/route`` to explain a pasted prompt. The
figures need the admin key (``auth.admin_key_sha256``; the page asks for it once and keeps it
in the tab's session storage), or, with ``dashboard.open_on_loopback``, a loopback client.
Counters are this replica's own, since its last start.
"""

from __future__ import annotations

import ipaddress
import os
import time
from importlib import resources
from typing import Any, Final

import msgspec
from litestar import MediaType, Request, Response, get
from litestar.exceptions import NotFoundException

from turnout.http.dependencies import ComponentsDependency

_ENCODER: Final = msgspec.json.Encoder()
_PAGE: Final = "http/dashboard.html"
_NOT_FOUND: Final = "the dashboard is off (dashboard.enabled)"


@get("/dashboard", media_type=MediaType.HTML)
async def dashboard(components: ComponentsDependency) -> Response[bytes]:
    """The page; its figures come from ``/v1/admin/stats``."""
    if not components.settings.dashboard.enabled:
        raise NotFoundException(_NOT_FOUND)
    page = resources.files("turnout").joinpath(_PAGE).read_bytes()
    return Response(page, media_type=MediaType.HTML, headers={"cache-control": "no-store"})


@get("/v1/admin/stats")
async def stats(
    request: Request[Any, Any, Any], components: ComponentsDependency
) -> Response[bytes]:
    """This replica's counters and histograms, its index build and encoder, its state."""
    settings = components.settings
    if not settings.dashboard.enabled:
        raise NotFoundException(_NOT_FOUND)
    client = request.scope.get("client")
    loopback = client is not None and _is_loopback(client[0])
    if not (settings.dashboard.open_on_loopback and loopback):
        components.clients.require_admin(request.scope["headers"])
    semantic = components.semantic
    build = None
    if semantic is not None:
        index, encoder, screen = semantic.build.index, semantic.build.encoder, semantic.build.screen
        build = {
            "build_id": index.build_id,
            "encoder": encoder.name,
            "screen": None
            if screen is None
            else {
                "encoder": screen.encoder.name,
                "bar": semantic.build.bar,
                "busy_bar": semantic.build.busy_bar,
            },
            "routes": list(index.routes),
            "exemplars": len(index.texts),
            "thresholds": index.thresholds,
        }
    body = {
        "time": time.time(),
        "pid": os.getpid(),
        "state": {"backend": components.state.backend, "reachable": await components.state.ping()},
        "routes": [route.name for route in settings.routes],
        "default_route": settings.default_route,
        "build": build,
        "metrics": components.metrics.snapshot(),
    }
    return Response(_ENCODER.encode(body), media_type=MediaType.JSON)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
