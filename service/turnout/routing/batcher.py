"""Micro-batching: concurrent requests share encoder calls.

Batches form naturally, without a timer: when a worker is free, whatever is queued goes at once
(a lone request waits for nothing); while every worker is busy, arrivals queue and leave
together as one batch, up to ``max_batch``. So latency at low load stays that of batch 1, and
throughput under load rises with the batch size. Workers run in threads, bounded by one
``CapacityLimiter`` sized to the cores; onnxruntime releases the GIL while it computes.

All bookkeeping happens on the event loop between awaits, so it needs no locks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    import numpy.typing as npt

    from turnout.routing.encoder import Embedder


@dataclass(eq=False)
class _Slot:
    text: str
    vector: npt.NDArray[np.float32] | None = None
    error: BaseException | None = None
    done: anyio.Event = field(default_factory=anyio.Event)


class MicroBatcher:
    """Embeds single texts for many concurrent callers, batching them under load."""

    def __init__(self, embedder: Embedder, *, workers: int, max_batch: int) -> None:
        self._embedder = embedder
        self._limiter = anyio.CapacityLimiter(workers)
        self._workers = workers
        self._max_batch = max_batch
        self._queue: list[_Slot] = []
        self._busy = 0
        self._freed = anyio.Event()
        self.batches = 0
        self.embedded = 0

    @property
    def dim(self) -> int:
        """The embedder's vector size."""
        return self._embedder.dim

    @property
    def busy(self) -> bool:
        """Whether every worker is embedding: a text queued now waits for a batch to end."""
        return self._busy >= self._workers

    async def embed(self, text: str) -> npt.NDArray[np.float32]:
        """The embedding of ``text``, shape ``(dim,)``."""
        return (await self.embed_all((text,)))[0]

    async def embed_all(self, texts: Sequence[str]) -> list[npt.NDArray[np.float32]]:
        """The embeddings of a few texts of one request; they queue, and so batch, together."""
        slots = [_Slot(text) for text in texts]
        self._queue += slots
        try:
            while not all(slot.done.is_set() for slot in slots):
                if self._busy < self._workers and any(slot in self._queue for slot in slots):
                    await self._run_batch()
                else:
                    # Every batch that ends frees a worker: ours, or one we can now use.
                    await self._freed.wait()
        finally:
            for slot in slots:
                if slot in self._queue:  # cancelled before its batch left
                    self._queue.remove(slot)
        out = []
        for slot in slots:
            if slot.error is not None:
                raise slot.error
            if slot.vector is None:
                raise AssertionError("a finished slot holds a vector or an error")
            out.append(slot.vector)
        return out

    async def _run_batch(self) -> None:
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        self._busy += 1
        try:
            vectors = await anyio.to_thread.run_sync(
                self._embedder.embed, [slot.text for slot in batch], limiter=self._limiter
            )
        except Exception as exc:  # noqa: BLE001 - not swallowed: every caller of the batch re-raises it
            for slot in batch:
                slot.error = exc
        else:
            for slot, vector in zip(batch, vectors, strict=True):
                slot.vector = vector
            self.batches += 1
            self.embedded += len(batch)
        finally:
            self._busy -= 1
            for slot in batch:
                slot.done.set()
            self._freed.set()
            self._freed = anyio.Event()
