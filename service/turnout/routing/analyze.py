"""Builds the `RoutingInput` of a request: the text to classify and the facts policy needs.

It owns what gets looked at, the token estimate and the request's needs (vision, tools, JSON
mode). It does not decide.

What gets classified is the last user turn. A short last turn in a conversation ("now in
Python", "make it shorter", "Rewrite your previous response in a formal tone") says little on
its own, so the previous user turn comes along as context: the semantic tier embeds both and
mixes them (`turnout.routing.semantic`). Bounded: one earlier turn, clipped by the encoder's
window like any prompt. System prompts are not classified: they are mostly an application's
standing instructions, the same for every request, and would pull every prompt towards them;
rules with ``match: any`` see them, as they see every message.

A message longer than ``routing.max_scan_chars`` is read by its head and tail only, so a pasted
7 MB log costs the rules and the language detector what 64 KiB does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

    from turnout.caller import Caller
    from turnout.wire.chat import ChatRequest, Message

CHARS_PER_TOKEN: Final = 4
SCAN_CHARS: Final = 65_536  # routing.max_scan_chars' default
FOLLOW_UP_CHARS: Final = 240  # a last user turn this short reads as a follow-up
IMAGE_TOKENS: Final = 765  # OpenAI's cost of one high-detail 512px tile set; a fair upper guess
JSON_FORMATS: Final = frozenset({"json_object", "json_schema"})


@dataclass(frozen=True, slots=True)
class RoutingInput:
    """What the decision tiers and the policy read about one request."""

    text: str
    """The last user turn's text: what rules and classifiers look at first."""
    context: str | None
    """The previous user turn, when the last one is a short follow-up in a conversation."""
    texts: tuple[str, ...]
    """Every message's text, in order, for rules that match any message."""
    token_estimate: int
    has_images: bool
    needs_tools: bool
    needs_json: bool
    output_limit: int | None
    user: str | None
    caller: Caller
    language: str | None
    """The last user turn's language (ISO 639-1), when the config routes by language."""

    @property
    def tokens(self) -> int:
        """The request's token estimate: its prompt and the output it allows."""
        return self.token_estimate + (self.output_limit or 0)

    @property
    def tenant(self) -> str:
        """The client (a hash of its key): what caches are scoped by."""
        return self.caller.key


def message_text(message: Message) -> str:
    """The text of a message: its string content, or its text parts joined by newlines."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.text for part in content if part.text)


@dataclass(frozen=True, slots=True)
class Analyzer:
    """`analyze` with the config's language detector and scan bound."""

    detect: Callable[[str], str] | None = None
    """The language detector, when the config routes by language."""
    scan_chars: int = SCAN_CHARS

    def __call__(self, request: ChatRequest, caller: Caller) -> RoutingInput:
        """See `analyze`."""
        return analyze(request, caller, self.detect, self.scan_chars)


def scanned(text: str, scan_chars: int) -> str:
    """``text``, or its first and last ``scan_chars`` / 2 characters when it is longer."""
    if len(text) <= scan_chars:
        return text
    half = scan_chars // 2
    return text[:half] + "\n" + text[-half:]


def analyze(
    request: ChatRequest,
    caller: Caller,
    detect: Callable[[str], str] | None = None,
    scan_chars: int = SCAN_CHARS,
) -> RoutingInput:
    """Read a decoded request of ``caller``'s once and keep what routing needs.

    ``detect``: the language detector, when the config routes by language; ``scan_chars``:
    how much of each message rules, classifiers and the language detector read (its head and
    tail); the token estimate counts every character.
    """
    whole = tuple(message_text(message) for message in request.messages)
    chars = sum(len(text) for text in whole) + sum(len(tool) for tool in request.tools or ())
    texts = tuple(scanned(text, scan_chars) for text in whole)
    users = [
        text
        for message, text in zip(reversed(request.messages), reversed(texts), strict=True)
        if message.role == "user"
    ][:2]
    last_user = users[0] if users else texts[-1]
    follow_up = len(users) == 2 and len(last_user.strip()) <= FOLLOW_UP_CHARS
    images = sum(
        1
        for message in request.messages
        if not isinstance(message.content, str) and message.content is not None
        for part in message.content
        if part.type == "image_url"
    )
    format_type = request.response_format.type if request.response_format else None
    return RoutingInput(
        text=last_user,
        context=users[1] if follow_up and users[1].strip() else None,
        texts=texts,
        token_estimate=chars // CHARS_PER_TOKEN + images * IMAGE_TOKENS + 4 * len(texts),
        has_images=images > 0,
        needs_tools=bool(request.tools),
        needs_json=format_type in JSON_FORMATS,
        output_limit=request.output_limit,
        user=request.user,
        caller=caller,
        language=detect(last_user) if detect is not None else None,
    )
