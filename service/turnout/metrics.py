"""Prometheus metrics, in a registry owned by one app instance (no process-global registry)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

if TYPE_CHECKING:
    from turnout.catalog import Target
    from turnout.errors import UpstreamError

LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
DECISION_BUCKETS: Final = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The service's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "turnout_requests",
            "Chat-completion requests by route, model, deciding tier and HTTP status.",
            ["route", "model", "tier", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "turnout_request_duration_seconds",
            "Time from request to the last byte of the response, by route, model and tier.",
            ["route", "model", "tier"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._decision = Histogram(
            "turnout_decision_duration_seconds",
            "Time to decide a request's route, by the tier that decided.",
            ["tier"],
            buckets=DECISION_BUCKETS,
            registry=self.registry,
        )
        self._cache = Counter(
            "turnout_decision_cache",
            "Decision cache lookups by outcome: hit, miss, or guarded (similar but opposite).",
            ["outcome"],
            registry=self.registry,
        )
        self._shared_cache = Counter(
            "turnout_shared_cache",
            "Shared (L2, Redis) decision cache lookups: hit, miss, guarded or bypass.",
            ["outcome"],
            registry=self.registry,
        )
        self._upstream_errors = Counter(
            "turnout_upstream_errors",
            "Failed upstream attempts by provider, model and kind of failure.",
            ["provider", "model", "kind"],
            registry=self.registry,
        )
        self._sessions = Counter(
            "turnout_sessions",
            "Requests of a conversation by outcome: new, kept on its model, or switched.",
            ["outcome"],
            registry=self.registry,
        )
        self._cascade = Counter(
            "turnout_cascade",
            "Cascade outcomes by route: kept, escalated, unscored, premium_failed, premium_only.",
            ["route", "outcome"],
            registry=self.registry,
        )
        self._speculation = Counter(
            "turnout_speculation",
            "Speculative upstream calls by outcome: agreed (kept) or disagreed (cancelled).",
            ["outcome"],
            registry=self.registry,
        )
        self._speculation_saved = Counter(
            "turnout_speculation_saved_seconds",
            "Decision time that agreed speculative calls overlapped.",
            registry=self.registry,
        )
        self._speculation_wasted = Counter(
            "turnout_speculation_wasted_tokens",
            "Estimated prompt and output tokens of cancelled speculative calls.",
            registry=self.registry,
        )
        self._breaker = Counter(
            "turnout_breaker_transitions",
            "Circuit breaker transitions seen by this replica, by target and new state.",
            ["provider", "model", "state"],
            registry=self.registry,
        )

    def request(self, *, route: str, model: str, tier: str, status: int, seconds: float) -> None:
        """Count one finished request and its latency."""
        self._requests.labels(route, model, tier, str(status)).inc()
        self._latency.labels(route, model, tier).observe(seconds)

    def decision(self, tier: str, seconds: float) -> None:
        """Record how long a decision took."""
        self._decision.labels(tier).observe(seconds)

    def cache(self, outcome: str) -> None:
        """Count a decision-cache lookup."""
        self._cache.labels(outcome).inc()

    def shared_cache(self, outcome: str) -> None:
        """Count a shared decision-cache lookup."""
        self._shared_cache.labels(outcome).inc()

    def upstream_error(self, target: Target, exc: UpstreamError) -> None:
        """Count a failed upstream attempt."""
        status = getattr(exc, "upstream_status", None)
        kind = f"status_{status}" if status else (exc.code or type(exc).__name__)
        self._upstream_errors.labels(target.provider.name, target.model.id, kind).inc()

    def session(self, outcome: str) -> None:
        """Count a conversation's request: ``new``, ``kept`` or ``switched``."""
        self._sessions.labels(outcome).inc()

    def cascade(self, route: str, outcome: str) -> None:
        """Count one request through a route's cascade."""
        self._cascade.labels(route, outcome).inc()

    def speculation(self, outcome: str, *, saved_s: float, wasted_tokens: int) -> None:
        """Count a speculative call's outcome, the time it saved and the tokens it wasted."""
        self._speculation.labels(outcome).inc()
        self._speculation_saved.inc(saved_s)
        self._speculation_wasted.inc(wasted_tokens)

    def breaker(self, target: Target, state: str) -> None:
        """Count a circuit breaker's transition to ``state``."""
        self._breaker.labels(target.provider.name, target.model.id, state).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
