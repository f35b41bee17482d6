"""``POST /v1/chat/completions`` as a raw ASGI handler: the proxy's hot path.

It runs under litestar's router and exception handlers like every endpoint, but reads the body
and writes the response itself: litestar's signature parsing, dependency injection and response
objects cost more CPU per request than the routing decision does. Streams are relayed event by
event; a client disconnect cancels the relay, which closes the upstream connection.
"""

from __future__ import annotations

import json
import logging
from time import perf_counter
from typing import TYPE_CHECKING, Final

import anyio
from litestar import asgi
from litestar.enums import ScopeType
from litestar.exceptions import MethodNotAllowedException

from turnout.errors import RequestTooLarge, ServiceError, UpstreamError
from turnout.flow.flow import Exchange
from turnout.gateway.failover import CIRCUIT_OPEN
from turnout.gateway.relay import relay_sse, rewrite_model
from turnout.http.error_handlers import error_event
from turnout.http.request_id import request_id

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable

    from litestar.types import HTTPResponseStartEvent, HTTPScope, Receive, Scope, Send

    from turnout.components import Components
    from turnout.flow.flow import Answered
    from turnout.gateway.failover import Opened
    from turnout.metrics import Metrics

logger = logging.getLogger(__name__)

SSE_HEADERS: Final = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
DEBUG_HEADER: Final = b"x-turnout-debug"  # "1" asks for the decision in x-turnout-decision
DEBUG_ON: Final = frozenset({"1", "true"})
DEBUG_TEXT_CHARS: Final = 80


class ClientDisconnected(Exception):
    """The client went away before its body arrived; there is no one to answer."""


async def read_body(scope: HTTPScope, receive: Receive, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed ``limit`` bytes.

    Raises:
        RequestTooLarge: the declared or received length is over the limit.
    """
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"request body is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnected
        chunk = message["body"]
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


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


def _headers(answered: Answered, *, debug: bool) -> list[tuple[bytes, bytes]]:
    routed, sent = answered.routed, answered.sent
    opened = sent.answer
    headers = [
        (b"x-turnout-route", (routed.decision.route or "").encode()),
        (b"x-turnout-model", opened.target.id.encode()),
        (b"x-turnout-tier", routed.decision.tier.encode()),
        (b"x-turnout-decision-ms", f"{routed.decision_ms:.3f}".encode()),
        (b"x-turnout-attempts", str(opened.tried).encode()),
    ]
    skipped = [attempt.target for attempt in opened.attempts if attempt.error == CIRCUIT_OPEN]
    if skipped:
        headers.append((b"x-turnout-circuit-open", ",".join(skipped).encode()))
    if routed.decision.evidence is not None:
        headers.append((b"x-turnout-index-build", routed.decision.evidence.build_id.encode()))
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


@asgi("/v1/chat/completions", copy_scope=False)
async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
    """Route the request, forward it with failover, and relay the answer (JSON or SSE)."""
    if scope["type"] != ScopeType.HTTP or scope["method"] != "POST":
        raise MethodNotAllowedException(headers={"allow": "POST"})
    components: Components = scope["app"].state.components
    started = perf_counter()
    found = await _answer(components, scope, receive, started)
    if found is None:
        return
    answered, exchange = found
    try:
        await _respond(send, receive, answered, components.metrics, started)
    finally:
        with anyio.CancelScope(shield=True):  # the answer was given: record it, client or not
            await components.flow.settle(answered, exchange)


async def _answer(
    components: Components, scope: HTTPScope, receive: Receive, started: float
) -> tuple[Answered, Exchange] | None:
    """Identify the caller, read the body and run the flow; None when the client left first.

    Raises:
        ServiceError: counted in the metrics (under its route, once decided), then re-raised
            for the error handler.
    """
    exchange: Exchange | None = None
    try:
        exchange = Exchange(components.clients.identify(scope["headers"]), request_id(scope))
        body = await read_body(scope, receive, components.settings.server.max_body_bytes)
        return await components.flow.answer(body, exchange), exchange
    except ClientDisconnected:
        logger.debug("client %s left before sending its body", request_id(scope))
        return None
    except ServiceError as exc:
        status = getattr(exc, "upstream_status", None) or exc.status
        routed = None if exchange is None else exchange.routed
        route, tier = ("", "") if routed is None else (routed.decision.route, routed.decision.tier)
        components.metrics.request(
            route=route or "", model="", tier=tier, status=status, seconds=perf_counter() - started
        )
        raise


async def _respond(
    send: Send, receive: Receive, answered: Answered, metrics: Metrics, started: float
) -> None:
    """Send the upstream's answer, JSON or relayed event by event, and count the request."""
    decision, opened = answered.routed.decision, answered.sent.answer
    route, model, status = decision.route or "", opened.target.id, opened.response.status

    def finished() -> None:
        seconds = perf_counter() - started
        metrics.request(
            route=route, model=model, tier=decision.tier, status=status, seconds=seconds
        )

    caller = answered.routed.inp.caller
    headers = _headers(answered, debug=caller.header(DEBUG_HEADER) in DEBUG_ON)
    if opened.body is None:
        content_type = (opened.response.content_type or "text/event-stream").encode()
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-type", content_type), *SSE_HEADERS],
        }
        await _stream(send, receive, start, _events(opened, finished))
        return
    content = rewrite_model(opened.body, opened.target.id)
    content_type = (opened.response.content_type or "application/json").encode()
    headers += [(b"content-type", content_type), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content, "more_body": False})
    finished()


async def _events(opened: Opened, finished: Callable[[], None]) -> AsyncGenerator[bytes, None]:
    """The relayed stream; a break after the first byte ends it with an SSE error event."""
    try:
        async for chunk in relay_sse(opened.response, opened.target.id):
            yield chunk
    except UpstreamError as exc:
        logger.warning("stream from %s broke mid-way: %s", opened.target.id, exc.message)
        yield error_event(exc)
    finally:
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

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch_disconnect)
        try:
            async for chunk in events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            with anyio.CancelScope(shield=True):
                await events.aclose()
        group.cancel_scope.cancel()
