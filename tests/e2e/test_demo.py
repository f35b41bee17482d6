"""``turnout demo`` serves routing and failover over simulated upstreams."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.fakes.process import answers
from tests.fakes.server import closed_port


def test_demo_routes_and_labels_simulated_answers() -> None:
    port = closed_port()
    process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "turnout", "demo", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert answers(f"{url}/healthz", process, seconds=20)
        body = {"model": "auto", "messages": [{"role": "user", "content": "fix my python code"}]}
        models = set()
        for _ in range(8):
            response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=10)
            assert response.status_code == 200
            assert response.headers["x-turnout-route"] == "code"
            assert "[simulated " in response.json()["choices"][0]["message"]["content"]
            models.add(response.headers["x-turnout-model"])
        # sim-flaky fails half its requests (seeded): some answers come from the failover target.
        assert models == {"sim-flaky/sim-coder", "sim-premium/sim-large"}
    finally:
        process.terminate()
        process.wait(timeout=10)
