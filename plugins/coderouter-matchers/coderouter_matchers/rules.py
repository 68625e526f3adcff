"""Rules compiled into checks: regexes compiled once, cheap checks first.

A rule is a tuple of predicates over :class:`~coderouter_matchers.facts.Facts`; every one must
hold. Checks that need nothing but the model name or a header run before checks that read
the conversation, and the token estimate runs last, so a rule that fails early costs almost
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs

from coderouter_matchers.config import HeaderMatch, Match, Rule
from coderouter_matchers.facts import Facts, code_fence_ratio

__all__ = ["Check", "CompiledRule", "compile_rule", "first_match"]

Check = Callable[[Facts], bool]


@attrs.frozen
class CompiledRule:
    index: int
    name: str
    profile: str
    checks: tuple[Check, ...]

    def matches(self, facts: Facts) -> bool:
        return all(check(facts) for check in self.checks)


def _header_check(spec: HeaderMatch) -> Check:
    name = spec.name.lower()
    if spec.equals is not None:
        expected = spec.equals
        return lambda f: f.view.header(name) == expected
    if spec.regex is not None:
        fullmatch = re.compile(spec.regex).fullmatch
        return lambda f: fullmatch(f.view.header(name)) is not None
    return lambda f: bool(f.view.header(name))


def _request_checks(match: Match) -> list[Check]:
    """Checks on the model name and headers: no conversation needed."""
    checks: list[Check] = []
    if match.model_pattern is not None:
        model_fullmatch = re.compile(match.model_pattern).fullmatch
        checks.append(lambda f: model_fullmatch(f.view.model) is not None)
    if match.header is not None:
        checks.append(_header_check(match.header))
    return checks


def _content_checks(match: Match) -> list[Check]:
    """Checks on the conversation, cheapest first; the token estimate is last."""
    checks: list[Check] = []
    if match.has_tools is not None:
        want_tools = match.has_tools
        checks.append(lambda f: bool(f.conversation().tools) is want_tools)
    if match.has_image is not None:
        want_image = match.has_image
        checks.append(lambda f: f.turn().has_image is want_image)
    if match.content_contains is not None:
        needle = match.content_contains
        checks.append(lambda f: needle in f.turn().text)
    if match.content_regex is not None:
        search = re.compile(match.content_regex).search
        checks.append(lambda f: search(f.turn().text) is not None)
    if match.code_fence_ratio_min is not None:
        ratio = match.code_fence_ratio_min
        checks.append(lambda f: code_fence_ratio(f.turn().text) >= ratio)
    if match.content_token_count_min is not None:
        minimum = match.content_token_count_min
        checks.append(lambda f: f.tokens() >= minimum)
    return checks


def compile_rule(index: int, rule: Rule) -> CompiledRule:
    checks = _request_checks(rule.match) + _content_checks(rule.match)
    return CompiledRule(index, rule.name or f"rules[{index}]", rule.profile, tuple(checks))


def first_match(rules: tuple[CompiledRule, ...], facts: Facts) -> CompiledRule | None:
    for rule in rules:
        if rule.matches(facts):
            return rule
    return None
