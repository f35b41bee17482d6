"""The screen's bar, on held-out scores made up to show each case."""

from __future__ import annotations

import numpy as np

from turnout.models.use import LANGUAGES
from turnout.routing.language import LanguageDetector
from turnout.training.screen import MIN_ACCEPTED, UNREAD, fit_bar, fit_mix, learnable

ROUTES = {"a": {"threshold": 0.1}, "b": {"threshold": 0.1}}


def scores(confidence: list[float], best: list[int]) -> np.ndarray:
    """Two routes' scores: ``best`` gets ``confidence``, the other route a tenth of it."""
    out = np.zeros((len(best), 2), dtype=np.float32)
    for row, (value, route) in enumerate(zip(confidence, best, strict=True)):
        out[row, route] = value
        out[row, 1 - route] = value / 10
    return out


def test_the_bar_is_the_lowest_score_at_which_the_screen_loses_nothing() -> None:
    n = 60
    confidence = list(np.linspace(0.9, 0.15, n))
    labels = np.zeros(n, dtype=np.int64)
    # The screen is right on its 40 surest rows, wrong on the rest; the encoder always right.
    screen = scores(confidence, [0] * 40 + [1] * 20)
    encoder = scores([0.5] * n, [0] * n)
    fitted = fit_bar(screen, encoder, labels, ROUTES)
    assert fitted["bar"] == np.floor(confidence[39] * 1e4) / 1e4
    assert fitted["held_out_decided"] == round(40 / n, 4)
    assert fitted["held_out_accuracy"] == {
        "screen": round(40 / n, 4),
        "encoder": 1.0,
        "together": 1.0,
    }


def test_the_screen_also_stays_above_a_floor_between_the_encoders_accuracy_and_one() -> None:
    n = 60
    confidence = list(np.linspace(0.9, 0.15, n))
    labels = np.zeros(n, dtype=np.int64)
    screen = scores(confidence, [0] * 40 + [1, 0] * 10)
    # The encoder is wrong on the top row and where the screen is right among the last 20: the
    # screen loses nothing on any row, but its precision must stay at or above (1 + 49/60) / 2
    # (0.908), which holds down to its 48th row (44 of 48 right; 45 of 50 is not).
    encoder = scores([0.5] * n, [1] + [0] * 39 + [0, 1] * 10)
    fitted = fit_bar(screen, encoder, labels, ROUTES)
    assert fitted["bar"] == np.floor(confidence[47] * 1e4) / 1e4
    assert fitted["held_out_decided"] == 0.8
    assert fitted["held_out_accuracy"]["together"] == round((44 + 6) / 60, 4)


def test_under_its_route_threshold_or_with_too_few_rows_the_screen_decides_nothing() -> None:
    labels = np.zeros(MIN_ACCEPTED - 1, dtype=np.int64)
    few = scores([0.9] * len(labels), [0] * len(labels))
    assert fit_bar(few, few, labels, ROUTES)["bar"] == 1.0
    labels = np.zeros(40, dtype=np.int64)
    timid = scores([0.09] * 40, [0] * 40)
    fitted = fit_bar(timid, timid, labels, ROUTES)
    assert (fitted["bar"], fitted["held_out_decided"]) == (1.0, 0.0)


def test_the_mix_is_the_smallest_share_of_the_screens_scores_that_routes_best() -> None:
    labels = np.array([0, 0, 1, 1], dtype=np.int64)
    # The encoder is wrong on row 1 by a little; the screen is sure it is route a.
    encoder = np.array([[0.6, 0.1], [0.30, 0.34], [0.1, 0.6], [0.1, 0.6]], dtype=np.float32)
    screen = np.array([[0.5, 0.1], [0.9, 0.0], [0.1, 0.5], [0.2, 0.4]], dtype=np.float32)
    readable = np.zeros(4, dtype=np.float32)
    share, mixed = fit_mix(screen, encoder, labels, readable)
    assert share == 0.1  # 0.1 already puts row 1 right; larger shares route no more right
    assert np.allclose(mixed, 0.1 * screen + 0.9 * encoder)
    assert list(mixed.argmax(axis=1)) == [0, 0, 1, 1]
    # A row the screen cannot read keeps the encoder's scores, and then nothing mixes.
    unread = np.array([0.0, UNREAD, 0.0, 0.0], dtype=np.float32)
    share, mixed = fit_mix(screen, encoder, labels, unread)
    assert (share, mixed is encoder) == (0.0, True)


def test_the_screen_learns_from_no_exemplar_surely_in_a_language_its_encoder_lacks() -> None:
    guess = LanguageDetector().guess
    texts = [
        "Write a short story about a lion who lost his voice.",
        "Andika hadithi fupi kuhusu simba aliyepoteza sauti yake",  # Swahili
        "Viết một bài thơ ngắn về mùa xuân ở quê hương",  # Vietnamese
        "later gator!",  # named Breton, but far from sure
        "12 + 7 = ?",  # no letters: no language
    ]
    assert learnable(texts, frozenset(LANGUAGES.split(", ")), guess).tolist() == [
        True,
        False,
        False,
        True,
        True,
    ]
    # An encoder that names no languages learns from every exemplar.
    assert learnable(texts, None, guess).all()
