"""``turnout serve --workers 2``: one port, two processes, sharing state through Redis."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import ENVIRON
from tests.fakes.process import serving

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.redis

# The client limit is global: over Redis, the workers count one client's requests together.
LIMITS = "limits: {client: {requests_per_minute: 30}}\n"


def worker_pids(url: str, requests: int = 40) -> set[int]:
    """The workers that answered ``requests`` readiness checks, each on a new connection."""
    pids = set()
    for _ in range(requests):
        with httpx.Client() as client:
            pids.add(client.get(f"{url}/readyz").json()["pid"])
    return pids


@pytest.fixture
def two_workers(config_text: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "turnout.yaml"
    config.write_text(
        config_text.replace(
            "providers:", f"state: {{backend: redis, url: '{redis_url}'}}\n{LIMITS}providers:", 1
        )
    )
    command = [sys.executable, "-m", "turnout", "serve", "--config", str(config), "--workers", "2"]
    with serving(command, tmp_path, ENVIRON) as url:
        deadline = time.monotonic() + 20
        while len(worker_pids(url, 10)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # the second worker may still be starting
        yield url


def chat(url: str, key: str) -> httpx.Response:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}
    with httpx.Client() as client:  # a new connection: either worker may take it
        return client.post(
            f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
        )


def test_two_workers_share_the_port_and_the_limits(two_workers: str) -> None:
    assert len(worker_pids(two_workers)) == 2
    started = time.monotonic()
    statuses = [chat(two_workers, "sk-one-client").status_code for _ in range(36)]
    # 30 a minute for this client across both workers, not 30 each: a burst of 30, then one
    # every 2 s (GCRA), so a slow machine may see a request or two more admitted.
    refilled = int((time.monotonic() - started) / 2.0)
    assert statuses[:30] == [200] * 30
    assert statuses.count(200) <= 30 + refilled
    assert set(statuses[30:]) <= {200, 429}
    assert chat(two_workers, "sk-another-client").status_code == 200
    # each worker still applies the server's bounds (its own bounded protocol)
    with httpx.Client() as client:
        huge = client.get(f"{two_workers}/healthz", headers={"x-big": "a" * 70_000})
    assert huge.status_code == 431


def test_a_dead_worker_is_replaced_and_serving_goes_on(two_workers: str) -> None:
    before = worker_pids(two_workers)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    answered = [chat(two_workers, f"sk-{i}").status_code for i in range(20)]
    assert answered == [200] * 20  # the other worker took every new connection
    deadline = time.monotonic() + 30
    now = worker_pids(two_workers, 10)
    while (len(now) < 2 or victim in now) and time.monotonic() < deadline:
        time.sleep(0.2)
        now = worker_pids(two_workers, 10)
    assert len(now) == 2
    assert victim not in now
