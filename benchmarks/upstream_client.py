"""Upstream HTTP client cost: httpx against aiohttp, same requests, same upstream, same run.

The gateway's client runs once per request (more on failover), so its CPU cost is proxy
overhead. Both clients send the same keep-alive POST to a local simulated upstream and read the
whole body; the figure is this process's CPU time and wall time per request, median of rounds.

    .venv/bin/python -m benchmarks.upstream_client [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import TYPE_CHECKING

import aiohttp
import httpx
import uvloop

from benchmarks.common import emit, free_port, machine, serve

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

BODY = b'{"model":"auto","messages":[{"role":"user","content":"how do I reverse a list?"}]}'
HEADERS = {"content-type": "application/json"}


async def _time(send: Callable[[], Awaitable[None]], requests: int) -> tuple[float, float]:
    for _ in range(200):
        await send()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        await send()
    return (
        (time.perf_counter() - wall) / requests * 1e6,
        (time.process_time() - cpu) / requests * 1e6,
    )


async def measure(url: str, requests: int, rounds: int) -> list[dict[str, object]]:
    results: dict[str, list[tuple[float, float]]] = {"httpx": [], "aiohttp": []}
    async with httpx.AsyncClient() as hx, aiohttp.ClientSession() as aio:

        async def via_httpx() -> None:
            response = await hx.post(url, content=BODY, headers=HEADERS)
            response.raise_for_status()

        async def via_aiohttp() -> None:
            async with aio.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()
                response.raise_for_status()

        for _ in range(rounds):
            results["httpx"].append(await _time(via_httpx, requests))
            results["aiohttp"].append(await _time(via_aiohttp, requests))
    rows: list[dict[str, object]] = []
    for client, samples in results.items():
        rows.append(
            {
                "bench": "upstream_client",
                "client": client,
                "requests": requests * rounds,
                "wall_us_median": round(statistics.median(s[0] for s in samples), 1),
                "cpu_us_median": round(statistics.median(s[1] for s in samples), 1),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    with serve(
        ["-m", "benchmarks.fake_upstream", "--port", str(port)], f"http://127.0.0.1:{port}/"
    ):
        rows = uvloop.run(measure(url, args.requests, args.rounds))
    meta = machine()
    for row in rows:
        row.update(meta)
    emit("upstream_client", rows)
    print(f"{'client':<10}{'wall us/req':>14}{'cpu us/req':>14}")
    for row in rows:
        print(f"{row['client']:<10}{row['wall_us_median']:>14}{row['cpu_us_median']:>14}")
    ratio = float(str(rows[0]["cpu_us_median"])) / float(str(rows[1]["cpu_us_median"]))
    print(f"httpx / aiohttp CPU per request: {ratio:.2f}x   {meta}")


if __name__ == "__main__":
    main()
