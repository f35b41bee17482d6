from __future__ import annotations

import msgspec
import pytest

from tests.unit.test_routing import CALLER, inp
from turnout.catalog import Catalog
from turnout.config import PolicySettings, Settings, parse_settings
from turnout.policy.scoring import TargetStats, estimated_cost, order
from turnout.policy.selector import Selector
from turnout.routing.analyze import analyze
from turnout.routing.decision import Decision, Tier
from turnout.wire.chat import decode_chat

CONFIG = b"""
providers:
  - name: p
    base_url: http://127.0.0.1:9/v1
    models:
      - {id: premium, input_per_mtok: 10, output_per_mtok: 30, context_window: 100000}
      - {id: mid, input_per_mtok: 1, output_per_mtok: 3, context_window: 100000}
      - {id: cheap, input_per_mtok: 0.1, output_per_mtok: 0.3, context_window: 100000}
routes:
  - {name: r, targets: [p/premium, p/mid, p/cheap]}
default_route: r
"""


@pytest.fixture
def catalog() -> Catalog:
    settings: Settings = parse_settings(CONFIG, {})
    return Catalog(settings)


def ids(targets: tuple[object, ...]) -> list[str]:
    return [str(getattr(target, "id", "")) for target in targets]


def test_preference_alone_keeps_the_configured_order(catalog: Catalog) -> None:
    targets = catalog.routes["r"]
    stats = TargetStats()
    stats.observe("p/premium", ok=False, latency_ms=None)
    assert order(targets, inp("hi"), PolicySettings(), stats) == targets


def test_cost_weight_prefers_the_cheaper_model_for_this_request(catalog: Catalog) -> None:
    targets = catalog.routes["r"]
    request = inp("word " * 400)
    assert estimated_cost(targets[0], request) == pytest.approx(
        (request.token_estimate * 10 + 500 * 30) / 1e6
    )
    # penalties: preference 0, 0.5, 1 plus cost weight x price share 1, 0.1, 0.01
    cheapest = PolicySettings(preference=0.0, cost=1.0)
    assert ids(order(targets, request, cheapest, TargetStats())) == [
        "p/cheap",
        "p/mid",
        "p/premium",
    ]
    balanced = PolicySettings(preference=1.0, cost=3.0)
    assert ids(order(targets, request, balanced, TargetStats())) == [
        "p/mid",
        "p/cheap",
        "p/premium",
    ]
    mild = PolicySettings(preference=1.0, cost=0.4)
    assert ids(order(targets, request, mild, TargetStats())) == ["p/premium", "p/mid", "p/cheap"]


def test_latency_over_the_sla_and_errors_push_a_target_down(catalog: Catalog) -> None:
    targets = catalog.routes["r"]
    stats = TargetStats()
    for _ in range(10):
        stats.observe("p/premium", ok=True, latency_ms=4000.0)
        stats.observe("p/mid", ok=True, latency_ms=200.0)
    assert stats.latency_ms("p/premium") == pytest.approx(4000.0)
    slow = PolicySettings(preference=1.0, latency=2.0, latency_sla_ms=2000)
    assert ids(order(targets, inp("hi"), slow, stats)) == ["p/mid", "p/cheap", "p/premium"]
    for _ in range(10):
        stats.observe("p/mid", ok=False, latency_ms=None)
    assert stats.error_rate("p/mid") > 0.85
    careful = PolicySettings(preference=1.0, errors=2.0)
    assert ids(order(targets, inp("hi"), careful, stats)) == ["p/premium", "p/cheap", "p/mid"]


def test_a_latency_weight_needs_an_sla() -> None:
    bad = CONFIG.replace(
        b"targets: [p/premium, p/mid, p/cheap]}", b"targets: [p/mid], policy: {latency: 1}}"
    )
    with pytest.raises(Exception, match="latency_sla_ms: a latency weight needs an SLA"):
        parse_settings(bad, {})


def test_a_route_can_put_a_language_s_targets_first() -> None:
    settings = parse_settings(
        CONFIG.replace(
            b"targets: [p/premium, p/mid, p/cheap]}",
            b"targets: [p/premium, p/mid, p/cheap], languages: {fr: [p/cheap]}}",
        ),
        {},
    )
    catalog = Catalog(settings)
    selector = Selector(catalog, settings, TargetStats())
    decision = Decision(route="r", tier=Tier.DEFAULT, confidence=0.0, reason="")
    body = msgspec.json.encode({"model": "auto", "messages": [{"role": "user", "content": "x"}]})
    chat = decode_chat(body)[1]
    for language, first in (("fr", "p/cheap"), ("de", "p/premium")):

        def detect(_: str, found: str = language) -> str:
            return found

        request = analyze(chat, CALLER, detect)
        assert selector.candidates(decision, request, CALLER).targets[0].id == first
    undetected = analyze(chat, CALLER)  # no language rules or routes: no detection
    assert undetected.language is None
    assert selector.candidates(decision, undetected, CALLER).targets[0].id == "p/premium"
