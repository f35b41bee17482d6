"""Sentence embeddings for the semantic tier: the ONNX encoder built by `turnout.models`.

`OnnxEmbedder` runs an encoder built by ``turnout setup`` (by default ``use-m3``, USE
multilingual v3) with onnxruntime and its build's tokenizer (`turnout.routing.tokens`); torch
is never imported here. Long
prompts keep their head and their tail (instructions tend to sit at either end), within the
configured token window.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path  # noqa: TC003 - kept for the signature
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from turnout.errors import ConfigError
from turnout.routing.tokens import load_tokenizer

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

GROUP_SLACK: Final = 16
CHARS_PER_TOKEN: Final = 8  # generous: clipping text first only bounds the tokenizer's work
READ_CHARS: Final = 500
ORT_ERRORS: Final = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidProtobuf,
    ort_state.NoSuchFile,
    ort_state.RuntimeException,
)


class Embedder(Protocol):
    """Turns texts into unit-length vectors."""

    @property
    def dim(self) -> int:
        """Vector size."""
        ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embeddings of shape ``(len(texts), dim)``, each of unit length. CPU-bound."""
        ...


def head_and_tail(ids: list[int], limit: int) -> list[int]:
    """Keep the first and last tokens of a sequence longer than ``limit`` ([CLS] and [SEP] too)."""
    if len(ids) <= limit:
        return ids
    head = limit // 2
    return ids[:head] + ids[len(ids) - (limit - head) :]


def length_groups(lengths: Sequence[int]) -> list[list[int]]:
    """Positions of ``lengths`` in groups of alike length, shortest first.

    A group grows while its longest member is at most twice its shortest, or at most
    `GROUP_SLACK` tokens longer: padding then costs at most as much as the real tokens, and
    short prompts, which differ by a few tokens, still share one encoder call.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    groups: list[list[int]] = []
    for i in order:
        if groups and lengths[i] <= max(
            2 * lengths[groups[-1][0]], lengths[groups[-1][0]] + GROUP_SLACK
        ):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


class OnnxEmbedder:
    """The built encoder, served by onnxruntime. Thread-safe: `embed` may run in worker threads."""

    def __init__(self, folder: Path, *, threads: int, max_tokens: int) -> None:
        """Load and verify an encoder build.

        ``max_tokens``: of a longer text, how many tokens it reads (head and tail). A tuned
        build reads at most what it was tuned on (its manifest's ``read_tokens``): longer,
        it meets texts unlike those it learned from, and costs more.

        Raises:
            ConfigError: the build is missing, altered, or shorter than ``max_tokens``.
        """
        self.manifest = _manifest(folder)
        self.folder = folder
        self.threads = threads
        self.max_tokens = min(max_tokens, self.manifest.get("read_tokens", max_tokens))
        if max_tokens > self.manifest["max_tokens"]:
            raise ConfigError(
                f"routing.encoder.max_tokens: {max_tokens} is over the encoder's "
                f"{self.manifest['max_tokens']}"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.enable_cpu_mem_arena = False  # the arena never shrinks after a long batch
        # Spinning off. Left on, its threads spin for tens of milliseconds after each run (a
        # core each, idle or not); on only within a run (``session.force_spinning_stop``), two
        # back-to-back runs of `benchmarks/decision.py --only taxonomy` (2026-12-03, 2-core AMD
        # EPYC) gave a lone caller 2.15 against 3.13 ms p50 but 32 callers 251 against 290
        # decisions/s and a worse p99 at fixed rates: the two encoders' spinning threads take
        # the cores from each other. That host's speed drifted within the hour, so this is a
        # lead for a benchmark of its own, not a verdict.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        except ORT_ERRORS as exc:
            raise ConfigError(f"cannot load the encoder in {folder}: {exc}") from exc
        self.tokenizer = load_tokenizer(folder, self.manifest)  # its files' sha256 checked
        self._max_chars = self.max_tokens * CHARS_PER_TOKEN
        self._inputs = tuple(self.manifest["inputs"])

    @property
    def name(self) -> str:
        """The encoder's name in its manifest (``use-m3``, ``e5-small+tuned``, ...)."""
        found: str = self.manifest["name"]
        return found

    @property
    def sha256(self) -> str:
        """The model file's sha256: what an index build records as its encoder."""
        found: str = self.manifest["files"]["model.onnx"]
        return found

    @property
    def identity(self) -> str:
        """A digest of every file of the build, model and tokenizer, and of how much it reads.

        What build ids use: a tokenizer or a reading length that changes the vectors then makes
        the index builds out of date too.
        """
        files = sorted(self.manifest["files"].items())
        return hashlib.sha256(json.dumps([files, self.max_tokens]).encode()).hexdigest()

    @property
    def languages(self) -> frozenset[str] | None:
        """The ISO 639-1 codes of the languages it was trained on; None where the build says none.

        ``use-m3`` names its 16; ``e5-small``'s hundred are not listed.
        """
        codes = self.manifest.get("language_codes")
        return None if codes is None else frozenset(codes)

    @property
    def dim(self) -> int:
        """384 for MiniLM, 512 for USE."""
        dim: int = self.manifest["dim"]
        return dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-length embeddings, shape ``(len(texts), dim)``.

        Texts of unlike lengths run in separate groups (`length_groups`): the encoder's cost
        grows with every padded position, so a short text padded to a long one's length would
        cost as much as the long one.
        """
        clipped = [self._clip(text) for text in texts]
        rows = [head_and_tail(ids, self.max_tokens) for ids in self.tokenizer.ids(clipped)]
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        for group in length_groups([len(row) for row in rows]):
            out[group] = self._run([rows[i] for i in group])
        return out

    def unknown_share(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Of each text's tokens (in its first `READ_CHARS` characters), the unknown ones' share.

        Near 1 for a script the encoder has no pieces for (use-m3: 0.75 for Telugu, Bengali and
        Kannada, 0.55 for Hindi; 0.1-0.2 for Greek, Hebrew and Vietnamese); 0 where the build
        names no unknown id.
        """
        unknown = self.tokenizer.unknown_id
        out = np.zeros(len(texts), dtype=np.float32)
        if unknown is None:
            return out
        for i, ids in enumerate(self.tokenizer.ids([text[:READ_CHARS] for text in texts])):
            out[i] = ids.count(unknown) / len(ids) if ids else 0.0
        return out

    def _run(self, rows: list[list[int]]) -> npt.NDArray[np.float32]:
        width = max(len(row) for row in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        out: npt.NDArray[np.float32] = self._session.run(
            ["embedding"], {name: feed[name] for name in self._inputs}
        )[0]
        return out

    def _clip(self, text: str) -> str:
        if len(text) <= self._max_chars:
            return text
        half = self._max_chars // 2
        return text[:half] + " " + text[-half:]


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"no encoder build in {folder} ({exc}): run `turnout setup`") from exc
    for name, expected in manifest["files"].items():
        try:
            digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        except OSError as exc:
            raise ConfigError(f"encoder build in {folder} is incomplete: {exc}") from exc
        if digest != expected:
            raise ConfigError(f"{folder / name} does not match its manifest's sha256")
    return manifest
