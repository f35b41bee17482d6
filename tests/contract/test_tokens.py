"""The encoders' tokenizers: each SentencePiece model against its build's `tokenizers` file."""

from __future__ import annotations

import json

import pytest

from tests.builds import E5_SMALL, USE_M3
from turnout.routing.tokens import SentencePieceIds, TokenizersIds, load_tokenizer

TEXTS = (
    "Write a Python function that merges two sorted lists.",
    "একটি দোকানে ২৪টি কলম আছে। প্রতিটি বাক্সে ৬টি কলম রাখা হয়।",  # Bengali
    "小明有5个苹果\uff0c吃了2个\uff0c还剩几个\uff1f",  # Chinese, full-width punctuation
    "Traceback (most recent call last):\n  File \"app.py\", line 3\nKeyError: 'id'",
    "Écris un poème sur la mer, s'il te plaît.",
    "<s> literal markers </s> are text, not specials",
)


@pytest.fixture(scope="module")
def e5_manifest() -> dict[str, object]:
    manifest: dict[str, object] = json.loads((E5_SMALL / "manifest.json").read_text())
    return manifest


def test_e5_is_served_by_sentencepiece_with_its_query_prefix(
    e5_manifest: dict[str, object],
) -> None:
    tokenizer = load_tokenizer(E5_SMALL, e5_manifest)
    assert isinstance(tokenizer, SentencePieceIds)
    (ids,) = tokenizer.ids(["hello"])
    assert ids[:4] == [0, 41, 1294, 12]  # <s> "▁que" "ry" ":"
    assert ids[-1] == 2  # </s>
    assert tokenizer.decode(ids) == "query: hello"


def test_sentencepiece_and_tokenizers_agree_but_on_a_trailing_space() -> None:
    served = load_tokenizer(E5_SMALL, json.loads((E5_SMALL / "manifest.json").read_text()))
    written = TokenizersIds(E5_SMALL / "tokenizer.json")
    assert served.ids(TEXTS[:5]) == written.ids(TEXTS[:5])
    # tokenizers keeps a trailing space as a last "▁" (id 6); XLM-R's SentencePiece drops it
    spaced = written.ids(["the end \n"])[0]
    assert spaced[-2] == 6
    assert served.ids(["the end \n"])[0] == spaced[:-2] + spaced[-1:]
    # literal special markers are text to SentencePiece, never <s> or </s> ids
    literal = served.ids(TEXTS[5:])[0]
    assert literal.count(0) == 1
    assert literal.count(2) == 1


def test_use_m3_is_served_by_its_sentencepiece_model_with_unknowns_per_character() -> None:
    tokenizer = load_tokenizer(USE_M3, json.loads((USE_M3 / "manifest.json").read_text()))
    assert isinstance(tokenizer, SentencePieceIds)
    (ids,) = tokenizer.ids(["ক খ"])  # Bengali, which use-m3's vocabulary lacks
    assert ids.count(0) == 2  # one unknown id per unknown character, as the reference has it
    # The same ids as the `tokenizers` file the build also writes, unknown runs spread there too,
    # but for literal markers: that file reads "<s>" in a prompt as the special id, SentencePiece
    # (as the reference) as text.
    written = TokenizersIds(USE_M3 / "tokenizer.json", unknown_per_character=0)
    assert tokenizer.ids(TEXTS[:5]) == written.ids(TEXTS[:5])
    literal = tokenizer.ids(TEXTS[5:])[0]
    assert (literal.count(1), literal.count(2)) == (1, 1)
    assert tokenizer.unknown_id == 0
