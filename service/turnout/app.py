"""The composition root: `create_app(settings)` wires every component, once, in its lifespan.

The lifespan opens shared state, then the encoder and index (when configured, with a background
task that swaps in new index builds), then the provider clients, and closes them in reverse
order.
Tests, benchmarks and the CLI build the service through this module and no other way.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from litestar import Litestar
from litestar.di import Provide

from turnout.caller import Clients
from turnout.catalog import Catalog
from turnout.components import Components
from turnout.flow.flow import Flow
from turnout.flow.router import Router
from turnout.flow.stored import open_responses
from turnout.gateway.cascade import Cascade
from turnout.gateway.failover import Gateway
from turnout.gateway.providers import HttpAdapter
from turnout.gateway.upstream import UpstreamClient
from turnout.http.dependencies import components
from turnout.http.error_handlers import exception_handlers
from turnout.http.handlers import ROUTE_HANDLERS
from turnout.http.request_id import add_request_id
from turnout.metrics import Metrics
from turnout.policy.admission import Admission
from turnout.policy.bandit import open_bandit
from turnout.policy.breaker import open_breakers
from turnout.policy.budgets import open_budgets
from turnout.policy.limits import open_limits
from turnout.policy.scoring import TargetStats
from turnout.policy.selector import Selector
from turnout.policy.sessions import open_sessions
from turnout.routing.analyze import Analyzer
from turnout.routing.language import LanguageDetector
from turnout.routing.pipeline import Pipeline
from turnout.routing.reload import watch_index
from turnout.routing.rules import RuleTier
from turnout.routing.semantic import SemanticTier, open_semantic
from turnout.state import open_state
from turnout.tracing import Tracing

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from opentelemetry.sdk.trace.export import SpanExporter

    from turnout.config import Settings

logger = logging.getLogger(__name__)


def build_router(
    settings: Settings,
    catalog: Catalog,
    metrics: Metrics,
    semantic: SemanticTier | None,
    stats: TargetStats | None = None,
) -> Router:
    """The decision side alone, for the service and for ``turnout route``.

    ``stats``: the gateway's observations of each target, which the policy orders by.
    """
    rules = RuleTier(settings.rules)
    slow = [semantic] if semantic is not None else []
    pipeline = Pipeline(catalog, [rules], settings.default_route, slow)
    selector = Selector(catalog, settings, stats or TargetStats())
    by_language = rules.uses_language or any(route.languages for route in settings.routes)
    detect = LanguageDetector() if by_language else None
    speculative = frozenset(route.name for route in settings.routes if route.speculate)
    analyzer = Analyzer(detect, settings.routing.max_scan_chars)
    return Router(pipeline, selector, metrics, analyzer, speculative)


def report_unavailable(settings: Settings) -> None:
    """Log, once at start-up, each provider that lacks its API key."""
    for provider in settings.providers:
        if not provider.available:
            logger.warning(
                "provider %s is unavailable: environment variable %s is not set",
                provider.name,
                provider.api_key_env,
            )


def create_app(settings: Settings, *, span_exporter: SpanExporter | None = None) -> Litestar:
    """Build the ASGI app for ``settings``. Nothing is opened until the app starts.

    ``span_exporter``: where trace spans go instead of ``tracing.endpoint`` (tests).
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack, anyio.create_task_group() as background:
            state = open_state(settings.state)
            stack.push_async_callback(state.aclose)
            await state.ping()  # opens a first connection, or logs that Redis is out
            metrics = Metrics()
            tracing = Tracing(settings.tracing, span_exporter)
            stack.callback(tracing.shutdown)
            semantic = await open_semantic(settings, metrics, state)
            if semantic is not None and semantic.shared is not None:
                background.start_soon(semantic.shared.run)
            if semantic is not None and settings.routing.index is not None:
                background.start_soon(
                    partial(
                        watch_index,
                        semantic,
                        Path(settings.routing.index),
                        {route.name for route in settings.routes},
                        interval_s=settings.routing.watch_interval_s,
                    )
                )
            clients: dict[str, UpstreamClient] = {}
            for provider in settings.providers:
                client = UpstreamClient(provider, HttpAdapter(provider), settings.gateway, tracing)
                stack.push_async_callback(client.aclose)
                clients[provider.name] = client
            catalog = Catalog(settings)
            gateway = settings.gateway
            breakers = open_breakers(state, gateway.breaker) if gateway.breaker.enabled else None
            stats = TargetStats()
            client_limits, provider_limits = open_limits(state, settings)
            sender = Gateway(
                clients, metrics, gateway, breakers, stats, limits=provider_limits, tracing=tracing
            )
            admission = Admission(
                limits=client_limits,
                bandit=open_bandit(state, settings),
                sessions=open_sessions(state, settings.sessions, metrics),
                budgets=open_budgets(state, settings),
            )
            router = build_router(settings, catalog, metrics, semantic, stats)
            app.state.components = Components(
                settings=settings,
                catalog=catalog,
                flow=Flow(
                    router, admission, Cascade(settings, catalog, sender, metrics), metrics, tracing
                ),
                metrics=metrics,
                state=state,
                clients=Clients(settings),
                admission=admission,
                semantic=semantic,
                responses=open_responses(state, settings.responses),
                tracing=tracing,
            )
            report_unavailable(settings)
            yield
            background.cancel_scope.cancel()

    return Litestar(
        route_handlers=ROUTE_HANDLERS,
        lifespan=[lifespan],
        dependencies={"components": Provide(components, sync_to_thread=False)},
        exception_handlers=exception_handlers(),
        before_send=[add_request_id],
        request_max_body_size=settings.server.max_body_bytes,
        openapi_config=None,
        logging_config=None,  # logging belongs to the process (the CLI), not to the app
        debug=False,
    )
