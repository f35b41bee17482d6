"""A simulated upstream with no added latency, served alone in its process.

``--faults huge,gzip,endless,401`` makes it commit those faults in turn, one a request
(`turnout.demo.faults`; a number is that status), for the hostile-input benchmark.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, cast

import uvicorn

from turnout.demo.faults import FAULTS
from turnout.demo.upstream import Behaviour, SimulatedUpstream

if TYPE_CHECKING:
    from turnout.demo.upstream import Kind

FAULT_BYTES = 64 * 1024 * 1024


def _fault(name: str) -> Behaviour:
    if name.isdigit():
        return Behaviour("status", int(name))
    if name not in FAULTS:
        raise SystemExit(f"unknown fault {name!r}: one of {sorted(FAULTS)} or a status")
    return Behaviour(cast("Kind", name), size=FAULT_BYTES, chunk_delay_s=0.01)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--faults", default="", help="comma-separated faults to commit in turn")
    args = parser.parse_args()
    faults = tuple(_fault(name) for name in args.faults.split(",") if name)
    uvicorn.run(
        SimulatedUpstream("bench", record=False, faults=faults),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
