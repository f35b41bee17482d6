"""A simulated upstream with no added latency, served alone in its process.

``--faults huge,gzip,endless,401`` makes it commit those faults in turn, one a request
(`turnout.demo.faults`; a number is that status), for the hostile-input benchmark. It also
takes OTLP/HTTP trace exports at ``POST /v1/traces`` (read, then answered with an empty
``ExportTraceServiceResponse``), so a traced router has a collector to send to.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, cast

import uvicorn

from turnout.demo.faults import FAULTS
from turnout.demo.upstream import Behaviour, SimulatedUpstream

if TYPE_CHECKING:
    from turnout.demo.upstream import Kind, Receive, Scope, Send

FAULT_BYTES = 64 * 1024 * 1024


def _fault(name: str) -> Behaviour:
    if name.isdigit():
        return Behaviour("status", int(name))
    if name not in FAULTS:
        raise SystemExit(f"unknown fault {name!r}: one of {sorted(FAULTS)} or a status")
    return Behaviour(cast("Kind", name), size=FAULT_BYTES, chunk_delay_s=0.01)


class _WithCollector:
    """The simulated upstream, and an OTLP/HTTP traces endpoint that drops what it gets."""

    def __init__(self, upstream: SimulatedUpstream) -> None:
        self._upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/traces":
            await self._upstream(scope, receive, send)
            return
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"application/x-protobuf"), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--faults", default="", help="comma-separated faults to commit in turn")
    args = parser.parse_args()
    faults = tuple(_fault(name) for name in args.faults.split(",") if name)
    uvicorn.run(
        _WithCollector(SimulatedUpstream("bench", record=False, faults=faults)),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
