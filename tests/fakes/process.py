"""``turnout serve`` in a subprocess: a replica as production runs it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx

from tests.fakes.server import closed_port

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from pathlib import Path


@contextlib.contextmanager
def turnout_serve(config_text: str, folder: Path, environ: Mapping[str, str]) -> Iterator[str]:
    """Write the config into ``folder``, serve it until the block ends, and yield its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "turnout.yaml"
    config.write_text(config_text)
    command = [sys.executable, "-m", "turnout", "serve", "--config", str(config)]
    with serving(command, folder, environ) as url:
        yield url


@contextlib.contextmanager
def serving(
    command: Sequence[str], folder: Path, environ: Mapping[str, str], *, start_s: float = 20
) -> Iterator[str]:
    """Run a ``turnout serve`` command (``--port`` is added) in ``folder`` until the block ends.

    Yields its URL once ``/healthz`` answers; its output goes to a log file in ``folder``.
    """
    port = closed_port()
    log = folder / f"turnout-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [*command, "--port", str(port)],
            cwd=folder,
            env=dict(environ),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        if not answers(f"{url}/healthz", process, seconds=start_s):
            raise RuntimeError(f"turnout serve did not start: {log.read_text()}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def answers(url: str, process: subprocess.Popen[bytes], *, seconds: float) -> bool:
    """Wait until ``url`` answers HTTP; False when ``process`` exits or ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(url, timeout=1)
            return True
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.02)
