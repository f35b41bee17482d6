"""The rules tier: keyword, regex and metadata rules, compiled once, checked by priority.

Every keyword of every rule goes into one Aho-Corasick automaton (``ahocorasick-rs``), run once
over the lower-cased last user turn (and once over all messages, if a rule looks there); a hit
counts only as a whole word. A rule whose ``keywords`` found nothing is skipped without looking
at its other conditions, so the cost follows the hits, not the number of rules. The remaining
candidates are checked in priority order (highest first, then config order), cheap conditions
first (metadata, keyword sets) and regexes last; the first that holds decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import ahocorasick_rs

from turnout.routing.decision import RouteMatch, Tier

if TYPE_CHECKING:
    from collections.abc import Sequence

    from turnout.config import ConditionSettings, RuleSettings
    from turnout.routing.analyze import RoutingInput

_NOTHING: Final[frozenset[int]] = frozenset()
# Up to this many keywords the automaton is a DFA: with 1,000 rules on 2,000-character prompts
# the tier's p50 is 40 µs against 50 with the contiguous NFA (`benchmarks/rules.py`). The DFA
# holds about 0.65 KB per keyword (15,000 keywords raised a process's peak RSS by 10 MB, against
# 3 MB for the NFA), so larger sets keep the NFA.
DFA_KEYWORDS: Final = 20_000


# Scripts written without spaces between words (CJK, kana, Hangul, Thai): a keyword in them
# matches anywhere, since there is no word boundary to look for.
_UNSPACED: Final = ((0x0E00, 0x0E7F), (0x2E80, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF))


def _is_word_char(character: str) -> bool:
    """A letter, digit or underscore of a script that separates words with spaces."""
    if not (character.isalnum() or character == "_"):
        return False
    code = ord(character)
    return not any(low <= code <= high for low, high in _UNSPACED)


class _WordChars(dict[str, bool]):
    """`_is_word_char`, remembered per character: a keyword hit costs two dict lookups."""

    def __missing__(self, character: str) -> bool:
        self[character] = found = _is_word_char(character)
        return found


@dataclass(frozen=True, slots=True)
class _Hits:
    """The keyword ids found in the last user turn, and in every message."""

    last_user: frozenset[int]
    any_message: frozenset[int]


class _Keywords:
    """All rules' keywords in one automaton; ids are positions in ``words``."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = list(words)
        self._automaton = (
            ahocorasick_rs.AhoCorasick(
                self.words,
                implementation=ahocorasick_rs.Implementation.DFA
                if len(self.words) <= DFA_KEYWORDS
                else ahocorasick_rs.Implementation.ContiguousNFA,
            )
            if self.words
            else None
        )
        self._word_char = _WordChars()

    def find(self, text: str) -> frozenset[int]:
        """Ids of the keywords that occur in ``text`` as whole words (case-insensitively)."""
        if self._automaton is None:
            return _NOTHING
        lowered = text.lower()
        word_char = self._word_char
        found = set()
        end_of_text = len(lowered)
        for word, start, end in self._automaton.find_matches_as_indexes(lowered, overlapping=True):
            # a whole word: no word character runs on past either end of the hit
            if start > 0 and word_char[lowered[start - 1]] and word_char[lowered[start]]:
                continue
            if end < end_of_text and word_char[lowered[end]] and word_char[lowered[end - 1]]:
                continue
            found.add(word)
        return frozenset(found)


@dataclass(frozen=True, slots=True)
class _Group:
    """One group of conditions, compiled: every one that is set must hold."""

    any_words: frozenset[int]
    all_words: frozenset[int]
    no_words: frozenset[int]
    regex: re.Pattern[str] | None
    not_regex: re.Pattern[str] | None
    anywhere: bool
    tiers: frozenset[str]
    clients: frozenset[str]
    teams: frozenset[str]
    users: frozenset[str]
    session: bool | None
    headers: tuple[tuple[bytes, str], ...]
    images: bool | None
    languages: frozenset[str]

    def holds(self, inp: RoutingInput, hits: _Hits) -> bool:
        """Whether every condition of the group holds for ``inp``."""
        return self._metadata(inp) and self._text(inp, hits)

    def _metadata(self, inp: RoutingInput) -> bool:
        caller, client = inp.caller, inp.caller.client
        return (
            (not self.tiers or (client is not None and client.tier in self.tiers))
            and (not self.clients or (client is not None and client.name in self.clients))
            and (not self.teams or (client is not None and client.team in self.teams))
            and (not self.users or inp.user in self.users)
            and (self.session is None or self.session == (caller.session is not None))
            and all(caller.header(name) == value for name, value in self.headers)
            and (self.images is None or self.images == inp.has_images)
            and (not self.languages or inp.language in self.languages)
        )

    def _text(self, inp: RoutingInput, hits: _Hits) -> bool:
        found = hits.any_message if self.anywhere else hits.last_user
        if self.any_words and not self.any_words & found:
            return False
        if not self.all_words <= found or self.no_words & found:
            return False
        texts = inp.texts if self.anywhere else (inp.text,)
        if self.regex is not None and not any(self.regex.search(text) for text in texts):
            return False
        return self.not_regex is None or not any(self.not_regex.search(text) for text in texts)


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    route: str
    own: _Group
    alternatives: tuple[_Group, ...]
    speculative: bool

    def holds(self, inp: RoutingInput, hits: _Hits) -> bool:
        return self.own.holds(inp, hits) and (
            not self.alternatives or any(group.holds(inp, hits) for group in self.alternatives)
        )


class RuleTier:
    """Decides a request when a rule matches; otherwise passes it on."""

    tier = Tier.RULE

    def __init__(self, rules: Sequence[RuleSettings]) -> None:
        ids: dict[str, int] = {}

        def word_ids(words: Sequence[str]) -> frozenset[int]:
            return frozenset(ids.setdefault(word.strip().lower(), len(ids)) for word in words)

        def compiled(group: ConditionSettings) -> _Group:
            return _Group(
                any_words=word_ids(group.keywords),
                all_words=word_ids(group.all_keywords),
                no_words=word_ids(group.none_keywords),
                regex=re.compile(group.regex) if group.regex is not None else None,
                not_regex=re.compile(group.not_regex) if group.not_regex is not None else None,
                anywhere=group.match == "any",
                tiers=frozenset(group.tiers),
                clients=frozenset(group.clients),
                teams=frozenset(group.teams),
                users=frozenset(group.users),
                session=group.session,
                headers=tuple((k.lower().encode("latin-1"), v) for k, v in group.headers.items()),
                images=group.images,
                languages=frozenset(group.languages),
            )

        ordered = sorted(enumerate(rules), key=lambda item: (-item[1].priority, item[0]))
        self._rules = tuple(
            _Rule(
                rule.name,
                rule.route,
                compiled(rule),
                tuple(compiled(g) for g in rule.any),
                rule.speculative,
            )
            for _, rule in ordered
        )
        self._keywords = _Keywords(sorted(ids, key=ids.__getitem__))
        groups = [group for rule in self._rules for group in (rule.own, *rule.alternatives)]
        self._anywhere = any(group.anywhere for group in groups)
        # A rule with keywords of its own can only hold when one of them was found: index those
        # rules by keyword, so a request only looks at the rules its hits (or no keyword) name.
        self._always = tuple(i for i, rule in enumerate(self._rules) if not rule.own.any_words)
        by_word: dict[int, list[int]] = {}
        for i, rule in enumerate(self._rules):
            for word in rule.own.any_words:
                by_word.setdefault(word, []).append(i)
        self._by_word = {word: tuple(positions) for word, positions in by_word.items()}
        self.uses_language = any(group.languages for group in groups)

    def match(self, inp: RoutingInput) -> RouteMatch | None:
        """The first deciding rule's route (by priority), else a speculative rule's hint."""
        last_user = self._keywords.find(inp.text)
        anywhere = self._keywords.find("\n".join(inp.texts)) if self._anywhere else last_user
        hits = _Hits(last_user, anywhere)
        candidates = set(self._always)
        for word in last_user | anywhere:
            candidates.update(self._by_word.get(word, ()))
        hint = None
        for position in sorted(candidates):
            rule = self._rules[position]
            if (hint is None or not rule.speculative) and rule.holds(inp, hits):
                if not rule.speculative:
                    return RouteMatch(rule.route, Tier.RULE, 1.0, f"rule '{rule.name}' matched")
                reason = f"speculative rule '{rule.name}' guessed"
                hint = RouteMatch(rule.route, Tier.RULE, 0.0, reason, hint=True)
        return hint
