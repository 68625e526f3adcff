"""Budgets and the ledger, driven through the plugin's hooks with records built by hand and a
fake wall clock."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from coderouter_cost import COST_HEADER, CostConfig, CostPlugin, Ledger, month_bounds
from coderouter_cost.pricing import usd

from coderouter.config import Config
from coderouter.plugins import load_plugins
from coderouter.state import EmbeddedStore
from coderouter.testing import ConfigBuilder
from coderouter.types import Attempt, Chain, Draft, Reject, RequestView, Result, Skip, Usage

# $1 per fresh input token: one request with one input token costs exactly one dollar.
DOLLAR_A_TOKEN = {"input_per_mtok": 1_000_000.0, "output_per_mtok": 0.0}


class Clock:
    def __init__(self, when: datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when.timestamp()


NOV_30 = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
DEC_1 = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)


def build(
    tmp_path: Path,
    *,
    budget: float | None = 3.0,
    global_budget: float | None = None,
    profile_budget: float | None = None,
) -> Config:
    paid_cost = dict(DOLLAR_A_TOKEN)
    if budget is not None:
        paid_cost["monthly_budget_usd"] = budget
    builder = (
        ConfigBuilder()
        .provider("paid", "http://127.0.0.1:9/v1", paid=True, cost=paid_cost)
        .provider("paid2", "http://127.0.0.1:9/v1", paid=True, cost=DOLLAR_A_TOKEN)
        .provider("local", "http://127.0.0.1:9/v1", model="qwen2.5-coder:7b")
        .profile("default", ["paid", "local"])
        .profile("both_paid", ["paid", "paid2"])
        .profile("night", ["paid2", "local"])
        .router(state_dir=str(tmp_path), allow_paid=True)
    )
    settings: dict[str, Any] = {}
    if global_budget is not None:
        settings["monthly_budget_usd"] = (
            int(global_budget) if global_budget.is_integer() else global_budget
        )
    builder.plugin("cost", **settings)
    if profile_budget is not None:
        builder.data["profiles"]["night"]["plugins"] = {
            "cost": {"monthly_budget_usd": profile_budget}
        }
    return builder.build()


def plugin_for(config: Config, clock: Clock) -> CostPlugin:
    """The plugin as the host builds it (entry point, [plugins.cost] and profile overrides)."""
    plugin = load_plugins(config).get_plugin("cost")
    assert isinstance(plugin, CostPlugin)
    plugin.clock = clock
    plugin.bind(config)
    assert plugin.ledger is not None
    plugin.ledger.open()
    return plugin


def serve(
    plugin: CostPlugin, config: Config, profile: str = "default", usage: Usage | None = None
) -> tuple[str | Reject | None, Chain, list[str]]:
    """One request through the hooks the way the attempt loop calls them: filter_chain, then
    before_attempt per provider, and after_attempt on the first one called."""
    view = RequestView("openai_chat", {"model": "m", "messages": []}, {}, "", profile)
    draft = Draft(view)
    chain = Chain(profile, config.profile_chain(profile))
    plugin.filter_chain(request=view, chain=chain)
    passed: list[str] = [f"{s.provider}: {s.reason}" for s in chain.skipped]
    for index, provider in enumerate(list(chain.providers)):
        attempt = Attempt(draft, provider, index, profile)
        verdict = plugin.before_attempt(attempt=attempt)
        if isinstance(verdict, Reject):
            return verdict, chain, passed
        if isinstance(verdict, Skip):
            passed.append(f"{provider.name}: {verdict.reason}")
            continue
        result = Result(200, usage or Usage(input_tokens=1), "end_turn", 0.1, None, "m")
        plugin.after_attempt(attempt=attempt, result=result)
        return provider.name, chain, passed
    return None, chain, passed


def test_provider_budget_holds_until_the_month_turns(tmp_path: Path) -> None:
    config = build(tmp_path)
    clock = Clock(NOV_30)
    plugin = plugin_for(config, clock)
    served = [serve(plugin, config)[0] for _ in range(4)]
    assert served == ["paid", "paid", "paid", "local"]
    _, chain, passed = serve(plugin, config)
    assert passed == ["paid: monthly budget $3.00 reached (spent $3.00 in 2026-11)"]
    assert chain.skipped[0].by == "cost"
    clock.set(DEC_1)
    assert serve(plugin, config)[0] == "paid"
    assert plugin.ledger is not None
    assert plugin.ledger.spend().provider("paid") == 1.0


def test_a_restart_keeps_the_months_spend(tmp_path: Path) -> None:
    config = build(tmp_path)
    clock = Clock(NOV_30)
    first = plugin_for(config, clock)
    for _ in range(3):
        serve(first, config)
    assert first.ledger is not None
    first.ledger.close()
    second = plugin_for(config, clock)
    assert serve(second, config)[0] == "local"


def test_call_time_check_sees_another_workers_spend(tmp_path: Path) -> None:
    config = build(tmp_path, budget=1.0)
    clock = Clock(NOV_30)
    worker_a, worker_b = plugin_for(config, clock), plugin_for(config, clock)
    view = RequestView("openai_chat", {"model": "m"}, {}, "", "default")
    chain = Chain("default", config.profile_chain("default"))
    worker_b.filter_chain(request=view, chain=chain)
    assert chain.names() == ["paid", "local"]  # nothing spent yet
    assert serve(worker_a, config)[0] == "paid"  # meanwhile worker A spends the budget
    verdict = worker_b.before_attempt(
        attempt=Attempt(Draft(view), chain.providers[0], 0, "default")
    )
    assert verdict == Skip("monthly budget $1.00 reached (spent $1.00 in 2026-11)")


def test_total_budget_skips_paid_providers_only(tmp_path: Path) -> None:
    config = build(tmp_path, budget=None, global_budget=2.0)
    plugin = plugin_for(config, Clock(NOV_30))
    assert [serve(plugin, config, "night")[0] for _ in range(3)] == ["paid2", "paid2", "local"]
    served, chain, passed = serve(plugin, config, "default")
    assert served == "local"
    assert passed == ["paid: total monthly budget $2.00 reached (spent $2.00 in 2026-11)"]
    assert chain.names() == ["local"]


def test_profile_budget_applies_to_its_profile(tmp_path: Path) -> None:
    config = build(tmp_path, budget=None, profile_budget=1.5)
    plugin = plugin_for(config, Clock(NOV_30))
    assert [serve(plugin, config, "night")[0] for _ in range(3)] == ["paid2", "paid2", "local"]
    _, _, passed = serve(plugin, config, "night")
    assert passed == [
        "paid2: profile 'night' monthly budget $1.50 reached (spent $2.00 in 2026-11)"
    ]
    # Other profiles still reach the same paid provider.
    assert serve(plugin, config, "both_paid")[0] == "paid"


def test_budget_alone_leaving_nothing_answers_429(tmp_path: Path) -> None:
    config = build(tmp_path, budget=None, global_budget=1.0)
    clock = Clock(NOV_30)
    plugin = plugin_for(config, clock)
    assert serve(plugin, config, "both_paid")[0] == "paid"
    verdict, _, passed = serve(plugin, config, "both_paid")
    assert passed == ["paid: total monthly budget $1.00 reached (spent $1.00 in 2026-11)"]
    assert isinstance(verdict, Reject)
    assert (verdict.status, verdict.error_type) == (429, "budget")
    assert verdict.message == (
        "provider 'paid2': total monthly budget $1.00 reached (spent $1.00 in 2026-11); "
        "no provider of profile 'both_paid' is within its budget"
    )
    assert verdict.retry_after_s == pytest.approx(3600.0)  # until 2026-12-01 00:00 UTC


def test_other_skips_leave_the_502_to_the_host(tmp_path: Path) -> None:
    config = build(tmp_path, budget=None, global_budget=1.0)
    plugin = plugin_for(config, Clock(NOV_30))
    serve(plugin, config, "both_paid")
    view = RequestView("openai_chat", {"model": "m"}, {}, "", "both_paid")
    chain = Chain("both_paid", config.profile_chain("both_paid"))
    chain.skip("paid2", "unhealthy", by="health")
    plugin.filter_chain(request=view, chain=chain)
    assert chain.names() == []
    assert [s.reason for s in chain.skipped][-1].startswith("total monthly budget $1.00")


def test_free_providers_are_never_budget_gated(tmp_path: Path) -> None:
    config = build(tmp_path, budget=None, global_budget=0.0)
    plugin = plugin_for(config, Clock(NOV_30))
    served, _, passed = serve(plugin, config, "default")
    assert served == "local"
    assert passed == ["paid: total monthly budget $0.00 reached (spent $0.00 in 2026-11)"]


def test_after_attempt_sets_header_log_fields_and_ledger_row(tmp_path: Path) -> None:
    config = (
        ConfigBuilder()
        .provider(
            "claude", "http://127.0.0.1:9", kind="anthropic", paid=True, model="claude-sonnet-4-5"
        )
        .provider("mystery", "http://127.0.0.1:9/v1", paid=True, model="brand-new-model")
        .profile("default", ["claude", "mystery"])
        .plugin("cost")
        .router(state_dir=str(tmp_path))
        .build()
    )
    plugin = plugin_for(config, Clock(NOV_30))
    view = RequestView("anthropic", {"model": "x", "stream": True}, {}, "", "default")
    usage = Usage(
        input_tokens=12, cache_read_tokens=95_000, cache_write_tokens=2_500, output_tokens=800
    )
    attempt = Attempt(Draft(view), config.provider("claude"), 0, "default")
    plugin.after_attempt(attempt=attempt, result=Result(200, usage, "end_turn", 1.0, 0.2, ""))
    assert attempt.response_headers == {COST_HEADER: "0.049911"}
    assert attempt.log_fields == {"cost_usd": 0.049911, "cache_savings_usd": 0.2565}
    unknown = Attempt(Draft(view), config.provider("mystery"), 1, "default")
    plugin.after_attempt(attempt=unknown, result=Result(200, usage, "end_turn", 1.0, 0.2, ""))
    assert unknown.response_headers == {COST_HEADER: "0.000000"}
    assert unknown.log_fields == {"cost_usd": 0.0, "cost_unpriced": True}
    assert plugin.ledger is not None
    conn = sqlite3.connect(plugin.ledger.path)
    rows = conn.execute(
        "SELECT ts, profile, provider, model, ingress, stream, status, "
        "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
        "round(cost_usd, 9), round(savings_usd, 9), priced, paid "
        "FROM attempts ORDER BY id"
    ).fetchall()
    # What both attempts share: ts and profile; ingress, stream, status and the usage's input,
    # output, cache read and cache write tokens.
    when = (NOV_30.timestamp(), "default")
    turn = ("anthropic", 1, 200, 12, 800, 95_000, 2_500)
    assert rows == [
        (*when, "claude", "claude-sonnet-4-5", *turn, 0.049911, 0.2565, 1, 1),
        (*when, "mystery", "brand-new-model", *turn, 0.0, 0.0, 0, 1),
    ]


def test_ledger_is_wal_with_normal_sync(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "deep" / "ledger.sqlite3")
    ledger.open()
    other = sqlite3.connect(ledger.path)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert ledger._conn is not None
    assert ledger._conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    assert ledger._conn.execute("PRAGMA busy_timeout").fetchone() == (2000,)
    ledger.close()


def row(
    ts: float, provider: str = "paid", cost: float = 1.0, profile: str = "default", key: str = ""
) -> Any:
    return (ts, profile, provider, "m", "openai_chat", 0, 200, 1, 0, 0, 0, 0, cost, 0.0, 1, 1, key)


def test_a_locked_ledger_keeps_rows_in_memory_and_writes_them_later(tmp_path: Path) -> None:
    errors: list[str] = []
    clock = Clock(NOV_30)
    ledger = Ledger(
        tmp_path / "ledger.sqlite3", busy_timeout_ms=20, clock=clock, on_error=errors.append
    )
    ledger.open()
    blocker = sqlite3.connect(ledger.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    assert ledger.append(row(clock(), cost=2.0)) is False
    assert len(ledger.pending) == 1 and ledger.write_errors == 1
    assert errors and "write failed" in errors[0] and "1 row(s) kept in memory" in errors[0]
    assert ledger.spend().total == 2.0  # budgets still see it
    blocker.execute("COMMIT")
    assert ledger.append(row(clock(), cost=3.0)) is True
    assert ledger.pending == []
    assert blocker.execute("SELECT count(*), sum(cost_usd) FROM attempts").fetchone() == (2, 5.0)
    assert ledger.spend().total == 5.0


def test_deferred_rows_count_at_once_and_are_written_in_one_batch(tmp_path: Path) -> None:
    clock = Clock(NOV_30)
    ledger = Ledger(tmp_path / "ledger.sqlite3", busy_timeout_ms=20, clock=clock)
    ledger.open()
    ledger.defer_writes()
    other = sqlite3.connect(ledger.path, isolation_level=None)
    for cost in (1.0, 2.0, 4.0):
        assert ledger.append(row(clock(), cost=cost)) is False
    assert other.execute("SELECT count(*) FROM attempts").fetchone() == (0,)
    assert ledger.spend().total == 7.0
    other.execute("BEGIN IMMEDIATE")
    problem = ledger.write_queued()
    assert problem is not None and "3 row(s) kept in memory" in problem
    assert len(ledger.pending) == 3 and ledger.spend().total == 7.0
    other.execute("COMMIT")
    assert ledger.write_queued() is None
    assert ledger.pending == [] and ledger.unchecked_rows == 3
    assert other.execute("SELECT count(*), sum(cost_usd) FROM attempts").fetchone() == (3, 7.0)
    assert ledger.spend().total == 7.0
    ledger.close()


def test_close_flushes_pending_rows(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3", busy_timeout_ms=20, on_error=lambda m: None)
    ledger.open()
    blocker = sqlite3.connect(ledger.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    ledger.append(row(1.0))
    blocker.execute("COMMIT")
    ledger.close()
    assert blocker.execute("SELECT count(*) FROM attempts").fetchone() == (1,)


def test_month_spend_catches_up_and_ignores_other_months(tmp_path: Path) -> None:
    clock = Clock(NOV_30)
    mine = Ledger(tmp_path / "ledger.sqlite3", clock=clock)
    theirs = Ledger(tmp_path / "ledger.sqlite3", clock=clock)
    mine.open()
    theirs.open()
    mine.append(row(clock(), "a", 1.0))
    theirs.append(row(clock(), "b", 2.0))
    theirs.append(row(datetime(2026, 10, 31, 23, 59, tzinfo=UTC).timestamp(), "b", 100.0))
    spend = mine.spend()
    assert (spend.month, spend.total, spend.by_provider) == ("2026-11", 3.0, {"a": 1.0, "b": 2.0})
    clock.set(DEC_1)
    theirs.append(row(clock(), "b", 4.0, profile="night"))
    spend = mine.spend()
    assert (spend.month, spend.total, spend.by_profile) == ("2026-12", 4.0, {"night": 4.0})


def test_month_bounds_are_utc_calendar_months() -> None:
    label, start, end = month_bounds(datetime(2026, 12, 15, tzinfo=UTC).timestamp())
    assert label == "2026-12"
    assert start == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    assert end == datetime(2027, 1, 1, tzinfo=UTC).timestamp()


def test_describe_state(tmp_path: Path) -> None:
    config = build(tmp_path, global_budget=10.0)
    plugin = plugin_for(config, Clock(NOV_30))
    serve(plugin, config)
    state = plugin.describe_state()
    assert state["open"] is True
    assert state["ledger"] == str(tmp_path / "cost-ledger.sqlite3")
    assert state["month"] == "2026-11"
    assert state["spent_usd"] == {
        "total": 1.0,
        "by_provider": {"paid": 1.0},
        "by_profile": {"default": 1.0},
        "by_key": {},
    }
    assert state["budgets_usd"] == {
        "providers": {"paid": 3.0},
        "total": 10.0,
        "profiles": {},
        "keys": {},
    }
    assert (state["pending_rows"], state["write_errors"]) == (0, 0)


def test_settings_a_profile_may_not_change(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError,
        match=r"profiles\.night\.plugins\.cost\.ledger_path: can "
        r"only be set in \[plugins\.cost\]",
    ):
        CostPlugin(CostConfig(), {"night": CostConfig(ledger_path="x.sqlite3")})
    with pytest.raises(ValueError, match="monthly_budget_usd: must not be negative"):
        CostPlugin(CostConfig(monthly_budget_usd=-1.0))


def test_checkpoint_moves_the_wal_into_the_database(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.open()
    ledger.defer_checkpoints()
    for i in range(200):
        ledger.append(row(float(i)))
    assert ledger.unchecked_rows == 200
    result = ledger.checkpoint()
    assert result is not None
    busy, frames, done = result
    assert busy == 0 and frames > 0 and done == frames
    assert ledger.unchecked_rows == 0
    ledger.close()


def test_startup_opens_and_checkpoints_off_the_loop_and_shutdown_closes(tmp_path: Path) -> None:
    import asyncio
    from types import SimpleNamespace

    from coderouter.log import RequestLog

    config = build(tmp_path)
    plugin = load_plugins(config).get_plugin("cost")
    assert isinstance(plugin, CostPlugin)
    plugin.checkpoint_interval_s = 0.01
    app = SimpleNamespace(config=config, log=RequestLog(enabled=False), store=EmbeddedStore())

    async def lifetime() -> int:
        plugin.startup(app=app)
        assert plugin.ledger is not None and plugin.ledger.is_open
        for _ in range(3):
            serve(plugin, config)
        for _ in range(500):
            if plugin.ledger.unchecked_rows == 0:
                break
            await asyncio.sleep(0.01)
        left = plugin.ledger.unchecked_rows
        plugin.shutdown(app=app)
        return left

    assert asyncio.run(lifetime()) == 0
    assert plugin.ledger is not None and not plugin.ledger.is_open
    conn = sqlite3.connect(tmp_path / "cost-ledger.sqlite3")
    assert conn.execute("SELECT count(*), sum(cost_usd) FROM attempts").fetchone() == (3, 3.0)


def test_ledger_errors_go_to_the_request_log(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from coderouter.log import RequestLog

    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    config = (
        ConfigBuilder()
        .provider("local", "http://127.0.0.1:9/v1")
        .profile("default", ["local"])
        .plugin("cost", ledger_path=str(blocked / "ledger.sqlite3"))
        .build()
    )
    plugin = load_plugins(config).get_plugin("cost")
    assert isinstance(plugin, CostPlugin)
    log = RequestLog(enabled=False)
    records: list[dict[str, Any]] = []
    log.listeners.append(records.append)
    plugin.startup(app=SimpleNamespace(config=config, log=log, store=EmbeddedStore()))
    assert records and records[0]["event"] == "cost_ledger_error"
    assert "cannot open" in records[0]["message"]
    # The request is still answered and priced; the row waits in memory.
    assert serve(plugin, config)[0] == "local"
    assert plugin.ledger is not None and len(plugin.ledger.pending) == 1
    assert len(records) == 1  # the open is retried now and then, not reported per request


def test_a_stream_failing_after_commit_is_still_priced(tmp_path: Path) -> None:
    from coderouter.types import UpstreamError

    config = build(tmp_path, budget=None)
    plugin = plugin_for(config, Clock(NOV_30))
    view = RequestView("openai_chat", {"model": "m", "messages": []}, {}, "", "default")
    attempt = Attempt(Draft(view), config.provider("paid"), 0, "default")
    cut = UpstreamError("stream_cut", "connection lost", committed=True, usage=Usage(2, 0))
    plugin.on_failure(attempt=attempt, error=cut)
    before_commit = UpstreamError("connect", "refused", usage=None)
    plugin.on_failure(attempt=attempt, error=before_commit)
    assert plugin.ledger is not None
    assert plugin.ledger.spend().provider("paid") == pytest.approx(2.0)
    assert attempt.log_fields["cost_usd"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0, "$0.00"), (0.0042, "$0.0042"), (0.000123, "$0.00012"), (0.05, "$0.05"), (3, "$3.00")],
)
def test_sub_cent_amounts_keep_their_digits(amount: float, text: str) -> None:
    assert usd(amount) == text
