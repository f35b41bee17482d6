from __future__ import annotations

import pytest

from turnout.config import GatewaySettings, RetrySettings
from turnout.errors import UpstreamTimeout, UpstreamUnavailable
from turnout.gateway.failover import Gateway
from turnout.metrics import Metrics
from turnout.policy.scoring import TargetStats

RETRY = RetrySettings(passes=5, backoff_s=0.25, max_backoff_s=1.5)


def gateway(draw: float) -> Gateway:
    settings = GatewaySettings(retry=RETRY)
    return Gateway({}, Metrics(), settings, None, TargetStats(), random=lambda: draw)


def failed(retry_after: float | None = None) -> UpstreamUnavailable:
    return UpstreamUnavailable("503", target="p/m", status=503, retry_after=retry_after)


def test_backoff_doubles_under_full_jitter_up_to_its_cap() -> None:
    top = gateway(draw=0.999999)
    waits = [top._backoff(number, [failed()]) for number in (1, 2, 3, 4)]
    assert waits == pytest.approx([0.25, 0.5, 1.0, 1.5], rel=1e-5)
    assert gateway(draw=0.0)._backoff(3, [failed()]) == 0.0
    assert gateway(draw=0.5)._backoff(2, [failed()]) == pytest.approx(0.25)


def test_retry_after_sets_the_floor_or_stops_retrying() -> None:
    low = gateway(draw=0.0)
    timeout = UpstreamTimeout("slow", target="q/m")
    assert low._backoff(1, [failed(retry_after=1.2), failed(retry_after=0.8), timeout]) == 0.8
    assert low._backoff(1, [failed(retry_after=9.0)]) is None  # over max_backoff_s
    assert low._backoff(1, []) is None  # every candidate skipped by its breaker
