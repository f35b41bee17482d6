"""Debian's headless Chromium, driven over the DevTools protocol (a websocket, from aiohttp)."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import pytest

from tests.fakes.process import answers
from tests.fakes.server import closed_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


@contextlib.contextmanager
def chromium(*, required: bool) -> Iterator[int]:
    """Start headless Chromium; yield its DevTools port. Missing: skip, or fail under CI."""
    binary = shutil.which("chromium")
    if binary is None:
        if required:
            pytest.fail("chromium is missing: install Debian's chromium package")
        pytest.skip("chromium is missing: apt-get install chromium")
    port = closed_port()
    with tempfile.TemporaryDirectory() as profile:
        flags = ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run")
        where = (f"--remote-debugging-port={port}", f"--user-data-dir={profile}")
        process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
            [binary, *flags, *where, "--window-size=1440,1100", "--hide-scrollbars"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            if not answers(f"http://127.0.0.1:{port}/json/version", process, seconds=30):
                raise RuntimeError("chromium did not start")
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)


class Page:
    """One tab: navigate, evaluate script, wait for what it shows, take a screenshot."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method; its result (events in between are skipped)."""
        number = next(self._ids)
        await self._socket.send_str(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(await self._socket.receive_str())
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                found: dict[str, Any] = message["result"]
                return found

    async def evaluate(self, expression: str) -> Any:
        """The value of a script expression in the page (awaited when it is a promise)."""
        found = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in found:
            raise RuntimeError(f"{expression}: {found['exceptionDetails']}")
        return found["result"].get("value")

    async def goto(self, url: str) -> None:
        """Open ``url`` and wait until its document has loaded."""
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def wait_for(self, expression: str, seconds: float = 15.0) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + seconds
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"never true within {seconds:g} s: {expression}")
            await anyio.sleep(0.1)

    async def screenshot(self) -> bytes:
        """The whole page as PNG."""
        size = await self.evaluate("[document.body.scrollWidth, document.body.scrollHeight]")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=size[0],
            height=size[1],
            deviceScaleFactor=1,
            mobile=False,
        )
        found = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(found["data"])


@contextlib.asynccontextmanager
async def open_page(port: int) -> AsyncIterator[Page]:
    """A new tab of the Chromium on ``port``."""
    async with aiohttp.ClientSession() as session:
        async with session.put(f"http://127.0.0.1:{port}/json/new?about:blank") as response:
            target = await response.json()
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as socket:
            page = Page(socket)
            await page.send("Page.enable")
            yield page
