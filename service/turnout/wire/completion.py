"""A Chat Completions answer as the other surfaces read it: its JSON body and its stream's chunks.

Only what a translation needs is decoded (text, refusal, tool calls, finish reason, usage);
everything else is ignored. `ChatChunks` folds a stream's chunks into one answer as they pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import msgspec


class Function(msgspec.Struct, frozen=True):
    """A tool call's function: its name and JSON arguments (a fragment of them in a chunk)."""

    name: str | None = None
    arguments: str | None = None


class ToolCall(msgspec.Struct, frozen=True):
    """One tool call; in a chunk, ``index`` says which call a fragment belongs to."""

    index: int = 0
    id: str | None = None
    function: Function = Function()


class Message(msgspec.Struct, frozen=True):
    """An answer's message, or a chunk's delta."""

    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None


class Choice(msgspec.Struct, frozen=True):
    """The first choice is the answer; ``message`` in a body, ``delta`` in a chunk."""

    message: Message | None = None
    delta: Message | None = None
    finish_reason: str | None = None


class CachedTokens(msgspec.Struct, frozen=True):
    """``usage.prompt_tokens_details``."""

    cached_tokens: int = 0


class ReasoningTokens(msgspec.Struct, frozen=True):
    """``usage.completion_tokens_details``."""

    reasoning_tokens: int = 0


class Usage(msgspec.Struct, frozen=True):
    """Token counts as the upstream reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: CachedTokens | None = None
    completion_tokens_details: ReasoningTokens | None = None

    @property
    def cached(self) -> int:
        """Prompt tokens read from the provider's cache."""
        details = self.prompt_tokens_details
        return 0 if details is None else details.cached_tokens

    @property
    def reasoning(self) -> int:
        """Output tokens spent reasoning."""
        details = self.completion_tokens_details
        return 0 if details is None else details.reasoning_tokens


class Completion(msgspec.Struct, frozen=True):
    """A chat completion, or one chunk of a streamed one."""

    choices: list[Choice] = []
    usage: Usage | None = None


COMPLETION: Final = msgspec.json.Decoder(Completion)


@dataclass(slots=True)
class Call:
    """A tool call as the chunks have told it so far."""

    id: str
    name: str
    arguments: str = ""


@dataclass(slots=True)
class Answer:
    """An answer: its text, refusal and tool calls, why it ended, and what it used."""

    text: str = ""
    refusal: str = ""
    calls: list[Call] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None


def answer_of(completion: Completion) -> Answer:
    """The answer of a whole (not streamed) completion."""
    answer = Answer(usage=completion.usage)
    if not completion.choices:
        return answer
    choice = completion.choices[0]
    message = choice.message or Message()
    answer.text = message.content or ""
    answer.refusal = message.refusal or ""
    answer.finish_reason = choice.finish_reason
    for i, call in enumerate(message.tool_calls or ()):
        function = call.function
        answer.calls.append(
            Call(call.id or f"call_{i}", function.name or "", function.arguments or "")
        )
    return answer


def call_ids(body: bytes) -> tuple[str, ...]:
    """The ids of the tool calls in a completion's body; none when it is not one."""
    try:
        completion = COMPLETION.decode(body)
    except (msgspec.MsgspecError, RecursionError):
        return ()
    return tuple(call.id for call in answer_of(completion).calls)
