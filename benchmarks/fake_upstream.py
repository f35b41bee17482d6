"""A simulated OpenAI-compatible upstream with no added latency, served alone in its process."""

from __future__ import annotations

import argparse

import uvicorn

from turnout.demo.upstream import SimulatedUpstream


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        SimulatedUpstream("bench", record=False),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
