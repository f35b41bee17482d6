"""`HashEmbedder`: deterministic vectors from hashed words, a fast stand-in for the encoder."""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

_WORD: Final = re.compile(r"\w+")


class HashEmbedder:
    """Deterministic vectors from hashed words and word pairs: a fast stand-in for tests.

    Texts that share words get similar vectors, so nearest-neighbour logic behaves sensibly,
    but there is no semantics beyond shared words.
    """

    def __init__(self, dim: int = 64) -> None:
        self._dim = dim

    @property
    def dim(self) -> int:
        """As constructed."""
        return self._dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-length embeddings, shape ``(len(texts), dim)``."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            for feature in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self._dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            out[row] = out[row] / norm if norm else _unit(self._dim)
        return out


def _unit(dim: int) -> npt.NDArray[np.float32]:
    vector = np.zeros(dim, dtype=np.float32)
    vector[0] = 1.0
    return vector
