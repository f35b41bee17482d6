"""The Responses API surface: ``POST /v1/responses``, and ``GET``/``DELETE`` of a stored one.

A request is read with its stored history when it names ``previous_response_id`` (the
conversation so far, which stays on its model), then goes the way every request goes
(`turnout.http.surface`). Its answer is a response object of turnout's id, translated from a
Chat Completions answer or taken from a target that speaks Responses; with ``store`` (the
default) it is stored, after the client has it, for the next turn and for ``GET``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

import msgspec
from litestar import MediaType, Request, Response, asgi, delete, get
from litestar.params import FromPath

from turnout.errors import RequestTooLarge, ResponseNotFound, UpstreamUnavailable
from turnout.flow.stored import StoredResponse
from turnout.gateway.relay import relay_sse, relay_translated
from turnout.http.dependencies import ComponentsDependency
from turnout.http.error_handlers import responses_error_event
from turnout.http.surface import serve
from turnout.wire.body import decode_body
from turnout.wire.responses.answer import encode, from_completion, from_native, shell
from turnout.wire.responses.events import NativeResponses, ResponsesStream
from turnout.wire.responses.translate import read_responses

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from litestar.types import Receive, Scope, Send

    from turnout.caller import Caller
    from turnout.components import Components
    from turnout.errors import ServiceError
    from turnout.flow.flow import Answered
    from turnout.wire.request import Request as FlowRequest
    from turnout.wire.responses.answer import Shell
    from turnout.wire.responses.translate import ResponsesCall

_ENCODER: Final = msgspec.json.Encoder()


class _Previous(msgspec.Struct, frozen=True):
    previous_response_id: str | None = None


_PREVIOUS: Final = msgspec.json.Decoder(_Previous)


class ResponsesTurn:
    """One Responses request."""

    def __init__(self, components: Components) -> None:
        self._components = components
        self._call: ResponsesCall | None = None
        self._final: dict[str, Any] | None = None
        self._stream: ResponsesStream | NativeResponses | None = None

    async def read(self, body: bytes, caller: Caller) -> FlowRequest:
        """See `Turn.read`; the stored history of ``previous_response_id`` comes first.

        Raises:
            ResponseNotFound: ``previous_response_id`` names no response of this client.
            RequestTooLarge: the conversation with its history is over the body limit.
        """
        previous = decode_body(_PREVIOUS, body).previous_response_id
        if not previous:
            self._call = read_responses(body)
            return self._call.request
        stored = await self._components.responses.get(caller.key, previous)
        if stored is None:
            raise ResponseNotFound(
                f"previous_response_id: no stored response '{previous[:100]}'",
                param="previous_response_id",
            )
        limit = self._components.settings.server.max_body_bytes
        if len(body) + sum(len(item) for item in stored.items) > limit:
            raise RequestTooLarge(
                f"the conversation of previous_response_id is over the limit of {limit} bytes"
            )
        call = read_responses(body, tuple(stored.items))
        request = replace(call.request, continues=(stored.route, stored.target))
        self._call = replace(call, request=request)
        return request

    def json(self, answered: Answered) -> tuple[bytes, bytes]:
        """The response object, from a native answer or a Chat Completions one."""
        opened = answered.sent.answer
        response = self._shell(answered)
        try:
            if opened.response.api == "responses":
                self._final = from_native(opened.body or b"", response)
            else:
                self._final = from_completion(opened.body or b"", response)
        except (msgspec.MsgspecError, RecursionError) as exc:
            raise UpstreamUnavailable(
                f"{opened.target.id} answered a body that is not a {opened.response.api} answer",
                target=opened.target.id,
            ) from exc
        return encode(self._final), b"application/json"

    def events(self, answered: Answered) -> AsyncGenerator[bytes, None]:
        """Responses events, native or translated."""
        opened = answered.sent.answer
        if opened.response.api == "responses":
            native = self._stream = NativeResponses(self._shell(answered))
            return relay_sse(opened.response, native.rewrite)
        stream = self._stream = ResponsesStream(self._shell(answered))
        return relay_translated(opened.response, stream)

    def error_event(self, exc: ServiceError) -> bytes:
        """See `Turn.error_event`."""
        sequence = self._stream.sequence if isinstance(self._stream, ResponsesStream) else 0
        return responses_error_event(exc, sequence)

    def calls(self) -> tuple[str, ...]:
        """The call ids of the answer's function call items."""
        final = self._done()
        output = [] if final is None else final.get("output") or []
        return tuple(
            item["call_id"]
            for item in output
            if isinstance(item, dict) and item.get("type") == "function_call" and "call_id" in item
        )

    async def finish(self, answered: Answered, caller: Caller) -> None:
        """Store the response with its conversation, unless the client said ``store: false``."""
        final, call = self._done(), self._call
        if final is None or call is None or not call.body.store:
            return
        output = final.get("output") or []
        items = [*call.items, *(msgspec.Raw(_ENCODER.encode(item)) for item in output)]
        stored = StoredResponse(
            msgspec.Raw(encode(final)),
            items,
            answered.routed.decision.route,
            answered.sent.answer.target.id,
        )
        await self._components.responses.put(caller.key, str(final["id"]), stored)

    def _shell(self, answered: Answered) -> Shell:
        call = self._call
        if call is None:
            raise AssertionError("a turn is read before it is answered")
        tools = [msgspec.to_builtins(tool) for tool in call.tools]
        return shell(call.body, answered.sent.answer.target.id, tools)

    def _done(self) -> dict[str, Any] | None:
        return self._final if self._stream is None else self._stream.final


@asgi("/v1/responses", copy_scope=False)
async def create_response(scope: Scope, receive: Receive, send: Send) -> None:
    """Route the request, forward it with failover, and answer as the Responses API does."""
    await serve(scope, receive, send, ResponsesTurn)


async def _stored(
    request: Request[Any, Any, Any], components: Components, response_id: str
) -> StoredResponse:
    caller = components.clients.identify(request.scope["headers"])
    stored = await components.responses.get(caller.key, response_id)
    if stored is None:
        raise ResponseNotFound(f"no stored response '{response_id[:100]}'", param="response_id")
    return stored


@get("/v1/responses/{response_id:str}")
async def get_response(
    request: Request[Any, Any, Any], components: ComponentsDependency, response_id: FromPath[str]
) -> Response[bytes]:
    """A stored response of the caller's."""
    stored = await _stored(request, components, response_id)
    return Response(bytes(stored.response), media_type=MediaType.JSON)


@delete("/v1/responses/{response_id:str}", status_code=200)
async def delete_response(
    request: Request[Any, Any, Any], components: ComponentsDependency, response_id: FromPath[str]
) -> Response[bytes]:
    """Forget a stored response of the caller's."""
    caller = components.clients.identify(request.scope["headers"])
    if not await components.responses.delete(caller.key, response_id):
        raise ResponseNotFound(f"no stored response '{response_id[:100]}'", param="response_id")
    body = {"id": response_id, "object": "response", "deleted": True}
    return Response(_ENCODER.encode(body), media_type=MediaType.JSON)
