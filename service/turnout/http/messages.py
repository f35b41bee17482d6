"""The Messages API surface: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

A request goes the way every request goes (`turnout.http.surface`); targets that speak Messages
get it as the client sent it (with its ``anthropic-version`` and ``anthropic-beta``), the others
its Chat Completions translation, whose answer comes back as a Messages one. Errors on these
paths are in Anthropic's envelope (`turnout.http.error_handlers`). ``count_tokens`` answers
from the router's own estimate (about four characters a token, images and tools included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import msgspec
from litestar import MediaType, Request, Response, asgi, post

from turnout.errors import UpstreamUnavailable
from turnout.gateway.relay import relay_sse, relay_translated, rewrite_model
from turnout.http.dependencies import ComponentsDependency
from turnout.http.error_handlers import messages_error_event
from turnout.http.surface import serve
from turnout.routing.analyze import analyze
from turnout.wire.messages.answer import (
    MessagesStream,
    NativeMessages,
    from_completion,
    native_calls,
    tool_id,
)
from turnout.wire.messages.request import FORWARDED_HEADERS, decode_messages

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterable

    from litestar.types import Receive, Scope, Send

    from turnout.caller import Caller
    from turnout.components import Components
    from turnout.errors import ServiceError
    from turnout.flow.flow import Answered
    from turnout.wire.request import Request as FlowRequest

_ENCODER: Final = msgspec.json.Encoder()
_FORWARDED: Final = frozenset(name.encode() for name in FORWARDED_HEADERS)


def _anthropic_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name.decode(), value.decode("latin-1")) for name, value in headers if name in _FORWARDED
    )


class MessagesTurn:
    """One Messages request."""

    def __init__(self, _: Components) -> None:
        self._calls: tuple[str, ...] = ()
        self._native: bytes | None = None  # a native answer, whose calls are read at settle
        self._stream: MessagesStream | NativeMessages | None = None

    async def read(self, body: bytes, caller: Caller) -> FlowRequest:
        """See `Turn.read`."""
        return decode_messages(body, _anthropic_headers(caller.headers))[1]

    def json(self, answered: Answered) -> tuple[bytes, bytes]:
        """The message object: the native one with the chosen model, or a translated one."""
        opened = answered.sent.answer
        body, model = opened.body or b"", opened.target.id
        if opened.response.api == "messages":
            self._native = body
            return rewrite_model(body, model), b"application/json"
        try:
            content, self._calls = from_completion(body, model)
        except (msgspec.MsgspecError, RecursionError) as exc:
            raise UpstreamUnavailable(
                f"{model} answered a body that is not a chat completion", target=model
            ) from exc
        return content, b"application/json"

    def events(self, answered: Answered) -> AsyncGenerator[bytes, None]:
        """Messages events, native or translated."""
        opened = answered.sent.answer
        if opened.response.api == "messages":
            native = self._stream = NativeMessages(opened.target.id)
            return relay_sse(opened.response, native.rewrite)
        stream = self._stream = MessagesStream(opened.target.id)
        return relay_translated(opened.response, stream)

    def error_event(self, exc: ServiceError) -> bytes:
        """See `Turn.error_event`."""
        return messages_error_event(exc)

    def calls(self) -> tuple[str, ...]:
        """The ids of the answer's ``tool_use`` blocks, as the client got them."""
        if isinstance(self._stream, NativeMessages):
            return tuple(self._stream.calls)
        if isinstance(self._stream, MessagesStream):
            return tuple(tool_id(call.id) for call in self._stream.answer.calls)
        return self._calls if self._native is None else native_calls(self._native)

    async def finish(self, answered: Answered, caller: Caller) -> None:
        """Nothing to keep."""


@asgi("/v1/messages", copy_scope=False)
async def create_message(scope: Scope, receive: Receive, send: Send) -> None:
    """Route the request, forward it with failover, and answer as the Messages API does."""
    await serve(scope, receive, send, MessagesTurn)


@post("/v1/messages/count_tokens", status_code=200)
async def count_tokens(
    request: Request[Any, Any, Any], components: ComponentsDependency
) -> Response[bytes]:
    """The router's estimate of a Messages request's input tokens."""
    caller = components.clients.identify(request.scope["headers"])
    _, flow_request = decode_messages(await request.body(), counting=True)
    estimate = analyze(flow_request.chat, caller).token_estimate
    return Response(_ENCODER.encode({"input_tokens": estimate}), media_type=MediaType.JSON)
