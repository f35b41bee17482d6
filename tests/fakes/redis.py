"""A real redis-server on a free port, for tests that need Redis semantics."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from typing import TYPE_CHECKING

import pytest
import redis

from tests.fakes.server import closed_port

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextlib.contextmanager
def redis_server(*, required: bool, port: int | None = None) -> Iterator[str]:
    """Start ``redis-server`` (no persistence) on ``port`` or a free one and yield its URL.

    A missing binary skips the test, or fails it when ``required`` (under CI).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        if required:
            pytest.fail("redis-server is missing: install Debian's redis-server package")
        pytest.skip("redis-server is missing: apt-get install redis-server")
    port = port or closed_port()
    process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.01)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
