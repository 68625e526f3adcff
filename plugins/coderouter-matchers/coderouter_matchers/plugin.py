"""The ``matchers`` plugin: choose a profile for requests that did not name one."""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from coderouter import Plugin, hookimpl
from coderouter.config import Config as CoreConfig
from coderouter.config import ConfigError
from coderouter.types import Attempt, Draft, Reject, RequestView, Skip
from coderouter.wire.model import Request
from coderouter_matchers.config import MatchersConfig
from coderouter_matchers.facts import Facts
from coderouter_matchers.rules import CompiledRule, compile_rule, first_match

if TYPE_CHECKING:
    pass

__all__ = ["LOG_FIELD", "META_KEY", "RULE_HEADER", "MatchersPlugin"]

RULE_HEADER = "x-coderouter-rule"
LOG_FIELD = "matched_rule"
META_KEY = "matched_rule"
"""``draft.meta`` key holding the name of the rule that chose the profile."""

_Pending = tuple["weakref.ref[RequestView]", CompiledRule]


class MatchersPlugin(Plugin):
    """Rules over the request choose its profile; the first rule whose conditions all hold
    wins, ``default`` applies when none does.

    The chosen rule is kept from ``select_profile`` (which may only return a name) to
    ``prepare_request`` in a table keyed by the request object, then travels in
    ``draft.meta["matched_rule"]``; ``before_attempt`` puts it in the request log and the
    ``x-coderouter-rule`` response header.
    """

    Config = MatchersConfig

    def __init__(
        self,
        config: MatchersConfig | None = None,
        profile_configs: dict[str, MatchersConfig] | None = None,
        *,
        count_tokens: Callable[[Request], int] | None = None,
    ) -> None:
        if profile_configs:
            names = ", ".join(f"profiles.{p}.plugins.matchers" for p in profile_configs)
            raise ValueError(
                f"per-profile settings have no effect because matchers runs "
                f"before a profile is chosen; move them to [plugins.matchers] "
                f"(found: {names})"
            )
        super().__init__(config or MatchersConfig())
        settings: MatchersConfig = self.config
        self.rules = tuple(compile_rule(i, rule) for i, rule in enumerate(settings.rules))
        self.default = settings.default
        # None: the request's own cached estimate, shared with every other plugin.
        self.count_tokens = count_tokens
        self._pending: dict[int, _Pending] = {}
        self.matched: Counter[str] = Counter()
        self.defaulted = 0
        self.unmatched = 0

    # --- validation ----------------------------------------------------------------------------

    def check_profiles(self, config: CoreConfig) -> None:
        """Every profile a rule or ``default`` names must exist; raises :class:`ConfigError`
        naming each offending key and the known profiles."""
        known = ", ".join(config.profiles) or "none defined"
        errors = []
        for rule in self.rules:
            if rule.profile not in config.profiles:
                errors.append(
                    f"plugins.matchers.rules[{rule.index}] ({rule.name!r}).profile: "
                    f"unknown profile {rule.profile!r} (known: {known})"
                )
        if self.default is not None and self.default not in config.profiles:
            errors.append(
                f"plugins.matchers.default: unknown profile {self.default!r} (known: {known})"
            )
        if errors:
            raise ConfigError("\n".join(f"config error in {config.source}: {e}" for e in errors))

    @hookimpl
    def check_config(self, config: CoreConfig) -> None:
        self.check_profiles(config)

    # --- per request ---------------------------------------------------------------------------

    def match(self, request: RequestView) -> CompiledRule | None:
        """The first rule matching ``request``, or ``None``."""
        return first_match(self.rules, Facts(request, self.tokens_of))

    def tokens_of(self, request: RequestView) -> int:
        if self.count_tokens is None:
            return request.estimated_tokens()
        return self.count_tokens(request.conversation())

    @hookimpl
    def select_profile(self, request: RequestView) -> str | None:
        rule = self.match(request)
        if rule is None:
            if self.default is None:
                self.unmatched += 1
            else:
                self.defaulted += 1
            return self.default
        self.matched[rule.name] += 1
        self._remember(request, rule)
        return rule.profile

    def _remember(self, request: RequestView, rule: CompiledRule) -> None:
        key = id(request)
        pending = self._pending

        def forget(ref: weakref.ref[RequestView]) -> None:
            entry = pending.get(key)
            if entry is not None and entry[0] is ref:
                del pending[key]

        pending[key] = (weakref.ref(request, forget), rule)

    @hookimpl
    def prepare_request(self, draft: Draft) -> Reject | None:
        entry = self._pending.pop(id(draft.request), None)
        if entry is not None and entry[0]() is draft.request:
            draft.meta[META_KEY] = entry[1].name
        return None

    @hookimpl
    def before_attempt(self, attempt: Attempt) -> Skip | Reject | None:
        name = attempt.draft.meta.get(META_KEY)
        if name is not None:
            attempt.log_fields[LOG_FIELD] = name
            attempt.response_headers[RULE_HEADER] = name
        return None

    @hookimpl
    def describe_state(self) -> dict[str, Any]:
        return {
            "rules": [
                {"name": r.name, "profile": r.profile, "matched": self.matched[r.name]}
                for r in self.rules
            ],
            "default": self.default,
            "default_used": self.defaulted,
            "no_match": self.unmatched,
        }
