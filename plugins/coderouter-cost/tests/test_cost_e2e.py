"""End to end: `coderouter serve` with the cost plugin against fake paid providers; the official
SDKs as clients; the ledger read back with `coderouter stats --json`."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from coderouter.testing import (
    Answer,
    ConfigBuilder,
    FakeUpstream,
    anthropic_message,
    anthropic_stream,
    chat_completion,
    chat_stream,
)

MESSAGES: Any = [{"role": "user", "content": "hi"}]
PAID = {"CODEROUTER_ALLOW_PAID": "1"}
# $0.10 per fresh input token and nothing else: the default fake answer (10 prompt tokens)
# costs exactly one dollar.
DOLLAR_A_REQUEST = {"input_per_mtok": 100_000.0, "output_per_mtok": 0.0}


def chat_sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)


def messages_sdk(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="client-key", max_retries=0)


def stats(config: Path, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "coderouter.cli", "stats", "--config", str(config), "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def ledger_rows(state_dir: Path, *, at_least: int = 0) -> list[tuple[Any, ...]]:
    """The ledger's rows; with ``write_interval_s`` a worker writes them in batches a moment
    after the answer, so this waits (at most 5 s) until ``at_least`` rows are there."""
    deadline = time.monotonic() + 5.0
    while True:
        conn = sqlite3.connect(state_dir / "cost-ledger.sqlite3")
        try:
            rows = conn.execute(
                "SELECT provider, round(cost_usd, 9) FROM attempts ORDER BY id"
            ).fetchall()
        finally:
            conn.close()
        if len(rows) >= at_least or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


def test_every_ingress_and_provider_kind_is_priced(
    router_process: Any, fake_upstreams: Any, tmp_path: Path
) -> None:
    gpt, claude = fake_upstreams(), fake_upstreams()
    builder = (
        ConfigBuilder()
        .provider("gpt", gpt, paid=True, model="gpt-4.1")
        .provider("claude", claude, kind="anthropic", paid=True, model="claude-sonnet-4-5")
        .profile("default", ["gpt"])
        .profile("claude", ["claude"])
        .plugin("cost")
        .router(state_dir=str(tmp_path))
    )
    proc = router_process(builder, env=PAID)
    # gpt-4.1, $2 / $8, cached input at a quarter: 2000*2 + 8000*0.5 + 500*8 = $0.012
    gpt.script(
        Answer.json(
            chat_completion("a", prompt_tokens=10_000, completion_tokens=500, cached_tokens=8_000)
        ),
        Answer.sse(
            chat_stream(["b"], prompt_tokens=10_000, completion_tokens=500, cached_tokens=8_000)
        ),
    )
    raw = chat_sdk(proc.url).chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.headers["x-coderouter-provider"] == "gpt"
    assert raw.headers["x-coderouter-cost-usd"] == "0.012000"
    with chat_sdk(proc.url).chat.completions.stream(
        model="m", messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        assert stream.get_final_completion().choices[0].message.content == "b"
    # The Responses ingress (codex) to the same Chat Completions provider.
    gpt.script(
        Answer.json(
            chat_completion("e", prompt_tokens=10_000, completion_tokens=500, cached_tokens=8_000)
        )
    )
    response = chat_sdk(proc.url).responses.with_raw_response.create(model="m", input="hi")
    assert response.headers["x-coderouter-cost-usd"] == "0.012000"
    # A cache-heavy Claude Code turn on Sonnet 4.5: $0.049911 (see the pricing tests).
    usage = {"input_tokens": 12, "output_tokens": 800, "cache_read": 95_000, "cache_write": 2_500}
    claude.script(
        Answer.json(anthropic_message("c", **usage)), Answer.sse(anthropic_stream(["d"], **usage))
    )
    client = messages_sdk(proc.url)
    reply = client.messages.with_raw_response.create(
        model="claude", max_tokens=1000, messages=MESSAGES
    )
    assert reply.headers["x-coderouter-cost-usd"] == "0.049911"
    with client.messages.stream(model="claude", max_tokens=1000, messages=MESSAGES) as stream:
        assert stream.get_final_message().content[0].type == "text"
    logs = proc.wait_for_log(5)
    assert len(ledger_rows(tmp_path, at_least=5)) == 5
    assert [(r["ingress"], r["provider"], r["stream"], r["cost_usd"]) for r in logs] == [
        ("openai_chat", "gpt", False, 0.012),
        ("openai_chat", "gpt", True, 0.012),
        ("openai_responses", "gpt", False, 0.012),
        ("anthropic", "claude", False, 0.049911),
        ("anthropic", "claude", True, 0.049911),
    ]
    assert logs[3]["cache_savings_usd"] == 0.2565
    report = stats(Path(proc.config_path), "--by", "provider")
    by_key = {g["key"]: g for g in report["groups"]}
    assert by_key["gpt"]["requests"] == 3
    assert by_key["gpt"]["cost_usd"] == 0.036
    assert by_key["gpt"]["cache_read_tokens"] == 24_000
    assert by_key["claude"]["cost_usd"] == 0.099822
    assert by_key["claude"]["savings_usd"] == 0.513
    assert report["total"]["requests"] == 5


def test_free_local_provider_is_recorded_at_zero(
    router_process: Any, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    builder = (
        ConfigBuilder()
        .provider("local", fake_upstream, model="qwen2.5-coder:7b")
        .profile("default", ["local"])
        .plugin("cost")
        .router(state_dir=str(tmp_path))
    )
    proc = router_process(builder)
    raw = chat_sdk(proc.url).chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.headers["x-coderouter-cost-usd"] == "0.000000"
    assert ledger_rows(tmp_path, at_least=1) == [("local", 0.0)]


def budget_builder(
    paid: FakeUpstream, local: FakeUpstream, state_dir: Path, budget: float
) -> ConfigBuilder:
    return (
        ConfigBuilder()
        .provider("paid", paid, paid=True, cost={**DOLLAR_A_REQUEST, "monthly_budget_usd": budget})
        .provider("local", local, model="qwen2.5-coder:7b")
        .profile("default", ["paid", "local"])
        .plugin("cost")
        .router(state_dir=str(state_dir))
    )


def test_budget_holds_across_a_restart(
    router_process: Any, fake_upstreams: Any, tmp_path: Path
) -> None:
    paid, local = fake_upstreams(), fake_upstreams()
    builder = budget_builder(paid, local, tmp_path, budget=3)
    first = router_process(builder, env=PAID)
    served = [
        chat_sdk(first.url)
        .chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
        .headers["x-coderouter-provider"]
        for _ in range(4)
    ]
    assert served == ["paid", "paid", "paid", "local"]
    assert first.stop() == 0
    assert paid.count == 3
    second = router_process(builder, env=PAID)
    for _ in range(3):
        raw = chat_sdk(second.url).chat.completions.with_raw_response.create(
            model="m", messages=MESSAGES
        )
        assert raw.headers["x-coderouter-provider"] == "local"
        assert raw.headers["x-coderouter-fallback"].startswith(
            "paid=skipped: monthly budget $3.00 reached (spent $3.00 in 20"
        )
    assert paid.count == 3
    assert local.count == 4
    log = second.wait_for_log(3)[-1]
    assert log["attempts"][0]["provider"] == "paid"
    assert log["attempts"][0]["reason"].startswith("monthly budget $3.00 reached")


def test_budget_holds_across_two_workers_under_concurrency(
    router_process: Any, fake_upstreams: Any, tmp_path: Path
) -> None:
    threads, per_thread, budget, max_cost = 8, 6, 10, 1.0
    # The paid upstream answers slowly so requests overlap and race for the last dollars.
    paid = fake_upstreams(Answer.hang(0.05, chat_completion("paid")))
    local = fake_upstreams()
    proc = router_process(budget_builder(paid, local, tmp_path, budget=budget), workers=2, env=PAID)
    errors: list[BaseException] = []

    def hammer() -> None:
        sdk = chat_sdk(proc.url)
        try:
            for _ in range(per_thread):
                sdk.chat.completions.create(model="m", messages=MESSAGES)
        except BaseException as exc:  # a failed request must fail the test, not hang it
            errors.append(exc)

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    assert errors == []
    rows = ledger_rows(tmp_path)
    assert len(rows) == threads * per_thread
    spent = sum(cost for provider, cost in rows if provider == "paid")
    assert spent == paid.count * max_cost
    # Every paid call passed a call-time check that saw less than the budget spent, and no
    # more than `threads` requests are in flight at once: the overshoot is bounded by the
    # requests in flight times the most one request can cost.
    assert budget <= spent < budget + threads * max_cost
    # With every call costing exactly max_cost, a passing check saw at most budget - max_cost.
    assert spent <= budget + (threads - 1) * max_cost
    # Once the budget is spent, later requests go to the local provider.
    assert local.count == threads * per_thread - paid.count > 0
    # Both workers read the one ledger: each reports the same month's spend.
    seen: dict[int, float] = {}
    for _ in range(200):
        state = httpx.get(proc.url + "/-/plugins").json()["state"]["cost"]
        seen[state["pid"]] = state["spent_usd"]["by_provider"]["paid"]
        if len(seen) == 2:
            break
    assert len(seen) == 2
    assert set(seen.values()) == {spent}


def test_killed_server_loses_no_ledger_row(
    router_process: Any, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    builder = (
        ConfigBuilder()
        .provider("paid", fake_upstream, paid=True, cost=DOLLAR_A_REQUEST)
        .profile("default", ["paid"])
        .plugin("cost")
        .router(state_dir=str(tmp_path))
    )
    proc = router_process(builder, env=PAID)
    for _ in range(5):
        chat_sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    proc.stop(signal.SIGKILL)
    assert ledger_rows(tmp_path) == [("paid", 1.0)] * 5


def test_every_provider_over_budget_answers_429_budget(
    router_process: Any, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    builder = (
        ConfigBuilder()
        .provider(
            "paid", fake_upstream, paid=True, cost={**DOLLAR_A_REQUEST, "monthly_budget_usd": 1}
        )
        .profile("default", ["paid"])
        .plugin("cost")
        .router(state_dir=str(tmp_path))
    )
    proc = router_process(builder, env=PAID)
    chat_sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as info:
        chat_sdk(proc.url).chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == 429
    assert "provider 'paid': monthly budget $1.00 reached (spent $1.00 in 20" in (
        info.value.message
    )
    assert int(info.value.response.headers["retry-after"]) > 0
    assert fake_upstream.count == 1
    (step,) = info.value.response.json()["coderouter"]["attempts"]
    assert step["provider"] == "paid" and step["outcome"] == "rejected"
    assert "monthly budget $1.00 reached" in step["reason"]
    line = proc.wait_for_log(2)[-1]
    assert line["status"] == 429 and line["attempts"] == [step]


def test_bad_cost_table_stops_the_server(
    router_process: Any, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    builder = (
        ConfigBuilder()
        .provider("paid", fake_upstream, paid=True, cost={"input_per_tok": 3})
        .profile("default", ["paid"])
        .plugin("cost")
        .router(state_dir=str(tmp_path))
    )
    with pytest.raises(RuntimeError) as info:
        router_process(builder, env=PAID)
    assert "providers[0].cost.input_per_tok: unknown key (valid keys: input_per_mtok," in str(
        info.value
    )
