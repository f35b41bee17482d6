"""A lean HTTP/1.1 load generator over keep-alive connections, for latency benchmarks.

httpx costs a few hundred microseconds of client CPU per request, which on 2 cores would be
measured as server latency under load. This client writes a pre-encoded request and parses only
the status line, ``content-length`` or chunked framing, so the client stays out of the figures.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Final

CRLF: Final = b"\r\n"


@dataclass
class Samples:
    """Latencies in seconds, and the failures seen."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0

    def add(self, other: Samples) -> None:
        """Fold another run's samples into these."""
        self.latencies += other.latencies
        self.errors += other.errors
        self.wall_s += other.wall_s
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count

    @property
    def rate(self) -> float:
        """Completed requests per second."""
        return len(self.latencies) / self.wall_s if self.wall_s else 0.0


def post_request(host: str, port: int, path: str, body: bytes) -> bytes:
    """A keep-alive POST with a JSON body, encoded once."""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(CRLF + CRLF)
    lines = head.split(CRLF)
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            headers[name.strip().lower()] = value.strip()
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while True:
            size = int((await reader.readuntil(CRLF)).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


@dataclass(frozen=True)
class Load:
    """One pre-encoded request, where to send it, and for how long."""

    host: str
    port: int
    request: bytes
    stop_at: float
    limit: int | None


async def _worker(load: Load, samples: Samples) -> None:
    reader, writer = await asyncio.open_connection(load.host, load.port)
    request, stop_at, limit = load.request, load.stop_at, load.limit
    try:
        done = 0
        while time.perf_counter() < stop_at and (limit is None or done < limit):
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            samples.latencies.append(time.perf_counter() - started)
            samples.statuses[status] = samples.statuses.get(status, 0) + 1
            if status != 200:
                samples.errors += 1
            done += 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        samples.errors += 1
    finally:
        writer.close()


async def run_load(
    port: int,
    request: bytes,
    *,
    concurrency: int,
    duration_s: float,
    limit_per_worker: int | None = None,
) -> Samples:
    """Send ``request`` to 127.0.0.1:``port`` from ``concurrency`` connections for a time."""
    samples = Samples()
    started = time.perf_counter()
    load = Load("127.0.0.1", port, request, started + duration_s, limit_per_worker)
    await asyncio.gather(*(_worker(load, samples) for _ in range(concurrency)))
    samples.wall_s = time.perf_counter() - started
    return samples
