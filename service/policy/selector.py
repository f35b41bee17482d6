"""Turns a decision into the ordered candidates the gateway tries.

It keeps the models that can take the request (vision, tools, JSON mode, context window), then
orders them by the route's policy (`service.policy.scoring`: preference, cost, latency against
its SLA, recent errors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.errors import AllProvidersFailed, NoCapableModel
from service.policy.scoring import order

if TYPE_CHECKING:
    from service.config import Settings
    from service.policy.catalog import Catalog, Target
    from service.policy.scoring import TargetStats
    from service.routing.analyze import RoutingInput
    from service.routing.decision import Decision


def fits(target: Target, inp: RoutingInput) -> bool:
    """Whether ``target`` can take the request at all."""
    model = target.model
    needed = inp.token_estimate + (inp.output_limit or 0)
    return (
        needed <= model.context_window
        and (not inp.has_images or "vision" in model.capabilities)
        and (not inp.needs_tools or "tools" in model.capabilities)
        and (not inp.needs_json or "json" in model.capabilities)
    )


class Selector:
    """Chooses and orders a decision's candidate targets."""

    def __init__(self, catalog: Catalog, settings: Settings, stats: TargetStats) -> None:
        self._catalog = catalog
        self._policies = {route.name: route.policy for route in settings.routes}
        self._stats = stats

    def candidates(self, decision: Decision, inp: RoutingInput) -> tuple[Target, ...]:
        """The targets that can take the request, best first (availability not yet checked).

        Raises:
            NoCapableModel: no target of the route can take this request.
        """
        if decision.pinned is not None:
            return (self._catalog.targets[decision.pinned],)
        if decision.route is None:
            raise AssertionError("a decision names a route or a pinned target")
        targets = [t for t in self._catalog.routes[decision.route] if fits(t, inp)]
        if not targets:
            raise NoCapableModel(
                f"no model of route '{decision.route}' can take this request "
                "(vision, tools, JSON mode or context window)"
            )
        return order(targets, inp, self._policies[decision.route], self._stats)


def available(targets: tuple[Target, ...]) -> tuple[Target, ...]:
    """The targets whose provider has its API key.

    Raises:
        AllProvidersFailed: none has; the message names the variables to set.
    """
    found = tuple(target for target in targets if target.provider.available)
    if not found:
        missing = sorted({str(target.provider.api_key_env) for target in targets})
        raise AllProvidersFailed(
            f"no provider is available for this request: set {', '.join(missing)} "
            "in the router's environment"
        )
    return found
