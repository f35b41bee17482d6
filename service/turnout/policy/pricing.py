"""What tokens cost at a model: input, cached input, cache writes, output and reasoning.

Prices are USD per million tokens (`turnout.config.ModelSettings`, from the config or the
models.dev catalog). A prompt longer than a model's ``long_context.above_tokens`` is priced at
that tier. Cached and cache-written prompt tokens take their own prices where the model has
them (else the input price), reasoning tokens theirs (else the output price).

`answer_tokens` reads the counts an upstream reports, in any of the three APIs' shapes:

- Chat Completions: ``prompt_tokens`` (cached ones included, ``prompt_tokens_details
  .cached_tokens``) and ``completion_tokens`` (reasoning included, ``completion_tokens_details
  .reasoning_tokens``);
- Responses: the same in ``input_tokens``/``output_tokens`` and their ``*_details``;
- Messages: ``input_tokens`` without the cache's, ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens`` beside it, and ``output_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

import msgspec

if TYPE_CHECKING:
    from turnout.config import ModelSettings

MTOK: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class Tokens:
    """One answer's tokens (``cached`` and ``cache_write`` count in ``input``)."""

    input: int
    output: int
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0
    """Of ``output``."""


class _Rates(Protocol):
    """A model's prices, or its long-prompt tier's."""

    @property
    def input_per_mtok(self) -> float: ...
    @property
    def output_per_mtok(self) -> float: ...
    @property
    def cache_read_per_mtok(self) -> float | None: ...
    @property
    def cache_write_per_mtok(self) -> float | None: ...


def cost(model: ModelSettings, tokens: Tokens) -> float:
    """The price of ``tokens`` at ``model``, in dollars."""
    tier = model.long_context
    rates: _Rates = tier if tier is not None and tokens.input > tier.above_tokens else model
    fresh = max(tokens.input - tokens.cached - tokens.cache_write, 0)
    cached = rates.cache_read_per_mtok
    written = rates.cache_write_per_mtok
    reasoning = model.reasoning_per_mtok
    total = (
        fresh * rates.input_per_mtok
        + tokens.cached * (rates.input_per_mtok if cached is None else cached)
        + tokens.cache_write * (rates.input_per_mtok if written is None else written)
        + max(tokens.output - tokens.reasoning, 0) * rates.output_per_mtok
        + tokens.reasoning * (rates.output_per_mtok if reasoning is None else reasoning)
    )
    return total / MTOK


class _Details(msgspec.Struct):
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    prompt_tokens_details: _Details | None = None
    completion_tokens_details: _Details | None = None
    input_tokens_details: _Details | None = None
    output_tokens_details: _Details | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class _Answer(msgspec.Struct):
    usage: _Usage | None = None


_ANSWER: Final = msgspec.json.Decoder(_Answer)


def answer_tokens(body: bytes) -> Tokens | None:
    """The tokens an upstream's JSON answer reports, or None without a readable ``usage``."""
    try:
        usage = _ANSWER.decode(body).usage
    except msgspec.MsgspecError:
        return None
    if usage is None:
        return None
    read = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    prompt_details = usage.prompt_tokens_details or usage.input_tokens_details
    output_details = usage.completion_tokens_details or usage.output_tokens_details
    if usage.prompt_tokens is not None:
        prompt = usage.prompt_tokens
    else:  # Messages counts cache reads and writes apart from input_tokens
        prompt = (usage.input_tokens or 0) + read + written
    return Tokens(
        input=prompt,
        output=usage.completion_tokens or usage.output_tokens or 0,
        cached=(prompt_details.cached_tokens or 0) if prompt_details else read,
        cache_write=written,
        reasoning=(output_details.reasoning_tokens or 0) if output_details else 0,
    )
