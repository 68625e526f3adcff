"""The cost formula against hand-computed cases, price tables and provider ``cost`` tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from coderouter_cost import CostConfig, CostPlugin, Price, PriceTable, Pricing
from coderouter_cost.pricing import PriceTableError

from coderouter.config import ConfigError
from coderouter.testing import ConfigBuilder
from coderouter.types import Usage
from coderouter.wire.anthropic import usage_from_anthropic
from coderouter.wire.openai_chat import usage_from_openai

SONNET = Price(3.0, 15.0)  # $3 / $15 per MTok, reads 0.10x, writes 1.25x
OPUS_45 = Price(5.0, 25.0)
GPT_41 = Price(2.0, 8.0, cache_read_multiplier=0.25, cache_write_multiplier=1.0)


def test_cache_heavy_claude_code_turn() -> None:
    # A mid-session Claude Code turn: almost the whole prompt is a cache hit.
    usage = Usage(
        input_tokens=12, cache_read_tokens=95_000, cache_write_tokens=2_500, output_tokens=800
    )
    cost = SONNET.cost(usage)
    # 12*3 + 800*15 + 95000*3*0.10 + 2500*3*1.25 = 36 + 12000 + 28500 + 9375 micro-dollars
    assert cost.usd == pytest.approx(0.049911, abs=1e-12)
    # 95000 * 3 * (1 - 0.10) micro-dollars
    assert cost.savings_usd == pytest.approx(0.2565, abs=1e-12)


def test_first_turn_writes_the_cache() -> None:
    usage = Usage(input_tokens=4, cache_write_tokens=18_000, output_tokens=350)
    cost = OPUS_45.cost(usage)
    # 4*5 + 18000*5*1.25 + 350*25 = 20 + 112500 + 8750 micro-dollars
    assert cost.usd == pytest.approx(0.12127, abs=1e-12)
    assert cost.savings_usd == 0.0


def test_anthropic_usage_as_reported() -> None:
    usage = usage_from_anthropic(
        {
            "input_tokens": 3,
            "output_tokens": 1_200,
            "cache_read_input_tokens": 150_000,
            "cache_creation_input_tokens": 1_000,
        }
    )
    cost = SONNET.cost(usage)
    # 3*3 + 1200*15 + 150000*0.3 + 1000*3.75 = 9 + 18000 + 45000 + 3750 micro-dollars
    assert cost.usd == pytest.approx(0.066759, abs=1e-12)
    assert cost.savings_usd == pytest.approx(0.405, abs=1e-12)


def test_openai_usage_counts_cached_tokens_once() -> None:
    # OpenAI reports cached tokens inside prompt_tokens; the host splits them off.
    usage = usage_from_openai(
        {
            "prompt_tokens": 10_000,
            "completion_tokens": 500,
            "prompt_tokens_details": {"cached_tokens": 8_000},
        }
    )
    assert (usage.input_tokens, usage.cache_read_tokens) == (2_000, 8_000)
    cost = GPT_41.cost(usage)
    # 2000*2 + 8000*2*0.25 + 500*8 = 4000 + 4000 + 4000 micro-dollars
    assert cost.usd == pytest.approx(0.012, abs=1e-12)
    assert cost.savings_usd == pytest.approx(0.012, abs=1e-12)


def test_custom_multipliers_and_zero_usage() -> None:
    price = Price(3.0, 15.0, cache_read_multiplier=0.2, cache_write_multiplier=2.0)
    cost = price.cost(Usage(cache_read_tokens=1_000, cache_write_tokens=1_000))
    # 1000*3*0.2 + 1000*3*2 = 600 + 6000 micro-dollars
    assert cost.usd == pytest.approx(0.0066, abs=1e-12)
    assert cost.savings_usd == pytest.approx(0.0024, abs=1e-12)
    assert price.cost(Usage()).usd == 0.0
    assert Price().cost(Usage(input_tokens=10**6, output_tokens=10**6)).usd == 0.0


def test_a_session_costs_the_sum_of_its_turns() -> None:
    turns = [
        Usage(
            input_tokens=20 + i,
            cache_read_tokens=1_000 * i,
            cache_write_tokens=300,
            output_tokens=100 + i,
        )
        for i in range(40)
    ]
    whole = Usage(
        sum(t.input_tokens for t in turns),
        sum(t.output_tokens for t in turns),
        sum(t.cache_read_tokens for t in turns),
        sum(t.cache_write_tokens for t in turns),
    )
    assert sum(SONNET.cost(t).usd for t in turns) == pytest.approx(SONNET.cost(whole).usd)


@pytest.mark.parametrize(
    ("model", "rates"),
    [
        ("claude-sonnet-4-5-20250929", (3.0, 15.0, 0.10, 1.25)),
        ("claude-sonnet-4-0", (3.0, 15.0, 0.10, 1.25)),
        ("anthropic/claude-opus-4.5", (5.0, 25.0, 0.10, 1.25)),
        ("claude-opus-4-6", (5.0, 25.0, 0.10, 1.25)),
        ("claude-opus-4-1-20250805", (15.0, 75.0, 0.10, 1.25)),
        ("us.anthropic.claude-haiku-4-5-20251001-v1:0", (1.0, 5.0, 0.10, 1.25)),
        ("CLAUDE-HAIKU-4-5", (1.0, 5.0, 0.10, 1.25)),
        ("gpt-4.1", (2.0, 8.0, 0.25, 1.0)),
        ("openai/gpt-4.1-mini", (0.40, 1.60, 0.25, 1.0)),
        ("gpt-5", (1.25, 10.0, 0.10, 1.0)),
        ("gpt-5-mini-2025-08-07", (0.25, 2.0, 0.10, 1.0)),
        ("gpt-5.1-codex-mini", (0.25, 2.0, 0.10, 1.0)),
        ("gpt-5-codex", (1.25, 10.0, 0.10, 1.0)),
        ("gpt-5.4", (2.50, 15.0, 0.10, 1.0)),
    ],
)
def test_bundled_table_knows_well_known_models(model: str, rates: tuple[float, ...]) -> None:
    price = Pricing([PriceTable.bundled()]).price(model, {}, "providers[0].cost")
    assert price is not None
    assert (
        price.input_per_mtok,
        price.output_per_mtok,
        price.cache_read_multiplier,
        price.cache_write_multiplier,
    ) == rates
    assert price.source.startswith("bundled prices.toml: ")


@pytest.mark.parametrize("model", ["qwen2.5-coder:7b", "llama3.1:8b", "local", ""])
def test_local_models_have_no_price(model: str) -> None:
    assert Pricing([PriceTable.bundled()]).price(model, {}, "providers[0].cost") is None


def test_bundled_table_is_dated() -> None:
    assert PriceTable.bundled().as_of == "2026-11-01"


def test_provider_keys_override_the_table_entry_key_by_key() -> None:
    pricing = Pricing([PriceTable.bundled()])
    price = pricing.price("claude-sonnet-4-5", {"cache_write_multiplier": 2.0}, "providers[1].cost")
    assert price == Price(3.0, 15.0, 0.10, 2.0)
    assert price is not None and price.source == (
        "providers[1].cost over bundled prices.toml: *claude-sonnet-4*"
    )
    own = pricing.price("my-finetune", {"input_per_mtok": 1.0}, "providers[1].cost")
    assert own == Price(1.0, 0.0, 0.10, 1.25)
    # Multipliers alone do not make an unknown model paid.
    assert pricing.price("my-finetune", {"cache_read_multiplier": 0.5}, "p") is None


def test_operator_table_comes_first(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        'as_of = "2026-11-20"\n[[models]]\nmatch = "claude-sonnet-4*"\n'
        "input_per_mtok = 2.5\noutput_per_mtok = 12.0\n",
        encoding="utf-8",
    )
    pricing = Pricing([PriceTable.load(path), PriceTable.bundled()])
    assert pricing.price("claude-sonnet-4-5", {}, "p") == Price(2.5, 12.0)
    assert pricing.price("claude-haiku-4-5", {}, "p") == Price(1.0, 5.0)


def test_bad_price_table_names_the_file_and_entry(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        '[[models]]\nmatch = "x*"\ninput_per_mtok = "cheap"\nspeed = 1\n'
        "[[models]]\nmatch = []\ninput_per_mtok = 1\n",
        encoding="utf-8",
    )
    with pytest.raises(PriceTableError) as info:
        PriceTable.load(path)
    text = str(info.value)
    assert f"price table {path}: models[0].input_per_mtok: expected a number, got 'cheap'" in text
    assert f"price table {path}: models[0].speed: unknown key (valid keys: match, " in text
    assert f"price table {path}: models[1].match: expected a model-name glob" in text


def test_provider_cost_table_errors_name_the_key_and_the_valid_keys() -> None:
    config = (
        ConfigBuilder()
        .provider("local", "http://127.0.0.1:9/v1")
        .provider(
            "paid",
            "http://127.0.0.1:9/v1",
            cost={"input_per_token": 3.0, "output_per_mtok": "15", "monthly_budget_usd": -5},
        )
        .profile("default", ["local", "paid"])
        .build()
    )
    with pytest.raises(ConfigError) as info:
        CostPlugin().bind(config)
    lines = str(info.value).splitlines()
    assert lines == [
        "config error in <test config>: providers[1].cost.input_per_token: unknown key "
        "(valid keys: input_per_mtok, output_per_mtok, cache_read_multiplier, "
        "cache_write_multiplier, monthly_budget_usd)",
        "config error in <test config>: providers[1].cost.output_per_mtok: expected a number, "
        "got '15'",
        "config error in <test config>: providers[1].cost.monthly_budget_usd: must not be "
        "negative, got -5",
    ]


def test_price_table_setting_and_bundled_switch(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(
        '[[models]]\nmatch = "my-model"\noutput_per_mtok = 9\n', encoding="utf-8"
    )
    builder = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"])
        .router(state_dir=str(tmp_path))
    )
    config_path = builder.write(tmp_path)
    from coderouter.config import load_config

    config = load_config(config_path)
    provider = config.provider("a")
    plugin = CostPlugin(CostConfig(price_table="mine.toml", use_bundled_prices=False))
    plugin.bind(config)  # a relative price_table is read next to the config file
    assert plugin.price(provider, "my-model") == Price(0.0, 9.0)
    assert plugin.price(provider, "claude-sonnet-4-5") is None
    missing = CostPlugin(CostConfig(price_table="nope.toml"))
    with pytest.raises(ConfigError, match=r"plugins\.cost\.price_table: cannot read price table"):
        missing.bind(config)
