"""OpenTelemetry traces: a span per request, its decision and tiers, its attempts and stream.

Off by default (``tracing.enabled``). On, every API request gets a SERVER span named after the
GenAI semantic conventions (``chat {gen_ai.request.model}``), continuing the client's W3C
``traceparent`` when it sends one, with children:

- one span per decision tier that ran (``turnout.tier rule``, ``turnout.tier semantic``, its
  phases' milliseconds as attributes). The pipeline times the tiers and stays uninstrumented:
  their spans are laid out from those timings once the decision is made, the fast tiers from
  the decision's start, the slow tier up to its end;
- one CLIENT span per upstream attempt (``chat {model}``: provider, model, address, status,
  ``error.type``), whose context goes upstream as ``traceparent``;
- ``turnout.stream``, a streamed answer's relay, from its first byte to its last.

The request span carries ``gen_ai.request.model`` (what the client asked for),
``gen_ai.response.model`` and ``gen_ai.provider.name`` (the target that answered),
``gen_ai.usage.input_tokens``/``output_tokens`` (a JSON answer's ``usage``), and turnout's
``turnout.route``, ``turnout.tier``, ``turnout.confidence`` and ``turnout.build_id``.

Spans go to an OTLP/HTTP collector (``tracing.endpoint``) in batches, off the event loop. The
SDK and exporter are the ``otel`` extra (``pip install 'turnout[otel]'``); with tracing off
they are never imported. No global tracer provider is set: the app owns its own.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, contextmanager, nullcontext
from importlib import metadata
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from turnout.errors import ServiceError, UpstreamError, UpstreamUnavailable
from turnout.policy.pricing import answer_tokens

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, MutableMapping

    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

    from turnout.catalog import Target
    from turnout.config import TracingSettings
    from turnout.flow.flow import Answered
    from turnout.flow.router import Routed

OPERATION: Final = "chat"
_PROPAGATED: Final = frozenset({b"traceparent", b"tracestate"})
_NS_PER_MS: Final = 1_000_000


class Tracing:
    """The app's tracer, or nothing when tracing is off (every method is then a no-op).

    ``settings``: None is off. ``exporter``: where spans go instead of the configured OTLP
    endpoint (tests use the SDK's in-memory exporter), exported as each span ends rather than
    in batches.
    """

    def __init__(
        self, settings: TracingSettings | None = None, exporter: SpanExporter | None = None
    ) -> None:
        self.enabled = settings is not None and settings.enabled
        if settings is None or not settings.enabled:
            return
        # Only when tracing is on; the config refuses it without the SDK (`turnout.config`).
        from opentelemetry import trace  # noqa: PLC0415
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
            BatchSpanProcessor,
            SimpleSpanProcessor,
        )
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased  # noqa: PLC0415
        from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
            TraceContextTextMapPropagator,
        )

        resource = Resource.create({"service.name": settings.service_name})
        sampler = ParentBased(TraceIdRatioBased(settings.sample_ratio))
        self._provider = TracerProvider(resource=resource, sampler=sampler)
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )

            self._provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.endpoint))
            )
        else:
            self._provider.add_span_processor(SimpleSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("turnout", metadata.version("turnout"))
        self._kind = trace.SpanKind
        self._current = trace.get_current_span
        self._set_span = trace.set_span_in_context
        self._propagator = TraceContextTextMapPropagator()

    def shutdown(self) -> None:
        """Export what is still buffered, then stop."""
        if self.enabled:
            self._provider.shutdown()

    def request(self, headers: Iterable[tuple[bytes, bytes]]) -> AbstractContextManager[None]:
        """The request's SERVER span, current until the block ends; the client's parent kept.

        A `ServiceError` leaving the block marks the span with its ``error.type`` and status.
        """
        return self._request(headers) if self.enabled else nullcontext()

    @contextmanager
    def _request(self, headers: Iterable[tuple[bytes, bytes]]) -> Iterator[None]:
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in headers
            if name in _PROPAGATED
        }
        parent = self._propagator.extract(carrier) if carrier else None
        with self._tracer.start_as_current_span(
            OPERATION,
            context=parent,
            kind=self._kind.SERVER,
            attributes={"gen_ai.operation.name": OPERATION},
        ) as span:
            try:
                yield
            except ServiceError as exc:
                span.set_attribute("error.type", exc.code or type(exc).__name__)
                span.set_attribute("http.response.status_code", exc.counted_status)
                raise

    def decided(self, routed: Routed) -> None:
        """Name the request span, record the decision on it, and add its tiers' spans.

        Call it as the decision is made: the decision ends now, and began its duration before.
        """
        if not self.enabled:
            return
        span = self._current()
        if not span.is_recording():  # not sampled: nothing to record, no tier spans
            return
        decision = routed.decision
        span.update_name(f"{OPERATION} {routed.request.chat.model}")
        attributes: dict[str, Any] = {
            "gen_ai.request.model": routed.request.chat.model,
            "turnout.api": routed.request.api,
            "turnout.tier": decision.tier.value,
            "turnout.confidence": decision.confidence,
            "turnout.reason": decision.reason,
        }
        if decision.route is not None:
            attributes["turnout.route"] = decision.route
        if decision.evidence is not None:
            attributes["turnout.build_id"] = decision.evidence.build_id
        span.set_attributes(attributes)
        ends = time.time_ns()
        self._tiers(span, decision.timings_ms, ends - int(routed.decision_ms * _NS_PER_MS), ends)

    def _tiers(self, parent: Span, timings: dict[str, float], starts: int, ends: int) -> None:
        """A span per tier of ``timings``, with its phases (``tier.phase``) as attributes."""
        context = self._set_span(parent)
        tiers = [name for name in timings if "." not in name]
        for position, name in enumerate(tiers):
            took = int(timings[name] * _NS_PER_MS)
            # the slow tier ran last, up to the decision's end; the fast ones from its start
            begin = ends - took if position == len(tiers) - 1 and position else starts
            phases = {
                f"turnout.{phase}_ms": ms
                for phase, ms in timings.items()
                if phase.startswith(f"{name}.")
            }
            tier = self._tracer.start_span(
                f"turnout.tier {name}", context, attributes=phases, start_time=begin
            )
            tier.end(end_time=begin + took)

    def attempt(self, target: Target, *, stream: bool) -> AbstractContextManager[None]:
        """A CLIENT span for one upstream attempt, current while it runs (see `inject`)."""
        return self._attempt(target, stream=stream) if self.enabled else nullcontext()

    @contextmanager
    def _attempt(self, target: Target, *, stream: bool) -> Iterator[None]:
        url = urlsplit(target.provider.base_url)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": OPERATION,
            "gen_ai.provider.name": target.provider.name,
            "gen_ai.request.model": target.model.id,
            "server.address": url.hostname or "",
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "turnout.stream": stream,
        }
        with self._tracer.start_as_current_span(
            f"{OPERATION} {target.model.id}", kind=self._kind.CLIENT, attributes=attributes
        ) as span:
            try:
                yield
            except UpstreamError as exc:
                span.set_attribute("error.type", exc.code or type(exc).__name__)
                if isinstance(exc, UpstreamUnavailable) and exc.upstream_status is not None:
                    span.set_attribute("http.response.status_code", exc.upstream_status)
                raise

    def inject(self, headers: MutableMapping[str, str]) -> None:
        """Add the current span's ``traceparent`` (and ``tracestate``) to upstream headers."""
        if self.enabled:
            self._propagator.inject(headers)

    def answered(self, answered: Answered) -> None:
        """Record the answering target, its status and (a JSON answer's) usage on the request."""
        if not self.enabled:
            return
        span = self._current()
        if not span.is_recording():
            return
        opened = answered.sent.answer
        attributes: dict[str, Any] = {
            "gen_ai.response.model": opened.target.model.id,
            "gen_ai.provider.name": opened.target.provider.name,
            "http.response.status_code": opened.response.status,
            "turnout.attempts": len(opened.attempts),
        }
        if answered.speculation is not None:
            attributes["turnout.speculation"] = answered.speculation
        tokens = None if opened.body is None else answer_tokens(opened.body)
        if tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = tokens.input
            attributes["gen_ai.usage.output_tokens"] = tokens.output
        span.set_attributes(attributes)

    def stream(self) -> AbstractContextManager[object]:
        """The ``turnout.stream`` span of a relayed stream, current until the block ends."""
        if not self.enabled:
            return nullcontext()
        return self._tracer.start_as_current_span("turnout.stream")
