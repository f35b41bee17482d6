"""Micro-batching: lone requests go at once; requests that arrive while workers are busy share."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import anyio
import numpy as np
import pytest

from tests.fakes.embedder import HashEmbedder
from turnout.routing.batcher import MicroBatcher

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt


class GatedEmbedder:
    """A HashEmbedder whose first call waits for the test to open a gate; records batch sizes."""

    def __init__(self) -> None:
        self.inner = HashEmbedder(16)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.sizes: list[int] = []
        self.fail = False

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.sizes.append(len(texts))
        self.entered.set()
        self.gate.wait(timeout=10)
        if self.fail:
            raise ValueError("encoder broke")
        return self.inner.embed(texts)


@pytest.mark.anyio
async def test_lone_request_is_embedded_at_once() -> None:
    embedder = GatedEmbedder()
    embedder.gate.set()
    batcher = MicroBatcher(embedder, workers=1, max_batch=8)
    vector = await batcher.embed("hello world")
    np.testing.assert_allclose(vector, HashEmbedder(16).embed(["hello world"])[0])
    assert embedder.sizes == [1]


@pytest.mark.anyio
async def test_requests_queued_behind_a_busy_worker_leave_as_one_batch() -> None:
    embedder = GatedEmbedder()
    batcher = MicroBatcher(embedder, workers=1, max_batch=4)
    texts = [f"text number {i}" for i in range(7)]
    results: dict[str, npt.NDArray[np.float32]] = {}

    async def one(text: str) -> None:
        results[text] = await batcher.embed(text)

    async with anyio.create_task_group() as group:
        group.start_soon(one, texts[0])
        await anyio.to_thread.run_sync(embedder.entered.wait)
        for text in texts[1:]:
            group.start_soon(one, text)
        await anyio.wait_all_tasks_blocked()
        embedder.gate.set()
    assert embedder.sizes == [1, 4, 2]
    expected = HashEmbedder(16).embed(texts)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(results[text], expected[i])
    assert (batcher.batches, batcher.embedded) == (3, 7)


@pytest.mark.anyio
async def test_an_encoder_error_reaches_every_caller_of_its_batch() -> None:
    embedder = GatedEmbedder()
    embedder.fail = True
    embedder.gate.set()
    batcher = MicroBatcher(embedder, workers=2, max_batch=4)
    with pytest.raises(ValueError, match="encoder broke"):
        await batcher.embed("x")


@pytest.mark.anyio
async def test_the_texts_of_one_request_leave_in_one_batch() -> None:
    embedder = GatedEmbedder()
    embedder.gate.set()
    batcher = MicroBatcher(embedder, workers=1, max_batch=8)
    last, context = await batcher.embed_all(("now in Python", "write a quicksort in C"))
    expected = HashEmbedder(16).embed(["now in Python", "write a quicksort in C"])
    np.testing.assert_allclose(last, expected[0])
    np.testing.assert_allclose(context, expected[1])
    assert embedder.sizes == [2]
