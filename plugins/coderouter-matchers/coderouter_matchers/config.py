"""``[plugins.matchers]``: the rules, structured by the host with key paths in every error.

Regexes, ratios and counts are checked while the host structures the table, so a bad value is
reported at its own key (``plugins.matchers.rules[1].match.content_regex: invalid regex ...``)
and the router never starts with a rule that cannot be evaluated.
"""

from __future__ import annotations

import re
from typing import Any, NewType

import attrs

from coderouter.config import converter

__all__ = ["MATCHER_KEYS", "HeaderMatch", "Match", "MatchersConfig", "Rule"]

Regex = NewType("Regex", str)
"""A string that compiles as a Python regular expression."""

Ratio = NewType("Ratio", float)
"""A number from 0 to 1."""

TokenCount = NewType("TokenCount", int)
"""A positive whole number of tokens."""


def _structure_regex(value: Any, _: type) -> Regex:
    if not isinstance(value, str):
        raise TypeError(f"expected a regular expression string, got {value!r}")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regex {value!r}: {exc}") from None
    return Regex(value)


def _structure_ratio(value: Any, _: type) -> Ratio:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number from 0 to 1, got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"expected a number from 0 to 1, got {value!r}")
    return Ratio(float(value))


def _structure_token_count(value: Any, _: type) -> TokenCount:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError(f"expected a positive whole number of tokens, got {value!r}")
    return TokenCount(value)


# The host structures plugin tables with its shared converter; these hooks apply only to the
# plugin's own types, so nothing else the converter handles changes.
converter.register_structure_hook(Regex, _structure_regex)
converter.register_structure_hook(Ratio, _structure_ratio)
converter.register_structure_hook(TokenCount, _structure_token_count)


@attrs.frozen
class HeaderMatch:
    """``header = { name = "x-team", equals = "infra" }`` or ``{ name = ..., regex = ... }``;
    with neither, the header only has to be present and non-empty."""

    name: str
    equals: str | None = None
    regex: Regex | None = None

    def __attrs_post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("header.name must not be empty")
        if self.equals is not None and self.regex is not None:
            raise ValueError("header takes `equals` or `regex`, not both")


@attrs.frozen
class Match:
    """The conditions of one rule; every one given must hold."""

    has_image: bool | None = None
    has_tools: bool | None = None
    code_fence_ratio_min: Ratio | None = None
    content_contains: str | None = None
    content_regex: Regex | None = None
    model_pattern: Regex | None = None
    content_token_count_min: TokenCount | None = None
    header: HeaderMatch | None = None

    def __attrs_post_init__(self) -> None:
        if all(getattr(self, key) is None for key in MATCHER_KEYS):
            raise ValueError(f"no matcher given (valid: {', '.join(MATCHER_KEYS)})")


MATCHER_KEYS = tuple(a.name for a in attrs.fields(Match))


@attrs.frozen
class Rule:
    profile: str
    match: Match
    name: str = ""


def _unique_names(instance: Any, attribute: Any, rules: list[Rule]) -> None:
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if not rule.name:
            continue
        if rule.name in seen:
            raise ValueError(
                f"rules[{index}].name: {rule.name!r} is already the name of "
                f"rules[{seen[rule.name]}]"
            )
        seen[rule.name] = index


@attrs.frozen
class MatchersConfig:
    """``default`` names the profile used when no rule matches (``None``: leave the choice to
    ``[router] default_profile``); ``rules`` are tried in order and the first match wins."""

    default: str | None = None
    rules: list[Rule] = attrs.field(factory=list, validator=_unique_names)
