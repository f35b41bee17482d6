"""The `Components` container: everything the lifespan builds once and handlers receive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from turnout.caller import Clients
    from turnout.catalog import Catalog
    from turnout.config import Settings
    from turnout.flow.flow import Flow
    from turnout.flow.stored import Responses
    from turnout.metrics import Metrics
    from turnout.policy.admission import Admission
    from turnout.routing.semantic import SemanticTier
    from turnout.state.protocol import State
    from turnout.tracing import Tracing


@dataclass(frozen=True, slots=True)
class Components:
    """The running service's parts, built by `turnout.app.create_app`'s lifespan."""

    settings: Settings
    catalog: Catalog
    flow: Flow
    metrics: Metrics
    state: State
    clients: Clients
    admission: Admission
    semantic: SemanticTier | None
    responses: Responses
    tracing: Tracing
