"""Prometheus metrics, in a registry owned by one app instance (no process-global registry)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from turnout.catalog import Target
    from turnout.errors import UpstreamError

LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
DECISION_BUCKETS: Final = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_LEVELS: Final = {"closed": 0, "half_open": 1, "open": 2}


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
        self._screen = Counter(
            "turnout_screen",
            "Prompts a screened build's fast encoder saw: decided, or passed on to the build's.",
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
            "Speculative upstream calls by outcome, agreed (kept) or disagreed (cancelled), and by"
            " what guessed: a speculative rule or the semantic tier's screen.",
            ["outcome", "guess"],
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

        self._breaker_state = Gauge(
            "turnout_breaker_state",
            "Circuit breaker state as this replica last saw it change: 0 closed, 1 half open, "
            "2 open.",
            ["provider", "model"],
            registry=self.registry,
        )
        self._cost = Counter(
            "turnout_cost_usd",
            "Dollars charged for answers, by configured client (or 'unnamed') and target, at "
            "the model's prices for the usage the upstream reported (else the estimate).",
            ["client", "provider", "model"],
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

    def screen(self, outcome: str) -> None:
        """Count a prompt the screen decided (``decided``) or passed on (``passed``).

        ``decided_busy``: decided by the busy bar alone, while the build's encoder was busy.
        """
        self._screen.labels(outcome).inc()

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

    def speculation(self, outcome: str, by: str, *, saved_s: float, wasted_tokens: int) -> None:
        """Count a speculative call's outcome, the time it saved and the tokens it wasted.

        ``by``: what guessed, ``rule`` or ``screen``.
        """
        self._speculation.labels(outcome, by).inc()
        self._speculation_saved.inc(saved_s)
        self._speculation_wasted.inc(wasted_tokens)

    def breaker(self, target: Target, state: str) -> None:
        """Count a circuit breaker's transition to ``state``."""
        self._breaker.labels(target.provider.name, target.model.id, state).inc()
        self._breaker_state.labels(target.provider.name, target.model.id).set(
            BREAKER_LEVELS.get(state, 0)
        )

    def cost(self, client: str, target: Target, usd: float) -> None:
        """Count the dollars one answer cost."""
        self._cost.labels(client, target.provider.name, target.model.id).inc(usd)

    def snapshot(self) -> dict[str, list[dict[str, object]]]:
        """Every sample, by name (``_total``, ``_bucket`` and the rest), for JSON readers."""
        found: dict[str, list[dict[str, object]]] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                entry = {"labels": sample.labels, "value": sample.value}
                found.setdefault(sample.name, []).append(entry)
        return found

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
