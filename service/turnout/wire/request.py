"""One request as the flow carries it, whichever API the client spoke.

Every surface decodes its body into a `Request`: a Chat Completions body (the client's own, or
its translation), which routing reads and which targets that speak Chat Completions are sent;
and, for the Responses and Messages surfaces, the client's body in its own API (`Native`),
which targets that speak that API natively are sent instead. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from turnout.wire.chat import answered_calls, decode_chat

if TYPE_CHECKING:
    from collections.abc import Collection

    from turnout.wire.chat import ChatRequest, Fields

Api = Literal["chat_completions", "responses", "messages"]
PATHS: Final[dict[Api, str]] = {
    "chat_completions": "/chat/completions",
    "responses": "/responses",
    "messages": "/messages",
}


@dataclass(frozen=True, slots=True)
class Native:
    """The client's body in its own API, for targets that speak it."""

    api: Api
    fields: Fields
    headers: tuple[tuple[str, str], ...] = ()
    """Client headers that the API defines and an upstream of it needs (``anthropic-version``)."""


@dataclass(frozen=True, slots=True)
class Request:
    """A decoded request: its Chat Completions form, and its native form when it has one."""

    fields: Fields
    """The Chat Completions body, as top-level keys and their raw JSON."""
    chat: ChatRequest
    native: Native | None = None
    answers_calls: tuple[str, ...] = ()
    """The ids of the tool calls whose results the request's last turn carries: a request
    that continues a tool loop, which stays on the model that made the calls."""
    continues: tuple[str | None, str] | None = None
    """The route and target (``provider/model``) of the stored response the request
    continues (``previous_response_id``), which it stays on."""

    @property
    def api(self) -> Api:
        """The API the client spoke."""
        return "chat_completions" if self.native is None else self.native.api

    def speakable_by(self, apis: Collection[Api]) -> bool:
        """Whether a provider that speaks ``apis`` can take the request, natively or not."""
        return "chat_completions" in apis or (self.native is not None and self.native.api in apis)


def decode_request(body: bytes) -> Request:
    """A Chat Completions body as the flow carries it.

    Raises:
        InvalidRequest: as `decode_chat`.
    """
    fields, chat = decode_chat(body)
    return Request(fields, chat, answers_calls=answered_calls(chat.messages))
