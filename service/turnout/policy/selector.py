"""Turns a decision into the ordered candidates the gateway tries.

It keeps the models that can take the request (vision, tools, JSON mode, context window), then
orders them by the route's policy (`turnout.policy.scoring`: preference, cost, latency against
its SLA, recent errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from turnout.errors import AllProvidersFailed, NoCapableModel
from turnout.policy.experiments import Experiment
from turnout.policy.scoring import order

if TYPE_CHECKING:
    from turnout.caller import Caller
    from turnout.catalog import Catalog, Target
    from turnout.config import Settings
    from turnout.policy.experiments import Variant
    from turnout.policy.scoring import TargetStats
    from turnout.routing.analyze import RoutingInput
    from turnout.routing.decision import Decision


def fits(target: Target, inp: RoutingInput) -> bool:
    """Whether ``target`` can take the request at all."""
    model = target.model
    most = model.max_output_tokens
    return (
        inp.tokens <= model.context_window
        and (most is None or inp.output_limit is None or inp.output_limit <= most)
        and (not inp.has_images or "vision" in model.capabilities)
        and (not inp.needs_tools or "tools" in model.capabilities)
        and (not inp.needs_json or "json" in model.capabilities)
    )


@dataclass(frozen=True, slots=True)
class Selection:
    """The ordered candidates, and the experiment variant that chose them, if any."""

    targets: tuple[Target, ...]
    variant: Variant | None


class Selector:
    """Chooses and orders a decision's candidate targets."""

    def __init__(self, catalog: Catalog, settings: Settings, stats: TargetStats) -> None:
        self._catalog = catalog
        self._policies = {route.name: route.policy for route in settings.routes}
        self._experiments = {e.route: Experiment(e, catalog) for e in settings.experiments}
        self._languages = {
            (route.name, language): frozenset(targets)
            for route in settings.routes
            for language, targets in route.languages.items()
        }
        self._tiers = {
            (route.name, tier): tuple(catalog.targets[name] for name in targets)
            for route in settings.routes
            for tier, targets in route.tiers.items()
        }
        self._stats = stats

    def target(self, name: str) -> Target | None:
        """The configured target called ``name`` (``provider/model``), if there is one."""
        return self._catalog.targets.get(name)

    def has_route(self, route: str | None) -> bool:
        """Whether ``route`` is a configured route."""
        return route is not None and route in self._catalog.routes

    def candidates(self, decision: Decision, inp: RoutingInput, caller: Caller) -> Selection:
        """The targets that can take the request, best first (availability not yet checked).

        The caller's tier may have targets of its own on the route; otherwise, on a route with
        an experiment, the caller (its session, else ``user``, else its key) picks a variant.

        Raises:
            NoCapableModel: no target of the route (or of the caller's variant) can take it.
        """
        if decision.pinned is not None:
            return Selection((self._catalog.targets[decision.pinned],), None)
        if decision.route is None:
            raise AssertionError("a decision names a route or a pinned target")
        route = decision.route
        tiered = self._tiers.get((route, caller.tier)) if caller.tier is not None else None
        experiment = self._experiments.get(route) if tiered is None else None
        subject = caller.session or inp.user or caller.key
        variant = experiment.variant(subject) if experiment is not None else None
        offered = tiered or (variant.targets if variant else self._catalog.routes[route])
        targets = [t for t in offered if fits(t, inp)]
        if not targets:
            raise NoCapableModel(
                f"no model of route '{route}' can take this request "
                "(vision, tools, JSON mode, context window or output limit)"
            )
        ordered = order(targets, inp, self._policies[route], self._stats)
        preferred = self._languages.get((route, inp.language or ""))
        if preferred:  # the language's targets first, each group in the policy's order
            ordered = tuple(sorted(ordered, key=lambda target: target.id not in preferred))
        return Selection(ordered, variant)


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
