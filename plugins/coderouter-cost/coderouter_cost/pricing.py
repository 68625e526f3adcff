"""Prices per token class, the cost of one attempt, and price tables matched by model name.

Rates are USD per million tokens. ``Usage.input_tokens`` counts fresh prompt tokens only, so the
four token classes never overlap::

    cost    = (fresh * in_rate + output * out_rate
               + cache_read * in_rate * read_multiplier
               + cache_write * in_rate * write_multiplier) / 1e6
    savings = cache_read * in_rate * (1 - read_multiplier) / 1e6
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from coderouter.types import Usage

__all__ = [
    "BUNDLED_PRICES",
    "DEFAULT_CACHE_READ_MULTIPLIER",
    "DEFAULT_CACHE_WRITE_MULTIPLIER",
    "PRICE_KEYS",
    "Cost",
    "Price",
    "PriceTable",
    "PriceTableError",
    "Pricing",
    "check_number",
    "usd",
]

# Anthropic's published prompt-caching prices: reads at a tenth of the input rate, five-minute
# cache writes at a quarter more.
DEFAULT_CACHE_READ_MULTIPLIER = 0.10
DEFAULT_CACHE_WRITE_MULTIPLIER = 1.25
PRICE_KEYS = (
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_multiplier",
    "cache_write_multiplier",
)
BUNDLED_PRICES = "prices.toml"
_MTOK = 1_000_000.0


class PriceTableError(ValueError):
    """A price table file that cannot be used; the message names the file and the entry."""


@attrs.frozen
class Cost:
    """What one attempt cost, and what its cache reads saved against the full input rate."""

    usd: float = 0.0
    savings_usd: float = 0.0


@attrs.frozen
class Price:
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    cache_read_multiplier: float = DEFAULT_CACHE_READ_MULTIPLIER
    cache_write_multiplier: float = DEFAULT_CACHE_WRITE_MULTIPLIER
    source: str = attrs.field(default="", eq=False)

    @property
    def paid(self) -> bool:
        """Whether any token costs money; budgets over several providers gate only these."""
        return self.input_per_mtok > 0 or self.output_per_mtok > 0

    def cost(self, usage: Usage) -> Cost:
        rate_in = self.input_per_mtok / _MTOK
        cache_read_full = usage.cache_read_tokens * rate_in
        cache_read = cache_read_full * self.cache_read_multiplier
        usd = (
            usage.input_tokens * rate_in
            + usage.output_tokens * self.output_per_mtok / _MTOK
            + cache_read
            + usage.cache_write_tokens * rate_in * self.cache_write_multiplier
        )
        return Cost(usd, cache_read_full - cache_read)


def check_number(table: Mapping[str, Any], key: str, where: str, errors: list[str]) -> float | None:
    """The non-negative number at ``table[key]``, or None (missing or wrong, with an error)."""
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append(f"{where}.{key}: expected a number, got {value!r}")
        return None
    if value < 0:
        errors.append(f"{where}.{key}: must not be negative, got {value!r}")
        return None
    return float(value)


_ENTRY_KEYS = ("match", *PRICE_KEYS, "note")
_TOP_KEYS = ("as_of", "source", "models")


@attrs.frozen
class PriceEntry:
    patterns: tuple[str, ...]
    rates: Mapping[str, float]


@attrs.frozen
class PriceTable:
    """Model-name globs with their prices; the first entry whose glob matches wins.

    A glob is matched case-insensitively against the whole model name and against the part
    after its last ``/`` (``openai/gpt-4.1`` matches ``gpt-4.1*``).
    """

    label: str
    entries: tuple[PriceEntry, ...]
    as_of: str = ""

    @classmethod
    def bundled(cls) -> PriceTable:
        text = resources.files("coderouter_cost").joinpath(BUNDLED_PRICES).read_text("utf-8")
        return cls.parse(tomllib.loads(text), label=f"bundled {BUNDLED_PRICES}")

    @classmethod
    def load(cls, path: Path) -> PriceTable:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PriceTableError(f"cannot read price table {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise PriceTableError(f"price table {path}: not valid TOML: {exc}") from None
        return cls.parse(raw, label=str(path))

    @classmethod
    def parse(cls, raw: Mapping[str, Any], *, label: str) -> PriceTable:
        errors: list[str] = []
        for key in raw:
            if key not in _TOP_KEYS:
                errors.append(f"{key}: unknown key (valid keys: {', '.join(_TOP_KEYS)})")
        models = raw.get("models", [])
        if not isinstance(models, list):
            errors.append("models: expected an array of tables ([[models]])")
            models = []
        entries = [
            entry
            for i, item in enumerate(models)
            if (entry := _parse_entry(item, f"models[{i}]", errors)) is not None
        ]
        if errors:
            raise PriceTableError("\n".join(f"price table {label}: {e}" for e in errors))
        return cls(label, tuple(entries), str(raw.get("as_of", "")))

    def match(self, model: str) -> tuple[str, Mapping[str, float]] | None:
        """``(glob, rates)`` of the first entry matching ``model``, or None."""
        name = model.lower()
        short = name.rsplit("/", 1)[-1]
        for entry in self.entries:
            for pattern in entry.patterns:
                if fnmatchcase(name, pattern) or fnmatchcase(short, pattern):
                    return pattern, entry.rates
        return None


def _parse_entry(item: Any, where: str, errors: list[str]) -> PriceEntry | None:
    if not isinstance(item, dict):
        errors.append(f"{where}: expected a table")
        return None
    for key in item:
        if key not in _ENTRY_KEYS:
            errors.append(f"{where}.{key}: unknown key (valid keys: {', '.join(_ENTRY_KEYS)})")
    match = item.get("match")
    patterns: Sequence[Any] = [match] if isinstance(match, str) else match or []
    if not patterns or not all(isinstance(p, str) and p for p in patterns):
        errors.append(f"{where}.match: expected a model-name glob or a list of them, got {match!r}")
        return None
    rates = {
        key: value
        for key in PRICE_KEYS
        if (value := check_number(item, key, where, errors)) is not None
    }
    if "input_per_mtok" not in rates and "output_per_mtok" not in rates:
        errors.append(f"{where}: needs input_per_mtok or output_per_mtok")
    return PriceEntry(tuple(p.lower() for p in patterns), rates)


class Pricing:
    """Resolves the price of a provider's model: its own ``cost`` table over the price tables.

    Each key in the provider's table overrides the same key of the matching table entry; keys
    in neither take the defaults (rates zero, Anthropic's cache multipliers). A provider with no
    rates of its own and no matching entry has no price (``None``) and costs nothing.
    """

    def __init__(self, tables: Iterable[PriceTable]) -> None:
        self.tables = tuple(tables)

    def lookup(self, model: str) -> tuple[str, Mapping[str, float]] | None:
        for table in self.tables:
            found = table.match(model)
            if found is not None:
                return f"{table.label}: {found[0]}", found[1]
        return None

    def price(self, model: str, overrides: Mapping[str, float], where: str) -> Price | None:
        found = self.lookup(model) if model else None
        own_rates = "input_per_mtok" in overrides or "output_per_mtok" in overrides
        if found is None and not own_rates:
            return None
        source, rates = found if found is not None else (where, {})
        if overrides:
            source = where if found is None else f"{where} over {source}"
        merged = {**rates, **overrides}
        return Price(**{k: merged[k] for k in PRICE_KEYS if k in merged}, source=source)


def usd(amount: float) -> str:
    """Dollars with cents; a sub-cent amount keeps two significant digits (``$0.0042``, not
    ``$0.00``): a local-first month often costs less than a cent."""
    if amount == 0 or abs(amount) >= 0.01:
        return f"${amount:,.2f}"
    places = 1 - math.floor(math.log10(abs(amount)))
    return f"${amount:.{places}f}"
