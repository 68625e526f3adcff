"""End to end on Postgres: `coderouter serve` processes as hosts sharing one database, the
official SDK as client, `coderouter stats` reading the database, SIGTERM and SIGKILL of a host,
and Postgres going away while a host serves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import psycopg
import pytest

from coderouter.testing import ConfigBuilder, FakeUpstream
from coderouter.testing.fleet import wait_until
from coderouter.testing.postgres_server import PostgresServer

MESSAGES: Any = [{"role": "user", "content": "hi"}]
# $0.10 per fresh input token: the default fake answer (10 prompt tokens) costs one dollar.
DOLLAR_A_REQUEST = {"input_per_mtok": 100_000.0, "output_per_mtok": 0.0}
DSN_ENV = "CODEROUTER_LEDGER_DSN"
# Noticing an outage takes a failed connection attempt (up to 3 s) on a busy machine.
WAIT_S = 15.0


def env(dsn: str) -> dict[str, str]:
    return {"CODEROUTER_ALLOW_PAID": "1", DSN_ENV: dsn}


def ask(url: str) -> str:
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    return raw.headers["x-coderouter-provider"]


def host(paid: FakeUpstream, local: FakeUpstream, state_dir: Path, **cost: Any) -> ConfigBuilder:
    budget = cost.pop("budget", None)
    return (
        ConfigBuilder()
        .provider(
            "paid",
            paid,
            paid=True,
            cost={**DOLLAR_A_REQUEST, **({"monthly_budget_usd": budget} if budget else {})},
        )
        .provider("local", local, model="qwen2.5-coder:7b")
        .profile("default", ["paid", "local"])
        .plugin("cost", ledger="postgres", **cost)
        .router(state_dir=str(state_dir))
    )


def costs(dsn: str) -> list[tuple[str, float]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT provider, cost_usd FROM attempts ORDER BY ts").fetchall()
    return [(p, round(c, 9)) for p, c in rows]


def cost_state(url: str) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(url + "/-/plugins").json()["state"]["cost"]
    return state


def stats(config: Path, dsn: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "coderouter.cli", "stats", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env(dsn)},
        check=True,
    )
    return done.stdout


def test_two_hosts_share_spend_budgets_and_stats(
    router_process: Any, fake_upstreams: Any, postgres_dsn: str, tmp_path: Path
) -> None:
    paid, local = fake_upstreams(), fake_upstreams()
    one = router_process(host(paid, local, tmp_path / "one", budget=3), env=env(postgres_dsn))
    two = router_process(host(paid, local, tmp_path / "two", budget=3), env=env(postgres_dsn))
    assert [ask(one.url) for _ in range(2)] == ["paid", "paid"]
    # The other host reads what the first spent from Postgres.
    wait_until(lambda: cost_state(two.url)["spent_usd"]["total"] == 2.0, WAIT_S)
    assert ask(two.url) == "paid"
    wait_until(lambda: cost_state(one.url)["spent_usd"]["total"] == 3.0, WAIT_S)
    assert ask(one.url) == "local"
    assert ask(two.url) == "local"
    # Rows reach Postgres from the writer task a moment after the answer.
    wait_until(lambda: len(costs(postgres_dsn)) == 5, WAIT_S)
    assert costs(postgres_dsn) == [("paid", 1.0)] * 3 + [("local", 0.0)] * 2
    state = cost_state(one.url)
    assert state["backend"] == "postgres" and state["open"] is True
    assert state["ledger"].startswith("postgresql://coderouter@127.0.0.1:")
    report = json.loads(stats(Path(one.config_path), postgres_dsn, "--json"))
    assert {g["key"]: (g["requests"], g["cost_usd"]) for g in report["groups"]} == {
        "paid": (3, 3.0),
        "local": (2, 0.0),
    }
    assert report["budgets"][0]["spent_usd"] == 3.0 and report["budgets"][0]["reached"]
    text = stats(Path(one.config_path), postgres_dsn, "--by", "day")
    assert text.splitlines()[0] == f"cost ledger: {postgres_dsn}"
    assert "  provider paid  $3.00 of $3.00 (100%)  REACHED" in text


def test_sigterm_sends_every_batched_row(
    router_process: Any, fake_upstreams: Any, postgres_dsn: str, tmp_path: Path
) -> None:
    paid, local = fake_upstreams(), fake_upstreams()
    builder = host(paid, local, tmp_path, write_interval_s=60)
    proc = router_process(builder, env=env(postgres_dsn), workers=2)
    for _ in range(6):
        ask(proc.url)
    # Each worker spools its own rows; batched, the next batch is a minute away.
    assert len(list((tmp_path / "cost-spool").glob("*.jsonl"))) == 2
    assert costs(postgres_dsn) == []
    assert proc.stop(signal.SIGTERM) == 0
    assert costs(postgres_dsn) == [("paid", 1.0)] * 6
    assert list((tmp_path / "cost-spool").iterdir()) == []


def test_postgres_outage_spools_and_replays_and_a_killed_host_loses_nothing(
    router_process: Any,
    fake_upstreams: Any,
    postgres_server: PostgresServer,
    postgres_dsn: str,
    tmp_path: Path,
) -> None:
    paid, local = fake_upstreams(), fake_upstreams()
    builder = host(paid, local, tmp_path)
    proc = router_process(builder, env=env(postgres_dsn))
    ask(proc.url)
    wait_until(lambda: len(costs(postgres_dsn)) == 1, WAIT_S)
    postgres_server.stop()
    try:
        for _ in range(3):
            assert ask(proc.url) == "paid"  # the host keeps serving
        wait_until(lambda: cost_state(proc.url)["outage_since"] is not None, WAIT_S)
        state = cost_state(proc.url)
        assert state["open"] is False and state["spooled_rows"] == 3
        assert state["spent_usd"]["total"] == 4.0
    finally:
        postgres_server.start()
    wait_until(lambda: len(costs(postgres_dsn)) == 4, WAIT_S)
    assert cost_state(proc.url)["outage_since"] is None
    errors = [line for line in proc.log_lines(None) if line.get("event") == "cost_ledger_error"]
    assert len(errors) == 1 and "unreachable" in errors[0]["message"]
    # Down again, and the host is killed: its spool outlives it and the next start sends it.
    postgres_server.stop()
    try:
        for _ in range(2):
            ask(proc.url)
        wait_until(lambda: cost_state(proc.url)["spooled_rows"] == 2, WAIT_S)
        proc.kill()  # the server and its worker at once: nothing gets to flush
    finally:
        postgres_server.start()
    assert len(costs(postgres_dsn)) == 4
    (left,) = (tmp_path / "cost-spool").glob("*.jsonl")
    assert len(left.read_bytes().splitlines()) == 2
    again = router_process(builder, env=env(postgres_dsn))
    wait_until(lambda: len(costs(postgres_dsn)) == 6, WAIT_S)
    assert costs(postgres_dsn) == [("paid", 1.0)] * 6
    state = cost_state(again.url)
    assert state["rows_adopted"] == 2 and state["spent_usd"]["total"] == 6.0
    assert not left.exists()


def test_unset_dsn_variable_stops_the_server(
    router_process: Any, fake_upstreams: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DSN_ENV, raising=False)
    builder = host(fake_upstreams(), fake_upstreams(), tmp_path, ledger_dsn_env="NO_SUCH_DSN")
    with pytest.raises(RuntimeError) as info:
        router_process(builder, env={"CODEROUTER_ALLOW_PAID": "1"})
    assert "plugins.cost.ledger_dsn_env: the environment variable NO_SUCH_DSN is unset" in str(
        info.value
    )
