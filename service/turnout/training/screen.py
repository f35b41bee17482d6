"""The screen's bar: how sure the fast encoder must be to decide without the build's own.

A build with a screen (``turnout index rebuild --screen``) has two stages: a fast frozen encoder
(``use-m3``, under a millisecond) with its own kNN and classifier, then the build's encoder
(``e5-small`` tuned, several milliseconds). The screen decides a prompt when its best route's
fused score clears both that route's threshold and the bar; every other prompt goes to the
build's encoder, which decides as a build without a screen does.

It never decides a prompt it cannot read: one with at least `UNREAD` of its tokens unknown
to the screen's vocabulary (use-m3 has no pieces for Bengali, Telugu or Hindi, and places all
such prompts near each other, so it would be sure of them for the wrong reason). Nor does it
learn from an exemplar in a language its encoder was not trained on (`learnable`): use-m3 reads
Swahili's Latin letters but not its meaning, and placed MGSM's Swahili problems near the
default taxonomy's two Swahili exemplars, a story request among them, so that it was sure of
half of them and the default routed 0.792 of them to `math`. Without those exemplars such a
prompt is near nothing the screen knows, and it passes it on: 0.976 to `math`, the held-out
sets as before (``benchmarks/accuracy.py``). The build's own encoder still learns from them.

The bar is the lowest confidence at which, on the held-out rows it would decide (every one at
least that sure), the screen both loses nothing (it routes as many right as the build's encoder
routes right of the same rows) and is right at least halfway from the encoder's own held-out
accuracy to every time (`PRECISION_FLOOR`). The first condition alone follows the noise of a
few hundred rows down to a low bar: on MMLU-Pro's domains it let the screen decide 96% of the
queries at 0.745 accuracy, where e5-small tuned alone routes 0.773; with the floor, 62% at
0.770 (``benchmarks/accuracy.py``).

A prompt the screen passes on is decided on a mix of both stages' scores: the build's, with
`fit_mix`'s share of the screen's, which the prompt has already paid for. The build's
thresholds are fitted on the held-out rows' scores mixed the same way. On the two route sets
where it was probed (e5-small tuned, use-m3 screen), routing every query on the mix gained a
point on MMLU-Pro's domains (0.803 to 0.814 at a 0.3 share) and 0.4 on CLINC150's in-scope
test prompts (0.955 to 0.959 before thresholds).

While the build's encoder is busy (every worker embedding: a passed-on prompt would queue
behind its batches), the screen decides down to a lower bar, its busy bar: the same rule
fitted against the build's encoder alone rather than the mix, which is the weaker comparison
(``routing.screen_when_busy``). With every query decided at it, on CLINC150 the screen
decided 67% of the test prompts against 43%, at 0.923 in scope and 0.895 out-of-scope recall
against 0.927 and 0.901 (``benchmarks/accuracy.py``, its ``as_busy``); in an earlier probe,
on MMLU-Pro's domains 62% against 29%, at 0.809 against 0.814. On the default taxonomy the
two bars are nearly the same (0.134 and 0.138). Under load at 32 callers the CLINC150 build
made 654 decisions a second against 433 (``benchmarks/decision.py``): accuracy gives a little
under load so that latency does not give a lot.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from turnout.routing.language import UNDETERMINED

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt

UNREAD: Final = 0.25
"""A prompt with at least this share of tokens the screen's vocabulary lacks is passed on."""
OTHER_LANGUAGE: Final = 0.8
"""How sure the language detector must be that an exemplar is in a language the screen's encoder
does not know to leave it out: at 0.8, 3 of CLINC150's 15,100 English queries and 249 of MGSM's
250 Swahili problems (`turnout.routing.language`)."""
MIN_ACCEPTED: Final = 20
"""The bar is never set by fewer held-out rows than this: under it, the screen decides nothing."""
PRECISION_FLOOR: Final = 0.5
"""Of the way from the encoder's held-out accuracy to 1, where the screen's precision must be."""
MIXES: Final = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
"""The screen's shares of a passed-on prompt's scores that `fit_mix` chooses from."""
SCREEN_FORMAT: Final = "screen-5"
"""Part of a screened build's id: raise it when the bar's or the mix's rule changes."""


def learnable(
    texts: Sequence[str],
    languages: frozenset[str] | None,
    guess: Callable[[str], tuple[str, float]],
) -> npt.NDArray[np.bool_]:
    """Which of the exemplars' ``texts`` a screen whose encoder knows ``languages`` learns from.

    Each but those ``guess`` (`LanguageDetector.guess`) is at least `OTHER_LANGUAGE` sure are
    in another language; every one when the encoder names no languages.
    """
    if languages is None:
        return np.ones(len(texts), dtype=bool)
    known = languages | {UNDETERMINED}
    found = [guess(text) for text in texts]
    return np.array(
        [language in known or sure < OTHER_LANGUAGE for language, sure in found], dtype=bool
    )


def fit_mix(
    screen: npt.NDArray[np.float32],
    main: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    unread: npt.NDArray[np.float32],
) -> tuple[float, npt.NDArray[np.float32]]:
    """The screen's share of `MIXES` that routes the held-out rows best, and their mixed scores.

    Of equally good shares the smallest: no share, unless mixing routes more rows right. Rows the
    screen cannot read (`UNREAD`) keep the build's own scores, as serving keeps them.
    """
    readable = (unread < UNREAD)[:, None]
    best, scores = 0.0, main
    right = int((main.argmax(axis=1) == labels).sum())
    for share in MIXES[1:]:
        candidate = np.where(readable, share * screen + (1 - share) * main, main)
        candidate = candidate.astype(np.float32)
        found = int((candidate.argmax(axis=1) == labels).sum())
        if found > right:
            best, scores, right = share, candidate, found
    return best, scores


def fit_bar(
    screen: npt.NDArray[np.float32],
    main: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    thresholds: dict[str, dict[str, float]],
    *,
    unread: npt.NDArray[np.float32] | None = None,
) -> dict[str, Any]:
    """The bar, from both stages' fused scores of the held-out rows ``(rows, routes)``.

    ``thresholds`` are the screen's routes (in score order) with their thresholds; ``unread``
    the rows' shares of tokens unknown to the screen (`OnnxEmbedder.unknown_share`): rows at
    `UNREAD` or above are passed on, as serving passes such prompts on. Returns the manifest's
    ``screen`` fields: the bar, and on the held-out rows the share the screen decided and the
    accuracy of the screen, the build's encoder and the two together.
    """
    best = screen.argmax(axis=1)
    confidence = screen.max(axis=1)
    floors = np.array([row["threshold"] for row in thresholds.values()], dtype=np.float32)
    sure = confidence >= floors[best]
    if unread is not None:
        sure &= unread < UNREAD
    right = best == labels
    main_right = main.argmax(axis=1) == labels
    order = np.argsort(-np.where(sure, confidence, -1.0), kind="stable")[: int(sure.sum())]
    gain = np.cumsum(right[order].astype(np.int64) - main_right[order])
    precision = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
    encoder = float(main_right.mean())
    floor = encoder + (1 - encoder) * PRECISION_FLOOR
    enough = (gain >= 0) & (precision >= floor)
    meets = np.flatnonzero(enough[MIN_ACCEPTED - 1 :])
    bar = float(confidence[order[meets[-1] + MIN_ACCEPTED - 1]]) if len(meets) else 1.0
    decided = sure & (confidence >= bar)
    together = np.where(decided, right, main_right)
    return {
        "unread": UNREAD,
        "bar": math.floor(bar * 1e4) / 1e4,  # rounded down: the row that set it still clears it
        "held_out_decided": round(float(decided.mean()), 4),
        "held_out_accuracy": {
            "screen": round(float(right.mean()), 4),
            "encoder": round(float(main_right.mean()), 4),
            "together": round(float(together.mean()), 4),
        },
    }
