"""``turnout serve``: uvicorn in one process, or a supervisor and N worker processes on one port.

With ``--workers N`` (N > 1) the parent binds the port once and uvicorn's supervisor starts N
worker processes (spawned, not forked) that accept on it; a worker that dies is replaced. Each
worker builds its own app from the same settings: its own encoder threads, upstream pools,
decision cache and, with ``state.backend: memory``, its own limits, breakers, budgets, sessions
and stored responses. Shared state needs ``state.backend: redis``.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Final

import uvicorn
from uvicorn.supervisors import Multiprocess

from turnout.app import create_app
from turnout.http.protocol import bounded_protocol

if TYPE_CHECKING:
    from turnout.config import Settings

# Never imported: each process builds the app from `settings` in `load` (a Litestar app and the
# bounded protocol class cannot be pickled to a spawned worker; the settings can).
_APP: Final = "turnout.app:create_app"

logger = logging.getLogger(__name__)


def default_workers(settings: Settings) -> int:
    """The cores this process may run on when state is shared through Redis; else 1.

    With in-process state, workers would each keep their own limits, sessions and stored
    responses, so a ``previous_response_id`` could miss: more than one must be asked for.
    """
    return len(os.sched_getaffinity(0)) if settings.state.backend == "redis" else 1


class _Config(uvicorn.Config):
    """uvicorn's config carrying turnout's settings into each worker process."""

    def __init__(self, settings: Settings, *, host: str, port: int, workers: int) -> None:
        server = settings.server
        super().__init__(
            _APP,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            timeout_keep_alive=server.idle_timeout_s,
            access_log=server.access_log,
            log_level="info",
        )
        self.settings = settings

    def load(self) -> None:
        if not self.loaded:
            self.app = create_app(self.settings)
            self.http = bounded_protocol(self.settings.server)
        super().load()


def serve(
    settings: Settings, *, host: str | None = None, port: int | None = None, workers: int = 1
) -> None:
    """Serve ``settings`` until interrupted: in this process, or in ``workers`` processes."""
    server = settings.server
    config = _Config(
        settings,
        host=host or server.host,
        port=server.port if port is None else port,
        workers=workers,
    )
    if workers == 1:
        uvicorn.Server(config).run()
        return
    if settings.state.backend == "memory":
        logger.warning(
            "%d workers with state.backend memory: limits, breakers, budgets, sessions and "
            "stored responses are each worker's own",
            workers,
        )
    Multiprocess(config, sockets=[config.bind_socket()]).run()
