"""Language identification for rules and routes that go by language.

``py3langid`` (BSD, its model inside the package: nothing is downloaded) scores character
n-grams with a naive Bayes model over 97 languages. It reads only the first ``CHARS`` characters
of a prompt: about 100 µs on this machine (``benchmarks/rules.py``); a prompt with no letters is
``und`` (undetermined).
"""

from __future__ import annotations

from typing import Final

from py3langid.langid import MODEL_FILE, LanguageIdentifier

CHARS: Final = 120
UNDETERMINED: Final = "und"


class LanguageDetector:
    """Loads the model once (at start-up, in the composition root); thread-safe to call."""

    def __init__(self) -> None:
        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE)

    def __call__(self, text: str) -> str:
        """The ISO 639-1 code of ``text``'s language."""
        clipped = text[:CHARS]
        if not any(character.isalpha() for character in clipped):
            return UNDETERMINED
        language: str = self._identifier.classify(clipped)[0]
        return language
