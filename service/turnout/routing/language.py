"""Language identification for rules and routes that go by language.

``py3langid`` (BSD, its model inside the package: nothing is downloaded) scores character
n-grams with a naive Bayes model over 142 languages. It reads only the first ``CHARS`` characters
of a prompt: about 100 µs on this machine (``benchmarks/rules.py``); a prompt with no letters is
``und`` (undetermined). Its model names some languages by ISO 639-3 codes; the varieties of
Chinese and Arabic it tells apart (Wu and Cantonese, often said of a short Mandarin prompt;
Egyptian and Moroccan Arabic) are ``zh`` and ``ar``, and "no language" is ``und``.
"""

from __future__ import annotations

from typing import Final

from py3langid.langid import MODEL_FILE, LanguageIdentifier

CHARS: Final = 120
UNDETERMINED: Final = "und"
MACRO: Final = {"wuu": "zh", "yue": "zh", "arz": "ar", "ary": "ar", "zxx": UNDETERMINED}


class LanguageDetector:
    """Loads the model once (at start-up, in the composition root); thread-safe to call."""

    def __init__(self) -> None:
        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    def __call__(self, text: str) -> str:
        """``text``'s language: its ISO 639-1 code where it has one (and `MACRO`'s)."""
        return self.guess(text)[0]

    def guess(self, text: str) -> tuple[str, float]:
        """``text``'s language, as `__call__` names it, and the model's probability of it.

        Short prompts are often unsure: of CLINC150's 15,100 English training queries, 383 are
        named another language, none of them at 0.9 and 3 at 0.8 or more.
        """
        clipped = text[:CHARS]
        if not any(character.isalpha() for character in clipped):
            return UNDETERMINED, 1.0
        language, probability = self._identifier.classify(clipped)
        return MACRO.get(language, language), float(probability)
