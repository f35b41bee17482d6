"""The proxy's hot path, shared by its three API surfaces, as raw ASGI: read, answer, settle.

Each surface (`turnout.http.chat`, `turnout.http.responses`, `turnout.http.messages`) is a
`Turn`: how a body becomes the flow's request, and how an answer becomes the client's JSON or
events. The rest is the same for all: the caller, the body's size limit, the flow, the
``x-turnout-*`` headers, the metrics, the relay, and settling the answer once the client has it.

It runs under litestar's router and exception handlers like every endpoint, but reads the body
and writes the response itself: litestar's signature parsing, dependency injection and response
objects cost more CPU per request than the routing decision does. Streams are relayed event by
event; a client disconnect cancels the relay, which closes the upstream connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import nullcontext
from time import perf_counter
from typing import TYPE_CHECKING, Final, Protocol

import anyio
from litestar.enums import ScopeType
from litestar.exceptions import MethodNotAllowedException

from turnout.errors import RequestTimedOut, RequestTooLarge, ServiceError, UpstreamError
from turnout.flow.flow import Exchange
from turnout.gateway.failover import CIRCUIT_OPEN
from turnout.http.request_id import keep_headers, request_id

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable

    from litestar.types import HTTPResponseStartEvent, HTTPScope, Receive, Scope, Send

    from turnout.caller import Caller
    from turnout.components import Components
    from turnout.config import ServerSettings
    from turnout.flow.flow import Answered
    from turnout.flow.router import Routed
    from turnout.metrics import Metrics
    from turnout.wire.request import Request

logger = logging.getLogger(__name__)

SSE_HEADERS: Final = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
DEBUG_HEADER: Final = b"x-turnout-debug"  # "1" asks for the decision in x-turnout-decision
DEBUG_ON: Final = frozenset({"1", "true"})
DEBUG_TEXT_CHARS: Final = 80
CLIENT_GONE: Final = 499  # nginx's status for a client that closed before its answer


class ClientDisconnected(Exception):
    """The client went away before its answer began; there is no one to answer."""


class Turn(Protocol):
    """One request on one API surface: how its body is read and its answer written.

    Made per request (`Surface`), so it may keep what it learns on the way (the answer's
    tool calls, a response to store).
    """

    async def read(self, body: bytes, caller: Caller) -> Request:
        """The flow's request of a body.

        Raises:
            ServiceError: the body is invalid (the surface's 4xx).
        """
        ...

    def json(self, answered: Answered) -> tuple[bytes, bytes]:
        """The client's body and content type for a JSON (not streamed) answer."""
        ...

    def events(self, answered: Answered) -> AsyncGenerator[bytes, None]:
        """The client's events for a streamed answer; closing them closes the upstream's.

        Raises:
            UpstreamError: the upstream stream broke.
        """
        ...

    def error_event(self, exc: ServiceError) -> bytes:
        """The event that ends a stream broken after its first byte."""
        ...

    def calls(self) -> tuple[str, ...]:
        """The ids of the answer's tool calls, as the client got them (once it has them)."""
        ...

    async def finish(self, answered: Answered, caller: Caller) -> None:
        """What the surface keeps of an answer the client has (a stored response)."""
        ...


async def read_body(scope: HTTPScope, receive: Receive, server: ServerSettings) -> bytes:
    """The request body, refused as soon as it is known to exceed ``server.max_body_bytes``.

    A body that does not come whole in its first message must arrive within
    ``server.body_timeout_s`` (the usual one-message body costs no timer).

    Raises:
        RequestTooLarge: the declared or received length is over the limit.
        RequestTimedOut: the body took too long.
        ClientDisconnected: the client left first.
    """
    limit = server.max_body_bytes
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"request body is over the limit of {limit} bytes")
    chunk, last = await _body_part(receive)
    chunks, size = [chunk], len(chunk)
    if not last:  # the usual body comes whole in one message, and needs no timer
        with anyio.move_on_after(server.body_timeout_s) as waited:
            while not last and size <= limit:
                chunk, last = await _body_part(receive)
                chunks.append(chunk)
                size += len(chunk)
        if waited.cancelled_caught:
            raise RequestTimedOut(f"request body did not arrive within {server.body_timeout_s:g} s")
    if size > limit:
        raise RequestTooLarge(f"request body is over the limit of {limit} bytes")
    return chunk if len(chunks) == 1 else b"".join(chunks)


async def _body_part(receive: Receive) -> tuple[bytes, bool]:
    """One part of the body, and whether it was the last."""
    message = await receive()
    if message["type"] != "http.request":
        raise ClientDisconnected
    return message["body"], not message.get("more_body", False)


def _explanation(answered: Answered) -> bytes:
    """The whole decision and every attempt, as one line of ASCII JSON for a response header.

    Neighbour texts are cut to ``DEBUG_TEXT_CHARS`` so the header stays a few kilobytes.
    """
    routed, sent = answered.routed, answered.sent
    payload = routed.payload()
    for neighbour in payload.get("neighbours", ()):
        neighbour["text"] = neighbour["text"][:DEBUG_TEXT_CHARS]
    payload["attempts"] = [
        {"model": a.target, "error": a.error, "status": a.status, "ms": round(a.ms, 3)}
        for a in sent.answer.attempts
    ]
    if sent.outcome is not None:
        payload["cascade"] = sent.outcome
    if answered.speculation is not None:
        payload["speculation"] = answered.speculation
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _decision_headers(routed: Routed) -> list[tuple[bytes, bytes]]:
    """The decision's headers, which an answer and an error after the decision both carry."""
    headers = [
        (b"x-turnout-route", (routed.decision.route or "").encode()),
        (b"x-turnout-tier", routed.decision.tier.encode()),
        (b"x-turnout-decision-ms", f"{routed.decision_ms:.3f}".encode()),
    ]
    if routed.decision.evidence is not None:
        headers.append((b"x-turnout-index-build", routed.decision.evidence.build_id.encode()))
    return headers


def _headers(answered: Answered, *, debug: bool) -> list[tuple[bytes, bytes]]:
    routed, sent = answered.routed, answered.sent
    opened = sent.answer
    headers = [
        *_decision_headers(routed),
        (b"x-turnout-model", opened.target.id.encode()),
        (b"x-turnout-attempts", str(opened.tried).encode()),
    ]
    skipped = [attempt.target for attempt in opened.attempts if attempt.error == CIRCUIT_OPEN]
    if skipped:
        headers.append((b"x-turnout-circuit-open", ",".join(skipped).encode()))
    if sent.outcome is not None:
        headers.append((b"x-turnout-cascade", sent.outcome.encode()))
    if routed.variant is not None:
        arm = f"{routed.variant.experiment}={routed.variant.name}"
        headers.append((b"x-turnout-experiment", arm.encode()))
    if answered.speculation is not None:
        headers.append((b"x-turnout-speculation", answered.speculation.encode()))
    if debug:
        headers.append((b"x-turnout-decision", _explanation(answered)))
    return headers


async def serve(
    scope: Scope, receive: Receive, send: Send, surface: Callable[[Components], Turn]
) -> None:
    """Route the request, forward it with failover, and relay the answer (JSON or SSE)."""
    if scope["type"] != ScopeType.HTTP or scope["method"] != "POST":
        raise MethodNotAllowedException(headers={"allow": "POST"})
    components: Components = scope["app"].state.components
    started = perf_counter()
    turn = surface(components)
    tracing = components.tracing
    with tracing.request(scope["headers"]):
        found = await _answer(components, turn, scope, receive, started)
        if found is None:
            return
        answered, exchange = found
        tracing.answered(answered)
        try:
            counter = _counter(components.metrics, answered, started)
            with tracing.stream() if answered.sent.answer.body is None else nullcontext():
                await _respond(send, receive, turn, answered, counter)
        finally:
            with anyio.CancelScope(shield=True):  # the answer was given: record it, client or not
                await components.flow.settle(answered, exchange, turn.calls())
                await turn.finish(answered, exchange.caller)


async def _answer(
    components: Components, turn: Turn, scope: HTTPScope, receive: Receive, started: float
) -> tuple[Answered, Exchange] | None:
    """Identify the caller, read the body and run the flow; None when the client left first.

    Raises:
        ServiceError: counted in the metrics (under its route, once decided), then re-raised
            for the error handler.
    """
    exchange: Exchange | None = None
    try:
        exchange = Exchange(components.clients.identify(scope["headers"]), request_id(scope))
        body = await read_body(scope, receive, components.settings.server)
        request = await turn.read(body, exchange.caller)
        answered = await _unless_gone(receive, components.flow.answer(request, exchange))
    except ClientDisconnected:
        logger.debug("client %s left before its answer began", request_id(scope))
        _count_unanswered(components.metrics, exchange, CLIENT_GONE, started)
        return None
    except ServiceError as exc:
        routed = None if exchange is None else exchange.routed
        if routed is not None:
            keep_headers(scope, _decision_headers(routed))
        _count_unanswered(components.metrics, exchange, exc.counted_status, started)
        raise
    return answered, exchange


def _count_unanswered(
    metrics: Metrics, exchange: Exchange | None, status: int, started: float
) -> None:
    """Count a request that got no upstream answer, under its route once it was decided."""
    routed = None if exchange is None else exchange.routed
    route, tier = (
        ("", "") if routed is None else (routed.decision.route or "", routed.decision.tier)
    )
    metrics.request(
        route=route, model="", tier=tier, status=status, seconds=perf_counter() - started
    )


async def _unless_gone(receive: Receive, answering: Awaitable[Answered]) -> Answered:
    """The flow's answer, or its cancellation when the client disconnects before it comes.

    A client that leaves stops the upstream call (and any retry of it) at once, so that it
    costs no more time or tokens.

    Raises:
        ClientDisconnected: the client left first.
        ServiceError: from the flow.
    """
    # A bare asyncio task rather than an anyio task group: the group cost 0.1 ms of proxy
    # overhead per request here (benchmarks/surfaces.py, 0.44 -> 0.54 ms at concurrency 1).
    # The watcher never outlives this call: it is cancelled on the way out, whatever happens.
    answering_task = asyncio.current_task()
    if answering_task is None:
        raise AssertionError("the flow runs in an asyncio task")
    gone = asyncio.Event()
    watcher = asyncio.get_running_loop().create_task(
        _cancel_when_gone(receive, answering_task, gone)
    )
    try:
        return await answering
    except asyncio.CancelledError:
        if not gone.is_set():
            raise
        answering_task.uncancel()
        raise ClientDisconnected from None
    finally:
        watcher.cancel()


async def _cancel_when_gone(
    receive: Receive, task: asyncio.Task[object], gone: asyncio.Event
) -> None:
    """Cancel ``task`` when the client disconnects."""
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()
    task.cancel()


async def _watch_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` when the client disconnects."""
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


def _counter(metrics: Metrics, answered: Answered, started: float) -> Callable[[], None]:
    """What counts the request once its answer is sent."""
    decision, opened = answered.routed.decision, answered.sent.answer
    route, model, status = decision.route or "", opened.target.id, opened.response.status

    def finished() -> None:
        seconds = perf_counter() - started
        metrics.request(
            route=route, model=model, tier=decision.tier, status=status, seconds=seconds
        )

    return finished


async def _respond(
    send: Send, receive: Receive, turn: Turn, answered: Answered, finished: Callable[[], None]
) -> None:
    """Send the upstream's answer, JSON or relayed event by event; then call ``finished``."""
    status = answered.sent.answer.response.status
    caller = answered.routed.inp.caller
    headers = _headers(answered, debug=caller.header(DEBUG_HEADER) in DEBUG_ON)
    if answered.sent.answer.body is None:
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-type", b"text/event-stream"), *SSE_HEADERS],
        }
        await _stream(send, receive, start, _events(turn, answered, finished))
        return
    content, content_type = turn.json(answered)
    headers += [(b"content-type", content_type), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content, "more_body": False})
    finished()


async def _events(
    turn: Turn, answered: Answered, finished: Callable[[], None]
) -> AsyncGenerator[bytes, None]:
    """The relayed stream; a break after the first byte ends it with the surface's error event."""
    events = turn.events(answered)
    try:
        async for chunk in events:
            yield chunk
    except UpstreamError as exc:
        target = answered.sent.answer.target.id
        logger.warning("stream from %s broke mid-way: %s", target, exc.message)
        yield turn.error_event(exc)
    finally:
        with anyio.CancelScope(shield=True):
            await events.aclose()
        finished()


async def _stream(
    send: Send,
    receive: Receive,
    start: HTTPResponseStartEvent,
    events: AsyncGenerator[bytes, None],
) -> None:
    """Send ``events`` until they end or the client disconnects, then close them either way."""
    await send(start)
    async with anyio.create_task_group() as group:
        group.start_soon(_watch_disconnect, receive, group.cancel_scope)
        try:
            async for chunk in events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            with anyio.CancelScope(shield=True):
                await events.aclose()
        group.cancel_scope.cancel()
