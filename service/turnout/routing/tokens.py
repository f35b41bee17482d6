"""Text to token ids for an encoder build: SentencePiece's own, or a `tokenizers` file.

A build whose manifest has a ``sentencepiece`` entry is tokenized by the ``sentencepiece``
library from its ``tokenizer.model`` (e5-small: XLM-R's Unigram model, 50 MB in memory where
`tokenizers` holds the same vocabulary in 270 MB, and about 6 times faster; use-m3: its own
``sp.model``, 27 MB instead of 123 MB), with the entry's ids before and after each text. Any
other build is tokenized by `tokenizers` from its ``tokenizer.json``, whose post-processor adds
them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Protocol

import sentencepiece
from tokenizers import Tokenizer

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


FILES: Final = ("tokenizer.json", "tokenizer.model")


def tokenizer_files(folder: Path) -> list[str]:
    """The tokenizer files a build folder holds (its manifest lists their sha256)."""
    return [name for name in FILES if (folder / name).exists()]


class TokenIds(Protocol):
    """A build's tokenizer, its special ids included."""

    @property
    def unknown_id(self) -> int | None:
        """The id of text the vocabulary has no piece for, where the build names it."""
        ...

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The ids of each text, in order."""
        ...

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids`` (special ids dropped)."""
        ...


def load_tokenizer(folder: Path, manifest: dict[str, Any]) -> TokenIds:
    """The tokenizer of the encoder build in ``folder`` (its manifest already checked)."""
    spec = manifest.get("sentencepiece")
    spread = bool(manifest.get("unknown_per_character"))
    if spec is not None:
        return SentencePieceIds(
            folder / spec["file"],
            before=spec["before"],
            after=spec["after"],
            unknown_per_character=spread,
        )
    unknown = int(manifest["unknown_id"]) if spread else None
    return TokenizersIds(folder / "tokenizer.json", unknown_per_character=unknown)


class SentencePieceIds:
    """A SentencePiece model; ``before`` and ``after`` are put around every text's ids.

    ``unknown_per_character``: a run of characters the model has no piece for is one ``<unk>``
    per character (use-m3's reference tokenizer does so; SentencePiece fuses the run).
    """

    def __init__(
        self,
        path: Path,
        *,
        before: list[int],
        after: list[int],
        unknown_per_character: bool = False,
    ) -> None:
        self._model = sentencepiece.SentencePieceProcessor(model_file=str(path))
        self._before, self._after = list(before), list(after)
        self.unknown_id: int | None = self._model.unk_id()
        self._spread = unknown_per_character

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """See `TokenIds.ids`."""
        # One call per text: given a list, SentencePiece starts threads for each call, which
        # cost a batch of a few prompts 50-200 us more than the encoding itself.
        found: list[list[int]] = [self._model.encode(text, out_type=int) for text in texts]
        unknown = self.unknown_id
        if self._spread:
            found = [
                self._spread_unknown(text) if unknown in row else row
                for text, row in zip(texts, found, strict=True)
            ]
        return [[*self._before, *row, *self._after] for row in found]

    def _spread_unknown(self, text: str) -> list[int]:
        """``text``'s ids with each unknown run spread to one id per character."""
        pieces = self._model.encode(text, out_type="proto").pieces
        out: list[int] = []
        for piece in pieces:
            out += (
                [piece.id] * max(1, len(piece.surface))
                if piece.id == self.unknown_id
                else [piece.id]
            )
        return out

    def decode(self, ids: list[int]) -> str:
        """See `TokenIds.decode`."""
        text: str = self._model.decode(ids)
        return text


class TokenizersIds:
    """A `tokenizers` file, without truncation or padding (the server does both its way).

    ``unknown_per_character``: the unknown id, to emit once per character of an unknown run
    where `tokenizers` fuses the run into one (how the use-m3 build was checked against its
    reference).
    """

    def __init__(self, path: Path, *, unknown_per_character: int | None = None) -> None:
        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._unknown = unknown_per_character
        self.unknown_id = unknown_per_character

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """See `TokenIds.ids`."""
        encodings = self._tokenizer.encode_batch(list(texts))
        unknown = self._unknown
        if unknown is None:
            return [encoding.ids for encoding in encodings]
        rows = []
        for encoding in encodings:
            ids: list[int] = encoding.ids
            if unknown in ids:
                spread: list[int] = []
                for token, (start, end) in zip(ids, encoding.offsets, strict=True):
                    spread += [token] * max(1, end - start) if token == unknown else [token]
                ids = spread
            rows.append(ids)
        return rows

    def decode(self, ids: list[int]) -> str:
        """See `TokenIds.decode`."""
        text: str = self._tokenizer.decode(ids)
        return text
