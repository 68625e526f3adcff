"""Registries: ordered rules that declare capabilities for provider kinds and model globs.

A registry is a TOML file of ``[[rules]]``::

    [[rules]]
    kind = "openai"                       # optional: "openai" or "anthropic"
    model = ["*qwen2.5-coder*", "*qwen-2.5-coder*"]   # one glob or a list, case-insensitive
    tools = true
    max_context_tokens = 32768
    note = "why these values"             # optional, for people

Globs are matched against the provider's ``model`` with :func:`fnmatch.fnmatchcase` on
lower-cased text; a provider without a ``model`` matches no rule.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from coderouter.config import PROVIDER_KINDS, ProviderConfig
from coderouter_capabilities.fields import check_values

__all__ = ["BUNDLED", "Registry", "RegistryError", "RegistryRule"]

BUNDLED = "bundled registry"
RULE_KEYS = ("kind", "model", "note")


class RegistryError(ValueError):
    """A registry file that cannot be read or has bad rules; one line per problem."""


@attrs.frozen
class RegistryRule:
    index: int
    kind: str | None
    globs: tuple[str, ...]
    values: dict[str, Any]
    matcher: Callable[[str], object] = attrs.field(eq=False, repr=False)

    def applies_to(self, provider: ProviderConfig) -> bool:
        if self.kind is not None and provider.kind != self.kind:
            return False
        return bool(provider.model) and self.matcher(provider.model.lower()) is not None

    def describe(self, provider: ProviderConfig) -> str:
        """``rules[<index>] (<the glob that matched>)``, for the sources of a flag."""
        model = provider.model.lower()
        glob = next((g for g in self.globs if fnmatch.fnmatchcase(model, g.lower())), self.globs[0])
        return f"rules[{self.index}] ({glob})"


def _globs(value: Any, where: str, errors: list[str]) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(g, str) and g for g in items):
        errors.append(f"{where}.model: expected a glob or a list of globs, got {value!r}")
        return ()
    return tuple(items)


def _rule(index: int, raw: Any, errors: list[str]) -> RegistryRule | None:
    where = f"rules[{index}]"
    if not isinstance(raw, dict):
        errors.append(f"{where}: expected a table, got {raw!r}")
        return None
    count = len(errors)
    kind = raw.get("kind")
    if kind is not None and kind not in PROVIDER_KINDS:
        errors.append(f"{where}.kind: unknown kind {kind!r} (valid: {', '.join(PROVIDER_KINDS)})")
    if "model" not in raw:
        errors.append(f"{where}.model: required key is missing")
        globs: tuple[str, ...] = ()
    else:
        globs = _globs(raw["model"], where, errors)
    note = raw.get("note")
    if note is not None and not isinstance(note, str):
        errors.append(f"{where}.note: expected a string, got {note!r}")
    values, problems = check_values(raw, where, RULE_KEYS)
    errors.extend(problems)
    if len(errors) > count:
        return None
    pattern = "|".join(fnmatch.translate(g.lower()) for g in globs)
    return RegistryRule(index, kind, globs, values, re.compile(pattern).match)


@attrs.frozen
class Registry:
    """Rules from one file, in file order. ``origin`` names the file in every source."""

    origin: str
    rules: tuple[RegistryRule, ...]

    @classmethod
    def parse(cls, text: str, origin: str) -> Registry:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RegistryError(f"{origin}: not valid TOML: {exc}") from None
        errors = [f"{key}: unknown table (valid: rules)" for key in data if key != "rules"]
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, list):
            errors.append("rules: expected an array of tables ([[rules]])")
            raw_rules = []
        rules = [_rule(i, raw, errors) for i, raw in enumerate(raw_rules)]
        if errors:
            raise RegistryError("\n".join(f"{origin}: {e}" for e in errors))
        return cls(origin, tuple(r for r in rules if r is not None))

    @classmethod
    def load(cls, path: str) -> Registry:
        """The user's registry file; ``~`` expands, relative paths start at the working
        directory."""
        full = Path(path).expanduser()
        origin = f"registry {full}"
        try:
            text = full.read_text(encoding="utf-8")
        except OSError as exc:
            raise RegistryError(f"{origin}: cannot read it: {exc.strerror or exc}") from None
        return cls.parse(text, origin)

    @classmethod
    def bundled(cls) -> Registry:
        text = (
            resources.files("coderouter_capabilities")
            .joinpath("registry.toml")
            .read_text(encoding="utf-8")
        )
        return cls.parse(text, BUNDLED)
