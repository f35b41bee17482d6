"""OpenTelemetry traces over real HTTP: the SDK's in-memory exporter receives the spans."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.conftest import ENVIRON
from tests.fakes.server import serve_in_thread
from tests.integration.test_semantic import index_dir, semantic_settings
from turnout.app import create_app
from turnout.config import TracingSettings, parse_settings
from turnout.errors import ConfigError
from turnout.routing.index import read_manifest

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from opentelemetry.sdk.trace import ReadableSpan

    from turnout.config import Settings
    from turnout.demo.upstream import SimulatedUpstream

__all__ = ["index_dir", "semantic_settings"]  # fixtures: the semantic tests' index

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"


@pytest.fixture(scope="module")
def traced(config_text: str) -> Iterator[tuple[str, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    text = config_text.replace("providers:", "tracing: {enabled: true}\nproviders:", 1)
    settings = parse_settings(text.encode(), ENVIRON)
    with serve_in_thread(create_app(settings, span_exporter=exporter)) as url:
        yield url, exporter


@pytest.fixture
def spans(traced: tuple[str, InMemorySpanExporter]) -> InMemorySpanExporter:
    traced[1].clear()
    return traced[1]


def post(url: str, body: Mapping[str, object], **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=10)


def finished(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ...]:
    """The spans of the request once its SERVER span ended (after the client had its answer)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = exporter.get_finished_spans()
        if any(span.kind == SpanKind.SERVER for span in found):
            return found
        time.sleep(0.01)
    raise AssertionError("the request's span never ended")


def by_name(found: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in found}


def parent_of(span: ReadableSpan) -> int:
    assert span.parent is not None
    return span.parent.span_id


def times(span: ReadableSpan) -> tuple[int, int]:
    assert span.start_time is not None
    assert span.end_time is not None
    return span.start_time, span.end_time


def test_a_request_continues_the_clients_trace_and_passes_it_upstream(
    traced: tuple[str, InMemorySpanExporter], spans: InMemorySpanExporter, alpha: SimulatedUpstream
) -> None:
    url = traced[0]
    body = {"model": "auto", "messages": [{"role": "user", "content": "```py\nprint(1)\n```"}]}
    assert post(url, body, traceparent=TRACEPARENT).status_code == 200
    named = by_name(finished(spans))
    server, attempt = named["chat auto"], named["chat a-large"]
    assert server.kind == SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert format(parent_of(server), "016x") == CLIENT_SPAN
    attributes: dict[str, Any] = dict(server.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "auto"
    assert attributes["gen_ai.response.model"] == "a-large"
    assert attributes["gen_ai.provider.name"] == "alpha"
    assert attributes["turnout.route"] == "code"
    assert attributes["turnout.tier"] == "rule"
    assert attributes["turnout.confidence"] == 1.0
    assert attributes["http.response.status_code"] == 200
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert attributes["gen_ai.usage.output_tokens"] > 0
    # the decision's tier is a child of the request, inside its time
    tier = named["turnout.tier rule"]
    assert parent_of(tier) == server.context.span_id
    assert times(server)[0] <= times(tier)[0] <= times(tier)[1] <= times(server)[1]
    # the attempt is a CLIENT child, and its context went upstream as traceparent
    assert attempt.kind == SpanKind.CLIENT
    assert parent_of(attempt) == server.context.span_id
    assert dict(attempt.attributes or {})["gen_ai.provider.name"] == "alpha"
    sent = alpha.received[-1].headers["traceparent"]
    assert sent == f"00-{TRACE_ID}-{attempt.context.span_id:016x}-01"


def test_a_semantic_decision_has_a_span_per_tier_with_its_phases(
    semantic_settings: Settings, index_dir: Path
) -> None:
    exporter = InMemorySpanExporter()
    settings = msgspec.structs.replace(semantic_settings, tracing=TracingSettings(enabled=True))
    body = {"model": "auto", "messages": [{"role": "user", "content": "solve 3x + 5 = 20"}]}
    with serve_in_thread(create_app(settings, span_exporter=exporter)) as url:
        assert post(url, body).status_code == 200
    named = by_name(finished(exporter))
    server, rule, semantic = (
        named["chat auto"],
        named["turnout.tier rule"],
        named["turnout.tier semantic"],
    )
    attributes: dict[str, Any] = dict(server.attributes or {})
    assert attributes["turnout.tier"] == "semantic"
    assert attributes["turnout.route"] == "math"
    assert attributes["turnout.build_id"] == read_manifest(index_dir)["build_id"]
    assert parent_of(rule) == parent_of(semantic) == server.context.span_id
    assert times(rule)[1] <= times(semantic)[0]  # the rules ran first
    phases: dict[str, Any] = dict(semantic.attributes or {})
    assert phases["turnout.semantic.encoder_ms"] > 0


def test_failed_attempts_and_streams_have_their_spans(
    traced: tuple[str, InMemorySpanExporter], spans: InMemorySpanExporter, beta: SimulatedUpstream
) -> None:
    url = traced[0]
    body = {"model": "fallback", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=10) as response:
        assert response.status_code == 200
        assert b"[DONE]" in response.read()
    found = finished(spans)
    named = by_name(found)
    dead, served = named["chat d-model"], named["chat b-large"]
    assert dict(dead.attributes or {})["error.type"]
    assert dead.status.status_code == StatusCode.ERROR
    assert served.status.status_code != StatusCode.ERROR
    stream, server = named["turnout.stream"], named["chat fallback"]
    assert parent_of(stream) == server.context.span_id
    assert {span.context.trace_id for span in found} == {server.context.trace_id}  # a new trace
    assert dict(server.attributes or {})["turnout.tier"] == "explicit"


def test_a_refused_request_is_an_error_span_with_its_type(
    traced: tuple[str, InMemorySpanExporter], spans: InMemorySpanExporter
) -> None:
    response = post(
        traced[0], {"model": "gpt-none", "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 404
    (server,) = finished(spans)
    assert server.status.status_code == StatusCode.ERROR
    assert dict(server.attributes or {})["error.type"] == "model_not_found"
    assert dict(server.attributes or {})["http.response.status_code"] == 404


def test_tracing_off_never_loads_the_tracing_sdk_or_exporter(config_text: str) -> None:
    # redis-py imports parts of the SDK (its metrics) by itself when installed; the tracer
    # provider, the span processors and the OTLP exporter are turnout's to load.
    script = (
        "import sys, anyio, httpx\n"
        "from tests.fakes.server import serve_in_thread\n"
        "from turnout.app import create_app\n"
        "from turnout.config import parse_settings\n"
        f"settings = parse_settings({config_text.encode()!r}, {{}})\n"
        "with serve_in_thread(create_app(settings)) as url:\n"
        "    body = {'model': 'chat', 'messages': [{'role': 'user', 'content': 'hi'}]}\n"
        "    assert httpx.post(url + '/v1/chat/completions', json=body).status_code == 200\n"
        "loaded = ('opentelemetry.sdk.trace', 'opentelemetry.exporter')\n"
        "print(sorted(m for m in sys.modules if m.startswith(loaded)))\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_bad_tracing_settings_and_a_missing_sdk_are_config_errors(tmp_path: Path) -> None:
    config = (
        "providers: [{name: p, base_url: 'http://127.0.0.1:9/v1', models: "
        "[{id: m, input_per_mtok: 1, output_per_mtok: 1, context_window: 9}]}]\n"
        "routes: [{name: general, targets: [p/m]}]\ndefault_route: general\n"
    )
    with pytest.raises(ConfigError, match=r"tracing\.sample_ratio"):
        parse_settings(f"tracing: {{enabled: true, sample_ratio: 2}}\n{config}".encode(), {})
    # An `opentelemetry` package without the SDK, first on the path: as if the extra were missing.
    (tmp_path / "opentelemetry").mkdir()
    (tmp_path / "opentelemetry" / "__init__.py").write_text("")
    traced = f"tracing: {{enabled: true}}\n{config}".encode()
    script = (
        "from turnout.config import parse_settings\n"
        "from turnout.errors import ConfigError\n"
        "try:\n"
        f"    parse_settings({traced!r}, {{}})\n"
        "except ConfigError as exc:\n"
        "    print(exc.message)\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert (
        "tracing.enabled: needs the OpenTelemetry SDK: pip install 'turnout[otel]'" in done.stdout
    )
