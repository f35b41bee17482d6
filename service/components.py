"""The `Components` container: everything the lifespan builds once and handlers receive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.config import Settings
    from service.gateway.cascade import Cascade
    from service.gateway.failover import Gateway
    from service.metrics import Metrics
    from service.policy.admission import Admission
    from service.policy.caller import Clients
    from service.policy.catalog import Catalog
    from service.router import Router
    from service.routing.semantic import SemanticTier
    from service.state.protocol import State


@dataclass(frozen=True, slots=True)
class Components:
    """The running service's parts, built by `service.app.create_app`'s lifespan."""

    settings: Settings
    catalog: Catalog
    router: Router
    gateway: Gateway
    cascade: Cascade
    metrics: Metrics
    state: State
    clients: Clients
    admission: Admission
    semantic: SemanticTier | None
