"""What every benchmark records beside its figures: machine, commit, Python, and process helpers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import httpx
import msgspec

from turnout.app import build_router
from turnout.catalog import Catalog
from turnout.config import load_settings, process_environ
from turnout.home import data_home
from turnout.metrics import Metrics
from turnout.routing.index import read_manifest
from turnout.routing.semantic import open_semantic

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from turnout.config import Settings
    from turnout.flow.router import Router
    from turnout.routing.decision import Decision

T = TypeVar("T")
HOME: Final = data_home(process_environ())
"""The data directory whose builds the benchmarks use (`turnout setup` fills it)."""

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def machine(*, index: Path | None = None) -> dict[str, Any]:
    """The facts a reader needs to weigh a figure; ``index``: the index build it routed by."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, fixed arguments
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "commit": commit or "uncommitted",
        "encoder": _encoder_id(),
        "encoder_threads": load_settings(None, {}).routing.encoder_threads,
    } | ({"build_id": read_manifest(index).get("build_id", "not built")} if index else {})


def default_index() -> Path:
    """The index build the default config routes by."""
    return Path(str(load_settings(None, {}).routing.index))


def _encoder_id() -> str:
    """The default encoder's name and the start of its graph's sha256, as built here."""
    try:
        manifest = json.loads((HOME.encoder() / "manifest.json").read_text())
    except OSError:
        return "not built"
    return f"{manifest['name']} {manifest['files']['model.onnx'][:12]}"


def route_set_config(routing: str, routes: Iterable[str], default_route: str) -> str:
    """A config that routes by ``routing`` (a YAML mapping's inside, such as ``index: DIR``) to
    ``routes`` and ``default_route``, each served by one model no request reaches: for
    benchmarks that decide and never call."""
    names = list(dict.fromkeys([*routes, default_route]))
    lines = [
        f"routing: {{{routing}}}",
        "providers:",
        "  - name: p",
        "    base_url: http://127.0.0.1:9/v1",
        "    models: [{id: m, input_per_mtok: 1, output_per_mtok: 1, context_window: 8000}]",
        "routes:",
        *[f'  - {{name: "{route}", targets: [p/m]}}' for route in names],
        f"default_route: {default_route}",
    ]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def serve(
    argv: Sequence[str],
    url: str,
    env: Mapping[str, str] | None = None,
    *,
    executable: str = sys.executable,
    startup_s: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until the block ends; waits for ``url`` to answer; yields it.

    ``executable``: this interpreter (``argv`` then starts with ``-m``), or a peer's program.
    """
    process = subprocess.Popen(  # noqa: S603 - our own modules or a peer we installed
        [executable, *argv],
        cwd=ROOT,
        env=dict(env) if env is not None else None,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{argv} did not start") from None
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def serve_router(config: Path, port: int, *, workers: int = 1) -> Iterator[subprocess.Popen[bytes]]:
    """``turnout serve`` of ``config`` on ``port`` (``workers`` processes); yields its process
    once it answers.

    Its environment holds only where the data directory is: no provider keys.
    """
    environ = process_environ()
    home = {
        key: environ[key] for key in ("HOME", "TURNOUT_HOME", "XDG_DATA_HOME") if key in environ
    }
    argv = ["-m", "turnout", "serve", "--config", str(config), "--port", str(port)]
    with serve(
        [*argv, "--workers", str(workers)],
        f"http://127.0.0.1:{port}/healthz",
        env=home,
        startup_s=120,
    ) as process:
        yield process


@contextlib.contextmanager
def router_over_fake_upstream(config: str) -> Iterator[tuple[int, int]]:
    """`benchmarks.fake_upstream` and ``turnout serve`` in front of it, each in its process.

    ``config`` is formatted with the upstream's ``port``; yields (upstream port, router port).
    """
    router = free_port()
    with tempfile.TemporaryDirectory() as folder, fake_upstream() as upstream:
        path = Path(folder) / "bench.yaml"
        path.write_text(config.format(port=upstream))
        with serve_router(path, router):
            yield upstream, router


@contextlib.contextmanager
def fake_upstream() -> Iterator[int]:
    """`benchmarks.fake_upstream` in its process (an OTLP collector too); yields its port."""
    port = free_port()
    with serve(
        ["-m", "benchmarks.fake_upstream", "--port", str(port)], f"http://127.0.0.1:{port}/"
    ):
        yield port


def emit(name: str, rows: list[dict[str, Any]]) -> Path:
    """Append rows as JSON lines under ``benchmarks/results/`` and return the file."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.jsonl"
    with path.open("a") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    return path


def percentiles_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """p50 and p99 of durations given in seconds, in milliseconds (NaN without samples)."""
    ordered = sorted(samples_s)
    if not ordered:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 4)

    return {"p50_ms": at(0.5), "p99_ms": at(0.99)}


def time_each(call: Callable[[T], object], inputs: Iterable[T]) -> dict[str, float]:
    """Call ``call`` on each input in turn; p50 and p99 of the calls, in milliseconds."""
    samples = []
    for item in inputs:
        started = time.perf_counter()
        call(item)
        samples.append(time.perf_counter() - started)
    return percentiles_ms(samples)


async def open_router(settings: Settings) -> Router:
    """``settings``' router with its semantic tier, built as the app's lifespan builds it."""
    metrics = Metrics()
    return build_router(
        settings, Catalog(settings), metrics, await open_semantic(settings, metrics)
    )


def chat_body(text: str) -> bytes:
    """A chat completion request for ``model: auto`` with one user turn, as JSON bytes."""
    return msgspec.json.encode({"model": "auto", "messages": [{"role": "user", "content": text}]})


async def decide_all(
    router: Router, bodies: Sequence[bytes], concurrency: int
) -> tuple[list[float], list[Decision], float]:
    """Route every body from ``concurrency`` callers that share one queue of them.

    Returns each body's decision and its seconds, in the bodies' order, and the seconds all
    of them took.
    """
    cursor = iter(enumerate(bodies))
    samples = [0.0] * len(bodies)
    decisions: list[Decision | None] = [None] * len(bodies)

    async def caller() -> None:
        for i, body in cursor:
            started = time.perf_counter()
            routed = await router.route(body)
            samples[i] = time.perf_counter() - started
            decisions[i] = routed.decision

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return samples, [d for d in decisions if d is not None], wall
