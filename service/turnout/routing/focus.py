"""What the router embeds: a long prompt's instruction weighs as much as the material it wraps.

A user who pastes an article and asks for a summary, or pastes a log and asks what is wrong,
writes one short instruction around a long body. Embedded whole, the body drowns the
instruction: two requests about one article, one for a summary and one for its dates, land
close together, and far from every exemplar. `FocusedEmbedder` finds the instruction (a short
first or last paragraph of a long prompt), embeds it beside the whole prompt in the same batch,
and returns the normalized mean of the two. Short prompts pass through unchanged.

Index builds and the serving tier embed through the same `FocusedEmbedder`, so exemplars and
prompts are seen the same way.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from turnout.routing.encoder import Embedder

LONG_PROMPT_CHARS: Final = 320
INSTRUCTION_CHARS: Final = 240
INSTRUCTION_WEIGHT: Final = 0.5
_PARAGRAPHS: Final = re.compile(r"\n\s*\n")


def mix(
    main: npt.NDArray[np.float32], other: npt.NDArray[np.float32], weight: float
) -> npt.NDArray[np.float32]:
    """Unit-length mean of embeddings, ``other`` weighing ``weight``; rows of 2-D arrays too."""
    mixed = (1 - weight) * main + weight * other
    unit: npt.NDArray[np.float32] = mixed / np.linalg.norm(mixed, axis=-1, keepdims=True)
    return unit


def instruction(text: str) -> str | None:
    """The instruction of a long prompt: its first and last paragraphs that are short.

    Paragraphs are split at blank lines, or at line breaks when there are none. None for a
    short prompt, or when neither end is short (one long paragraph, all body).
    """
    text = text.strip()
    if len(text) <= LONG_PROMPT_CHARS:
        return None
    parts = [part.strip() for part in _PARAGRAPHS.split(text) if part.strip()]
    if len(parts) < 2:
        parts = [line.strip() for line in text.splitlines() if line.strip()]
    if len(parts) < 2:
        return None
    ends = [parts[0], parts[-1]]
    found = [part for part in ends if len(part) <= INSTRUCTION_CHARS]
    return "\n".join(found) or None


class FocusedEmbedder:
    """An `Embedder` that weighs a long prompt's instruction as much as the whole prompt."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner

    @property
    def dim(self) -> int:
        """The inner embedder's dimension."""
        return self._inner.dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-length embeddings of ``texts``; one inner batch holds any instructions too."""
        found = [(i, part) for i, text in enumerate(texts) if (part := instruction(text))]
        if not found:
            return self._inner.embed(texts)
        vectors = self._inner.embed([*texts, *(part for _, part in found)])
        out = vectors[: len(texts)]
        rows = [i for i, _ in found]
        out[rows] = mix(out[rows], vectors[len(texts) :], INSTRUCTION_WEIGHT)
        return out
