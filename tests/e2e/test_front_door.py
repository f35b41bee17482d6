"""Hostile clients at ``turnout serve``'s front door: huge headers, slow headers, slow bodies.

The served config allows 1 s for headers and 1 s for a body (``tests/conftest.py``).
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=5)
    sock.settimeout(5)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def read_response(sock: socket.socket) -> bytes:
    """One response, its head and body (which may arrive in two segments)."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_headers_over_the_limit_are_a_431(served_url: str) -> None:
    with connect(served_url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 200_000 + b"\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"code": "request_headers_too_large"' in answer


@pytest.mark.parametrize("sent", [b"", b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"])
def test_headers_that_do_not_come_in_time_close_the_connection(
    served_url: str, sent: bytes
) -> None:
    with connect(served_url) as sock:
        started = time.monotonic()
        sock.sendall(sent)
        assert read_all(sock) == b""
        assert 0.5 < time.monotonic() - started < 4


def test_a_body_that_does_not_come_in_time_is_a_408(served_url: str) -> None:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    with connect(served_url) as sock:
        started = time.monotonic()
        sock.sendall(head + b"content-length: 100\r\n\r\n" + b'{"model": ')
        answer = read_response(sock)
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request_timeout" in answer
    assert 0.5 < took < 4


def test_the_server_still_answers_after_all_that(served_url: str) -> None:
    with connect(served_url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")
