"""The rules tier: regex and keyword rules, compiled once, checked in config order.

Config order is priority: the first rule that matches decides. Keyword rules match whole words,
case-insensitively; all of a rule's keywords share one compiled alternation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.routing.decision import RouteMatch, Tier

if TYPE_CHECKING:
    from collections.abc import Sequence

    from service.config import MatchScope, RuleSettings
    from service.routing.analyze import RoutingInput


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule, ready to match."""

    name: str
    route: str
    pattern: re.Pattern[str]
    scope: MatchScope

    def matches(self, inp: RoutingInput) -> bool:
        """Whether the rule's pattern occurs in the text its scope names."""
        if self.scope == "last_user":
            return self.pattern.search(inp.text) is not None
        return any(self.pattern.search(text) for text in inp.texts)


def compile_rule(rule: RuleSettings) -> CompiledRule:
    """Compile a validated rule (config load has already checked the regex)."""
    if rule.regex is not None:
        pattern = re.compile(rule.regex)
    else:
        words = sorted({keyword.strip() for keyword in rule.keywords}, key=len, reverse=True)
        pattern = re.compile(
            r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)", re.IGNORECASE
        )
    return CompiledRule(name=rule.name, route=rule.route, pattern=pattern, scope=rule.match)


class RuleTier:
    """Decides a request when a rule matches; otherwise passes it on."""

    tier = Tier.RULE

    def __init__(self, rules: Sequence[RuleSettings]) -> None:
        self._rules = tuple(compile_rule(rule) for rule in rules)

    def match(self, inp: RoutingInput) -> RouteMatch | None:
        """The first matching rule's route, or None."""
        for rule in self._rules:
            if rule.matches(inp):
                return RouteMatch(rule.route, Tier.RULE, 1.0, f"rule '{rule.name}' matched")
        return None
