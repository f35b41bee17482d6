from __future__ import annotations

import numpy as np
import pytest

from tests.builds import USE_M3
from tests.fakes.embedder import HashEmbedder
from turnout.routing.encoder import OnnxEmbedder
from turnout.routing.focus import FocusedEmbedder, instruction

ARTICLE = (
    "The city council voted 7-2 on Tuesday to approve a $48 million plan to rebuild the "
    "Riverside Bridge, which has been closed to heavy trucks since an inspection in March found "
    "corrosion in two support beams. Construction is expected to start next spring and last 18 "
    "months. Mayor Linda Ortiz said a temporary ferry service would run during peak hours."
)


def test_instruction_is_a_short_end_of_a_long_prompt() -> None:
    assert instruction("Summarize this: short text") is None
    assert instruction(f"Summarize the following article:\n\n{ARTICLE}") == (
        "Summarize the following article:"
    )
    assert instruction(f"{ARTICLE}\n\nTL;DR?") == "TL;DR?"
    assert instruction(f"Read this.\n{ARTICLE}\nThen list the dates.") == (
        "Read this.\nThen list the dates."
    )
    assert instruction(ARTICLE + " " + ARTICLE) is None  # one paragraph: all body
    assert instruction(f"{ARTICLE}\n\n{ARTICLE}") is None  # no short end


def test_short_prompts_pass_through_unchanged() -> None:
    inner = HashEmbedder(32)
    texts = ["hello there", "fix my python function"]
    assert np.array_equal(FocusedEmbedder(inner).embed(texts), inner.embed(texts))


@pytest.fixture(scope="module")
def encoder() -> OnnxEmbedder:
    return OnnxEmbedder(USE_M3, threads=1, max_tokens=256)


def test_the_instruction_separates_requests_about_one_document(encoder: OnnxEmbedder) -> None:
    prompts = [
        f"Summarize the following article in two sentences:\n\n{ARTICLE}",
        f"Extract every date and amount from this article as JSON:\n\n{ARTICLE}",
    ]
    whole = encoder.embed(prompts)
    focused = FocusedEmbedder(encoder).embed(prompts)
    assert np.allclose(np.linalg.norm(focused, axis=1), 1.0, atol=1e-5)
    assert float(focused[0] @ focused[1]) < float(whole[0] @ whole[1]) - 0.05
