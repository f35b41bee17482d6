"""``turnout demo``: the router in front of three simulated upstreams, all in one process.

Each simulated upstream has its own latency and failure profile (seeded), so a new user sees
routing and failover without API keys. Everything it answers is labelled as simulated.
"""

from __future__ import annotations

import socket
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

import anyio
import uvicorn

from turnout.app import create_app
from turnout.config import parse_settings
from turnout.demo.upstream import SimulatedUpstream

if TYPE_CHECKING:
    from collections.abc import Sequence


def _profiles() -> tuple[SimulatedUpstream, ...]:
    return (
        SimulatedUpstream("sim-cheap", latency_s=0.05, chunk_delay_s=0.02, seed=1),
        SimulatedUpstream("sim-flaky", latency_s=0.1, failure_rate=0.5, chunk_delay_s=0.03, seed=2),
        SimulatedUpstream(
            "sim-premium", latency_s=0.4, failure_rate=0.02, chunk_delay_s=0.05, seed=3
        ),
    )


BANNER: Final = """
turnout demo: the router listens on http://{host}:{port}/v1
Its upstreams are SIMULATED on local ports (no real model is called, no API key is needed):
{upstreams}
Try:
  curl -s http://{host}:{port}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{{"model": "auto", "messages": [{{"role": "user", "content": "a python function?"}}]}}' -i
  curl -s http://{host}:{port}/v1/route -H 'content-type: application/json' \\
    -d '{{"model": "auto", "messages": [{{"role": "user", "content": "hello"}}]}}'
Watch the x-turnout-* headers: code goes to sim-flaky, which fails half the time; turnout then
fails over to sim-premium (x-turnout-attempts: 2). Ctrl-C stops everything.
"""


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def _server(app: Any) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", http="httptools"))


async def _serve(servers: Sequence[tuple[uvicorn.Server, socket.socket]]) -> None:
    async with anyio.create_task_group() as group:
        for server, sock in servers:
            group.start_soon(server.serve, [sock])


def run_demo(*, host: str, port: int) -> None:
    """Serve the demo until interrupted."""
    profiles = _profiles()
    upstreams = {upstream.name: _bind("127.0.0.1", 0) for upstream in profiles}
    template = resources.files("turnout").joinpath("demo/demo.yaml").read_text()
    for name, sock in upstreams.items():
        template = template.replace(f"{{{name}}}", f"http://127.0.0.1:{sock.getsockname()[1]}")
    settings = parse_settings(template.encode(), {}, source="demo.yaml")
    router = _bind(host, port)
    lines = "\n".join(
        f"  {u.name}: {sock.getsockname()[1]}, latency {u.latency_s * 1000:.0f} ms, "
        f"fails {u.failure_rate:.0%}"
        for u, sock in zip(profiles, upstreams.values(), strict=True)
    )
    print(BANNER.format(host=host, port=port, upstreams=lines), flush=True)  # noqa: T201 - CLI output
    servers = [(_server(u), upstreams[u.name]) for u in profiles]
    servers.append((_server(create_app(settings)), router))
    anyio.run(_serve, servers, backend_options={"use_uvloop": True})
