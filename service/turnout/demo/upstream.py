"""A simulated upstream: a small ASGI app for the demo and for tests.

Each instance answers ``POST /v1/chat/completions``, ``/v1/responses`` and ``/v1/messages``
(JSON and SSE, each in its own API's shape, `turnout.demo.formats`) with clearly
labelled simulated text, or a call of the request's first tool. Its default profile has a
latency and a failure rate (seeded, so runs repeat); tests queue exact behaviours instead, one
per request: ok, a status with an OpenAI error body, a delay, a connection dropped mid-stream,
a slow stream. It records what it received and how
each stream ended, so tests can assert the rewritten ``model``, the auth header and cancellation.
"""

from __future__ import annotations

import collections
import random
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import anyio
import msgspec

from turnout.demo import faults, formats

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]

_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(dict[str, Any])

Kind = Literal["ok", "status", "drop", "huge", "gzip", "endless"]
PATHS: Final[dict[str, formats.Api]] = {
    "/chat/completions": "chat_completions",
    "/responses": "responses",
    "/messages": "messages",
}
StreamEnd = Literal["completed", "client_disconnected", "dropped"]


@dataclass(frozen=True)
class Behaviour:
    """What the upstream does with one request.

    ``ok``: answer (JSON, or SSE when the request asks to stream); ``status``: answer
    ``status`` with an OpenAI error body; ``drop``: stream ``chunks`` events, then cut the
    connection. ``delay_s`` waits before the headers, ``chunk_delay_s`` between SSE events.
    ``logprob``: every token's log-probability, reported when the request asks for logprobs.
    ``huge``, ``gzip`` and ``endless`` are faults (`turnout.demo.faults`) of ``size`` bytes.
    """

    kind: Kind = "ok"
    status: int = 200
    delay_s: float = 0.0
    retry_after: float | None = None
    chunks: int = 4
    chunk_delay_s: float = 0.0
    logprob: float = -0.05
    size: int = 0


@dataclass(frozen=True)
class Received:
    """One request as the upstream saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class DroppedConnection(Exception):
    """Raised mid-stream so the server cuts the connection, as a crashed upstream would."""


@dataclass
class SimulatedUpstream:
    """An OpenAI-compatible upstream with a profile and an optional script of behaviours."""

    name: str
    latency_s: float = 0.0
    failure_rate: float = 0.0
    seed: int = 0
    chunk_delay_s: float = 0.0
    record: bool = True
    script: collections.deque[Behaviour] = field(default_factory=collections.deque)
    faults: tuple[Behaviour, ...] = ()
    """Behaviours taken in turn, one a request, once the script is empty (instead of the
    profile): a standing fault for benchmarks."""
    received: list[Received] = field(default_factory=list)
    stream_ends: list[StreamEnd] = field(default_factory=list)
    _rng: random.Random = field(init=False, repr=False)
    _turn: int = field(default=0, init=False, repr=False)
    _ended: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - a simulation, not cryptography

    def queue(self, *behaviours: Behaviour) -> None:
        """Script the next requests' behaviours, in order; the profile applies after them."""
        self.script.extend(behaviours)

    def reset(self) -> None:
        """Forget the script and what was received."""
        self.script.clear()
        self.received.clear()
        self.stream_ends.clear()

    def wait_for_stream_ends(self, count: int, timeout_s: float) -> list[StreamEnd]:
        """Block (from another thread) until ``count`` streams have ended, or the timeout."""
        with self._ended:
            self._ended.wait_for(lambda: len(self.stream_ends) >= count, timeout=timeout_s)
            return list(self.stream_ends)

    def _next(self) -> Behaviour:
        if self.script:
            return self.script.popleft()
        if self.faults:
            self._turn += 1
            return self.faults[self._turn % len(self.faults)]
        if self.failure_rate and self._rng.random() < self.failure_rate:
            return Behaviour("status", 503, delay_s=self.latency_s)
        return Behaviour(delay_s=self.latency_s, chunk_delay_s=self.chunk_delay_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = await _read_body(receive)
        path = scope["path"]
        api = next((api for end, api in PATHS.items() if path.endswith(end)), None)
        if scope["method"] != "POST" or api is None:
            await _respond(send, 404, _error("not found", "not_found"))
            return
        request = _DECODER.decode(body)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if self.record:
            self.received.append(Received(path, headers, request))
        behaviour = self._next()
        if behaviour.delay_s:
            await anyio.sleep(behaviour.delay_s)
        if behaviour.kind == "status":
            extra = {"retry-after": f"{behaviour.retry_after:g}"} if behaviour.retry_after else {}
            message = f"simulated {behaviour.status} from {self.name}"
            await _respond(send, behaviour.status, _error(message, "simulated_error"), extra)
            return
        if behaviour.kind in faults.FAULTS:
            await self._misbehave(behaviour, bool(request.get("stream")), receive, send)
            return
        model = str(request.get("model", ""))
        answer = self._answer(api, model, request)
        if request.get("stream"):
            await self._stream(answer, behaviour, receive, send)
            return
        logprob = behaviour.logprob if request.get("logprobs") else None
        await _respond(send, 200, formats.body(answer, logprob))

    def _answer(self, api: formats.Api, model: str, request: dict[str, Any]) -> formats.Answer:
        text = f"[simulated {self.name}/{model}] This answer comes from a simulated upstream."
        number = len(self.received)
        if formats.answers_tool(api, request):
            return formats.Answer(api, model, text + " It read the tool's result.", None, number)
        return formats.Answer(api, model, text, formats.first_tool(api, request), number)

    async def _stream(
        self, answer: formats.Answer, behaviour: Behaviour, receive: Receive, send: Send
    ) -> None:
        count = behaviour.chunks if behaviour.kind == "drop" else None
        events = formats.events(answer, count)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        disconnected = anyio.Event()
        last = formats.last_event(answer)
        async with anyio.create_task_group() as group:
            group.start_soon(_watch_disconnect, receive, disconnected)
            end = await self._send_events(events, last, behaviour, send, disconnected)
            group.cancel_scope.cancel()
        self._ended_with(end)
        if end == "dropped":
            raise DroppedConnection(self.name)

    async def _misbehave(
        self, behaviour: Behaviour, stream: bool, receive: Receive, send: Send
    ) -> None:
        if behaviour.kind == "endless":
            start = [(b"content-type", b"text/event-stream")]
            await send({"type": "http.response.start", "status": 200, "headers": start})
            await faults.endless(behaviour.chunk_delay_s or 0.01, receive, send)
            self._ended_with("client_disconnected")
            return
        fault = cast("faults.Fault", behaviour.kind)
        headers, body = faults.answer(fault, behaviour.size, stream=stream)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await faults.send_body(body, send)

    def _ended_with(self, end: StreamEnd) -> None:
        with self._ended:
            self.stream_ends.append(end)
            self._ended.notify_all()

    async def _send_events(
        self,
        events: list[bytes],
        last: bytes,
        behaviour: Behaviour,
        send: Send,
        disconnected: anyio.Event,
    ) -> StreamEnd:
        for event in events:
            if disconnected.is_set():
                return "client_disconnected"
            await send({"type": "http.response.body", "body": event, "more_body": True})
            if behaviour.chunk_delay_s:
                await anyio.sleep(behaviour.chunk_delay_s)
        if disconnected.is_set():
            return "client_disconnected"
        if behaviour.kind == "drop":
            return "dropped"
        await send({"type": "http.response.body", "body": last, "more_body": False})
        return "completed"


def _error(message: str, code: str) -> bytes:
    return _ENCODER.encode(
        {"error": {"message": message, "type": "server_error", "param": None, "code": code}}
    )


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _watch_disconnect(receive: Receive, disconnected: anyio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    disconnected.set()


async def _respond(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    raw_headers = [(b"content-type", b"application/json")]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
