"""``POST /v1/chat/completions``: the Chat Completions surface of `turnout.http.surface`.

Its targets all speak Chat Completions, so answers pass through with only ``model`` rewritten
to the chosen ``provider/model``; the ids of tool calls are read on the way, for tool loops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import msgspec
from litestar import asgi

from turnout.gateway.relay import relay_sse, rewrite_event, rewrite_model
from turnout.http.error_handlers import error_event
from turnout.http.surface import serve
from turnout.wire.completion import COMPLETION, call_ids
from turnout.wire.request import decode_request
from turnout.wire.sse import event_data

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from litestar.types import Receive, Scope, Send

    from turnout.caller import Caller
    from turnout.components import Components
    from turnout.errors import ServiceError
    from turnout.flow.flow import Answered
    from turnout.wire.request import Request

_TOOL_CALLS: Final = b'"tool_calls"'


class ChatTurn:
    """One Chat Completions request."""

    def __init__(self, _: Components) -> None:
        self._body: bytes | None = None
        self._calls: list[str] = []

    async def read(self, body: bytes, caller: Caller) -> Request:
        """See `Turn.read`."""
        return decode_request(body)

    def json(self, answered: Answered) -> tuple[bytes, bytes]:
        """The upstream's body, with the chosen model."""
        opened = answered.sent.answer
        self._body = opened.body or b""
        content_type = (opened.response.content_type or "application/json").encode()
        return rewrite_model(self._body, opened.target.id), content_type

    def events(self, answered: Answered) -> AsyncGenerator[bytes, None]:
        """The upstream's events, with the chosen model."""
        opened = answered.sent.answer
        model = opened.target.id

        def rewrite(event: bytes) -> bytes:
            if _TOOL_CALLS in event:
                self._read_calls(event)
            return rewrite_event(event, model)

        return relay_sse(opened.response, rewrite)

    def error_event(self, exc: ServiceError) -> bytes:
        """See `Turn.error_event`."""
        return error_event(exc)

    def calls(self) -> tuple[str, ...]:
        """See `Turn.calls`."""
        return call_ids(self._body) if self._body else tuple(self._calls)

    async def finish(self, answered: Answered, caller: Caller) -> None:
        """Nothing to keep."""

    def _read_calls(self, event: bytes) -> None:
        try:
            chunk = COMPLETION.decode(event_data(event) or b"")
        except (msgspec.MsgspecError, RecursionError):  # not JSON: no calls to read
            return
        for choice in chunk.choices[:1]:
            for call in (choice.delta.tool_calls or []) if choice.delta else []:
                if call.id:
                    self._calls.append(call.id)


@asgi("/v1/chat/completions", copy_scope=False)
async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
    """Route the request, forward it with failover, and relay the answer (JSON or SSE)."""
    await serve(scope, receive, send, ChatTurn)
