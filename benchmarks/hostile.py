"""Hostile input: `turnout serve` under every kind of abuse at once, still answering `/healthz`.

Processes on loopback: a healthy simulated upstream, a faulty one (it takes turns answering a
64 MB body, a gzip bomb inflating to 64 MB, an endless stream, a 401 and a 503), ``turnout
serve`` with the default index and encoder whose routes all try the faulty upstream first,
and this process. For ``--seconds`` it runs, all at once:

- well-formed requests (JSON and streams, three APIs) at ``--rate`` a second, which must be 200;
- bodies nested 100,000 deep, 7 MB prompts, headers of 200 KB, bodies that never finish;
- slow clients that send a header byte a second, and idle connections that send nothing;
- streams left after their first chunk;

while ``GET /healthz`` is timed every 100 ms and the router's RSS sampled every second.

    .venv/bin/python -m benchmarks.hostile [--seconds 60] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import aiohttp
import msgspec

from benchmarks.common import emit, free_port, machine, percentiles_ms, serve, serve_router
from benchmarks.soak import ROUTES, process_sample, request_body

CONFIG: Final = """
routing: {{index: default}}
server: {{header_timeout_s: 2, body_timeout_s: 2}}
gateway: {{total_timeout_s: 3, retry: {{passes: 1}}}}
providers:
  - name: faulty
    base_url: http://127.0.0.1:{faulty}/v1
    apis: [chat_completions, responses, messages]
    models: [{{id: sim, input_per_mtok: 1, output_per_mtok: 1, context_window: 10000000}}]
  - name: healthy
    base_url: http://127.0.0.1:{healthy}/v1
    apis: [chat_completions, responses, messages]
    models: [{{id: sim, input_per_mtok: 1, output_per_mtok: 1, context_window: 10000000}}]
routes:
{routes}
default_route: general
"""
FAULTS: Final = "huge,gzip,endless,401,503"
NESTED: Final = b'{"model": "auto", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
HUGE: Final = msgspec.json.encode(
    {"messages": [{"role": "user", "content": "find the bug: " + "0123456789 abcdef\n" * 400_000}]}
)


async def _raw(port: int, data: bytes, *, pace_s: float = 0.0, hold_s: float = 0.0) -> None:
    """Send ``data`` on a fresh connection (a byte every ``pace_s``), then wait ``hold_s``."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    try:
        if pace_s:
            for byte in data:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(pace_s)
        else:
            writer.write(data)
            await writer.drain()
        await asyncio.sleep(hold_s)
    except (OSError, ConnectionError):
        pass
    finally:
        writer.close()


async def _abuse(port: int, session: aiohttp.ClientSession, until: float) -> dict[str, int]:
    """The hostile clients, in turns, until ``until``; how many of each were sent."""
    url, sent = f"http://127.0.0.1:{port}", {"nested": 0, "huge_prompt": 0, "huge_headers": 0}
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    slow = [asyncio.create_task(_raw(port, head, pace_s=1.0)) for _ in range(20)]
    idle = [asyncio.create_task(_raw(port, b"", hold_s=30)) for _ in range(50)]
    unfinished = head + b"content-length: 1000\r\n\r\n{"
    held: list[asyncio.Task[None]] = []
    while time.monotonic() < until:
        for body in (NESTED, HUGE):
            try:
                async with session.post(url + "/v1/chat/completions", data=body) as answer:
                    await answer.read()
            except aiohttp.ClientError:
                pass
        sent["nested"] += 1
        sent["huge_prompt"] += 1
        await _raw(
            port, b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 200_000 + b"\r\n\r\n"
        )
        sent["huge_headers"] += 1
        held.append(asyncio.create_task(_raw(port, unfinished, hold_s=3)))
        await asyncio.sleep(0.5)
    for task in slow + idle:
        task.cancel()
    await asyncio.gather(*slow, *idle, *held, return_exceptions=True)
    return sent


async def _traffic(
    url: str, session: aiohttp.ClientSession, rate: float, until: float
) -> dict[str, int]:
    """Well-formed requests at ``rate``; their outcomes."""
    outcomes = {"ok": 0, "failed": 0, "left": 0}
    why: dict[str, int] = {}

    async def one(i: int) -> None:
        path, body, leaves = request_body(
            i + 7
        )  # past the soak's long prompts: those are abuse here
        try:
            async with session.post(url + path, json=body) as answer:
                if leaves:
                    await answer.content.readany()
                    outcomes["left"] += 1
                    return
                await answer.read()
                outcomes["ok" if answer.status == 200 else "failed"] += 1
                if answer.status != 200:
                    key = f"{path} {answer.status}"
                    why[key] = why.get(key, 0) + 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcomes["failed"] += 1
            why[type(exc).__name__] = why.get(type(exc).__name__, 0) + 1

    tasks, i, start = [], 0, time.monotonic()
    while time.monotonic() < until:
        tasks.append(asyncio.create_task(one(i)))
        i += 1
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
    await asyncio.gather(*tasks)
    return {**outcomes, **{f"failed {reason}": count for reason, count in why.items()}}


async def _watch(url: str, pid: int, until: float) -> tuple[list[float], list[float]]:
    """/healthz latencies every 100 ms, and RSS every second, until ``until``."""
    health, rss = [], []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        next_rss = 0.0
        while (now := time.monotonic()) < until:
            started = time.perf_counter()
            async with session.get(url + "/healthz") as answer:
                await answer.read()
            health.append(time.perf_counter() - started)
            if now >= next_rss:
                rss.append(process_sample(pid)["rss_mb"])
                next_rss = now + 1.0
            await asyncio.sleep(0.1)
    return health, rss


async def run(port: int, pid: int, seconds: float, rate: float) -> dict[str, Any]:
    """Everything at once for ``seconds``; the row."""
    url, until = f"http://127.0.0.1:{port}", time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as abusers,
        aiohttp.ClientSession(timeout=timeout) as clients,
    ):
        (health, rss), sent, outcomes = await asyncio.gather(
            _watch(url, pid, until),
            _abuse(port, abusers, until),
            _traffic(url, clients, rate, until),
        )
    latency = percentiles_ms(health)
    return {
        "bench": "hostile",
        "seconds": seconds,
        "healthz_checks": len(health),
        "healthz_p50_ms": round(latency["p50_ms"], 2),
        "healthz_p99_ms": round(latency["p99_ms"], 2),
        "healthz_max_ms": round(max(health) * 1000, 2),
        "rss_max_mb": max(rss),
        "rss_last_mb": rss[-1],
        **{f"sent_{kind}": count for kind, count in sent.items()},
        **{f"requests_{kind}": count for kind, count in outcomes.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=20.0, help="well-formed requests a second")
    args = parser.parse_args()
    faulty, healthy, router = free_port(), free_port(), free_port()
    routes = "\n".join(
        f"  - {{name: {name}, targets: [faulty/sim, healthy/sim]}}" for name in ROUTES
    )
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "hostile.yaml"
        config.write_text(CONFIG.format(faulty=faulty, healthy=healthy, routes=routes))
        upstream = ["-m", "benchmarks.fake_upstream", "--port"]
        with (
            serve([*upstream, str(faulty), "--faults", FAULTS], f"http://127.0.0.1:{faulty}/"),
            serve([*upstream, str(healthy)], f"http://127.0.0.1:{healthy}/"),
            serve_router(config, router) as process,
        ):
            row = asyncio.run(run(router, process.pid, args.seconds, args.rate))
    row.update(machine())
    path = emit("hostile", [row])
    print(row)
    print(f"row appended to {path}")


if __name__ == "__main__":
    main()
