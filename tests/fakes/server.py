"""Serve ASGI apps (the router's replicas, fake upstreams) with uvicorn in background threads."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn

from turnout.app import create_app
from turnout.config import parse_settings
from turnout.demo.upstream import SimulatedUpstream

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from contextlib import ExitStack


def free_socket() -> socket.socket:
    """A listening socket on 127.0.0.1 with a port the OS picked."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def closed_port() -> int:
    """A port nothing listens on: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def serve_in_thread(app: Any, *, startup_timeout_s: float = 10.0) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``http://127.0.0.1:PORT``)."""
    sock = free_socket()
    config = uvicorn.Config(app, log_level="warning", lifespan="on", http="httptools")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_config(
    config: str, replicas: int, stack: ExitStack, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Serve ``replicas`` apps built from ``config`` (YAML) until ``stack`` closes; their URLs."""
    settings = parse_settings(config.encode(), environ or {})
    return [stack.enter_context(serve_in_thread(create_app(settings))) for _ in range(replicas)]


def serve_clients(
    config: str, replicas: int, stack: ExitStack, environ: Mapping[str, str] | None = None
) -> list[httpx.Client]:
    """As `serve_config`, with an HTTP client for each replica."""
    return [
        stack.enter_context(httpx.Client(base_url=url, timeout=10))
        for url in serve_config(config, replicas, stack, environ)
    ]


@contextlib.contextmanager
def router_over_upstreams(
    config: str, names: tuple[str, ...], **fields: object
) -> Iterator[tuple[list[SimulatedUpstream], httpx.Client]]:
    """Simulated upstreams called ``names`` and a client of a router over them.

    ``config`` is formatted with each upstream's URL under its name, and with ``fields``.
    """
    upstreams = [SimulatedUpstream(name) for name in names]
    with contextlib.ExitStack() as stack:
        urls = {
            name: stack.enter_context(serve_in_thread(up))
            for name, up in zip(names, upstreams, strict=True)
        }
        (client,) = serve_clients(config.format(**urls, **fields), 1, stack)
        yield upstreams, client
