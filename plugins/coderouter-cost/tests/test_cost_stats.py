"""`coderouter stats` on a ledger with known rows: exact numbers, text and JSON."""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from coderouter_cost import CostPlugin, Ledger
from coderouter_cost.ledger import COLUMNS, connect, has_column
from coderouter_cost.stats import parse_since, query

from coderouter.config import Config
from coderouter.plugins import load_plugins
from coderouter.testing import ConfigBuilder

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()


def at(day: int, hour: int, month: int = 11) -> float:
    return datetime(2026, month, day, hour, tzinfo=UTC).timestamp()


# A cache-heavy Claude Code turn on Sonnet 4.5: $0.049911, saving $0.2565 (a row without ts).
SONNET_TURN = (
    "default",
    "claude",
    "claude-sonnet-4-5",
    "anthropic",
    1,
    200,
    12,
    800,
    95_000,
    2_500,
    0,
    0.049911,
    0.2565,
    1,
    1,
)

# (ts, profile, provider, model, ingress, stream, status, input, output, cache read,
#  cache write, reasoning, cost, savings, priced, paid); the ingress key is added below
_ROWS: list[Any] = [
    (at(20, 10), *SONNET_TURN),
    (at(20, 11), *SONNET_TURN),
    # gpt-4.1 with 8,000 of 10,000 prompt tokens cached: $0.012, saving $0.012.
    (
        at(21, 9),
        "night",
        "gpt",
        "gpt-4.1",
        "openai_chat",
        0,
        200,
        2_000,
        500,
        8_000,
        0,
        0,
        0.012,
        0.012,
        1,
        1,
    ),
    # A local model: free.
    (
        at(21, 12),
        "default",
        "local",
        "qwen2.5-coder:7b",
        "openai_chat",
        0,
        200,
        3_000,
        200,
        0,
        0,
        0,
        0.0,
        0.0,
        0,
        0,
    ),
    # A paid provider whose model has no known price.
    (
        at(22, 8),
        "default",
        "mystery",
        "brand-new-model",
        "openai_chat",
        0,
        200,
        100,
        10,
        0,
        0,
        0,
        0.0,
        0.0,
        0,
        1,
    ),
    # Last month: outside --since 2026-11-01 and outside this month's budgets.
    (
        at(15, 8, month=10),
        "default",
        "claude",
        "claude-sonnet-4-5",
        "anthropic",
        0,
        200,
        1_000,
        0,
        0,
        0,
        0,
        1.0,
        0.0,
        1,
        1,
    ),
]
# The key that sent each row: "" for a router without named keys.
KEYS = ["alice", "alice", "bob", "alice", "", "bob"]
ROWS = [(*row, key) for row, key in zip(_ROWS, KEYS, strict=True)]


def build_config(tmp_path: Path) -> Config:
    builder = (
        ConfigBuilder()
        .provider(
            "claude",
            "http://127.0.0.1:9",
            kind="anthropic",
            paid=True,
            model="claude-sonnet-4-5",
            cost={"monthly_budget_usd": 50},
        )
        .provider("gpt", "http://127.0.0.1:9/v1", paid=True, model="gpt-4.1")
        .provider("local", "http://127.0.0.1:9/v1", model="qwen2.5-coder:7b")
        .profile("default", ["claude", "local"])
        .profile("night", ["gpt"])
        .plugin("cost", monthly_budget_usd=0.1)
        .router(state_dir=str(tmp_path))
    )
    builder.data["profiles"]["night"]["plugins"] = {"cost": {"monthly_budget_usd": 0.01}}
    return builder.build()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Config, CostPlugin]:
    config = build_config(tmp_path)
    ledger = Ledger(tmp_path / "cost-ledger.sqlite3")
    ledger.open()
    for row in ROWS:
        assert ledger.append(row)
    ledger.close()
    plugin = load_plugins(config).get_plugin("cost")
    assert isinstance(plugin, CostPlugin)
    plugin.clock = lambda: NOW
    return config, plugin


def run(
    setup: tuple[Config, CostPlugin], capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    config, plugin = setup
    parser = argparse.ArgumentParser(prog="coderouter")
    plugin.register_commands(subparsers=parser.add_subparsers(dest="command"))
    args = parser.parse_args(["stats", *argv])
    code = args.func(args, config, None)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_text_table_by_provider(
    setup: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(setup, capsys, "--since", "2026-11-01")
    assert code == 0
    assert (
        out
        == f"""\
cost ledger: {tmp_path / "cost-ledger.sqlite3"}
period: since 2026-11-01 00:00 UTC (2026-11-01)

PROVIDER  REQUESTS  INPUT  OUTPUT  CACHE READ  CACHE WRITE  CACHE HIT  COST $  SAVED $
claude           2     24   1,600     190,000        5,000      97.4%  0.0998   0.5130
gpt              1  2,000     500       8,000            0      80.0%  0.0120   0.0120
local            1  3,000     200           0            0       0.0%  0.0000   0.0000
mystery          1    100      10           0            0       0.0%  0.0000   0.0000
--------------------------------------------------------------------------------------
total            5  5,124   2,310     198,000        5,000      95.1%  0.1118   0.5250

note: 1 request(s) on paid providers had no known price and count as $0; give those providers \
a [providers.cost] table

monthly budgets (2026-11, UTC):
  provider claude       $0.10 of $50.00 (0%)
  total paid providers  $0.11 of $0.10 (112%)  REACHED
  profile night         $0.01 of $0.01 (120%)  REACHED
"""
    )


def test_json_by_provider_has_exact_numbers(setup: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(setup, capsys, "--since", "2026-11-01", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["since"] == "2026-11-01 00:00 UTC"
    assert report["groups"][0] == {
        "key": "claude",
        "requests": 2,
        "input_tokens": 24,
        "output_tokens": 1_600,
        "cache_read_tokens": 190_000,
        "cache_write_tokens": 5_000,
        "reasoning_tokens": 0,
        "cost_usd": 0.099822,
        "savings_usd": 0.513,
        "unpriced_paid": 0,
        "cache_hit_rate": 0.9742,
    }
    assert [g["key"] for g in report["groups"]] == ["claude", "gpt", "local", "mystery"]
    assert report["total"] == {
        "key": "total",
        "requests": 5,
        "input_tokens": 5_124,
        "output_tokens": 2_310,
        "cache_read_tokens": 198_000,
        "cache_write_tokens": 5_000,
        "reasoning_tokens": 0,
        "cost_usd": 0.111822,
        "savings_usd": 0.525,
        "unpriced_paid": 1,
        "cache_hit_rate": 0.9514,
    }
    assert report["budgets"] == [
        {
            "scope": "provider",
            "name": "claude",
            "budget_usd": 50.0,
            "spent_usd": 0.099822,
            "month": "2026-11",
            "reached": False,
        },
        {
            "scope": "total",
            "name": "paid providers",
            "budget_usd": 0.1,
            "spent_usd": 0.111822,
            "month": "2026-11",
            "reached": True,
        },
        {
            "scope": "profile",
            "name": "night",
            "budget_usd": 0.01,
            "spent_usd": 0.012,
            "month": "2026-11",
            "reached": True,
        },
    ]


def test_grouping_by_day_profile_and_model(setup: Any, capsys: pytest.CaptureFixture[str]) -> None:
    def groups(*argv: str) -> list[tuple[str, int, float]]:
        _, out, _ = run(setup, capsys, "--json", *argv)
        return [(g["key"], g["requests"], g["cost_usd"]) for g in json.loads(out)["groups"]]

    assert groups("--by", "day") == [
        ("2026-10-15", 1, 1.0),
        ("2026-11-20", 2, 0.099822),
        ("2026-11-21", 2, 0.012),
        ("2026-11-22", 1, 0.0),
    ]
    assert groups("--by", "profile", "--since", "month") == [
        ("default", 4, 0.099822),
        ("night", 1, 0.012),
    ]
    assert groups("--by", "model", "--since", "5d") == [
        ("gpt-4.1", 1, 0.012),
        ("brand-new-model", 1, 0.0),
        ("qwen2.5-coder:7b", 1, 0.0),
    ]


def test_grouping_by_key(setup: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(setup, capsys, "--json", "--by", "key", "--since", "month")
    groups = [(g["key"], g["requests"], g["cost_usd"]) for g in json.loads(out)["groups"]]
    assert groups == [("alice", 3, 0.099822), ("bob", 1, 0.012), ("", 1, 0.0)]
    _, text, _ = run(setup, capsys, "--by", "key", "--since", "month")
    lines = text.splitlines()
    assert lines[3].split()[:2] == ["KEY", "REQUESTS"]
    assert [line.split()[:2] for line in lines[4:7]] == [
        ["alice", "3"],
        ["bob", "1"],
        ["(none)", "1"],
    ]


def test_a_ledger_from_before_key_names_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE attempts (id INTEGER PRIMARY KEY, ts REAL NOT NULL, "
        + ", ".join(f"{c} {'TEXT' if c in _TEXT else 'REAL'} NOT NULL" for c in COLUMNS[1:-1])
        + ")"
    )
    old.execute(
        f"INSERT INTO attempts ({', '.join(COLUMNS[:-1])}) VALUES "
        f"({', '.join('?' for _ in COLUMNS[:-1])})",
        _ROWS[0],
    )
    old.commit()
    old.close()
    config = build_config(tmp_path)
    plugin = load_plugins(config).get_plugin("cost")
    assert isinstance(plugin, CostPlugin)
    assert not has_column(connect(path, busy_timeout_ms=100, create=False), "key_name")
    assert [
        g.key for g in query(connect(path, busy_timeout_ms=100, create=False), by="key", since=None)
    ] == [""]
    ledger = Ledger(path, clock=lambda: NOW)
    ledger.open()
    assert ledger.append(ROWS[2])
    assert ledger.spend().key("bob") == 0.012
    ledger.close()
    conn = connect(path, busy_timeout_ms=100, create=False)
    assert [(g.key, g.requests) for g in query(conn, by="key", since=None)] == [("", 1), ("bob", 1)]
    assert conn.execute("PRAGMA user_version").fetchone() == (2,)


_TEXT = {"profile", "provider", "model", "ingress"}


def test_empty_period_and_bad_since(setup: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(setup, capsys, "--since", "1h")
    assert code == 0
    assert "no requests recorded in this period" in out
    code, _, err = run(setup, capsys, "--since", "last tuesday")
    assert code == 2
    assert "--since: expected 7d, 24h, 30m, 2w, 'month' or a date like 2026-11-01" in err


def test_no_ledger_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = build_config(tmp_path / "empty")
    plugin = load_plugins(config).get_plugin("cost")
    code, out, _ = run((config, plugin), capsys, "--json")
    assert code == 0
    assert json.loads(out)["groups"] == []
    assert not (tmp_path / "empty" / "cost-ledger.sqlite3").exists()  # stats never creates it


def test_parse_since() -> None:
    assert parse_since("7d", NOW) == NOW - 7 * 86400
    assert parse_since("36h", NOW) == NOW - 36 * 3600
    assert parse_since("month", NOW) == at(1, 0)
    assert parse_since("2026-11-20T10:00", NOW) == at(20, 10)


def test_cli_reads_the_ledger_of_the_config(setup: Any, tmp_path: Path) -> None:
    path = tmp_path / "coderouter.toml"
    path.write_text(
        f"""\
[router]
state_dir = "{tmp_path}"
[plugins]
enabled = ["cost"]
[[providers]]
name = "claude"
base_url = "http://127.0.0.1:9"
kind = "anthropic"
[profiles.default]
providers = ["claude"]
""",
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "coderouter.cli",
            "stats",
            "--config",
            str(path),
            "--by",
            "provider",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == f"cost ledger: {tmp_path / 'cost-ledger.sqlite3'}"
    assert lines[1] == "period: everything recorded"
    assert lines[4].split() == [
        "claude",
        "3",
        "1,024",
        "1,600",
        "190,000",
        "5,000",
        "96.9%",
        "1.0998",
        "0.5130",
    ]
