"""The plugin in process: hooks and listener through a real app (upstreams behind
httpx.MockTransport), its routes, its settings, and the rotating event log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from coderouter_metrics import MetricsConfig, MetricsPlugin
from coderouter_metrics.eventlog import EventLog, SharedRotatingFileHandler
from coderouter_metrics.shared import SharedDir
from prometheus_client.parser import text_string_to_metric_families

from coderouter import hookimpl
from coderouter.config import ConfigError
from coderouter.context import AppContext
from coderouter.plugins import PluginError, load_plugins, new_plugin_manager
from coderouter.testing import ConfigBuilder, chat_completion
from coderouter.testing.harness import FakeClock
from coderouter.types import Chain, Draft, Reject, RequestView

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


class DemoteA:
    """Runs after the metrics plugin: its move must still be counted."""

    @hookimpl
    def filter_chain(self, request: RequestView, chain: Chain) -> None:
        chain.demote("a", "a is slow today", by="latency")


class BudgetBlock:
    """Emits a structured event and refuses requests for the profile "capped"."""

    def __init__(self) -> None:
        self.context: AppContext | None = None

    @hookimpl
    def startup(self, app: AppContext) -> None:
        self.context = app

    @hookimpl
    def prepare_request(self, draft: Draft) -> Reject | None:
        if draft.request.header("x-coderouter-profile") != "capped" or self.context is None:
            return None
        self.context.log.emit(
            {"event": "budget", "action": "block", "profile": "capped", "spent_usd": 5.0}
        )
        return Reject("daily budget spent", status=429, error_type="budget")


def answers(request: httpx.Request) -> httpx.Response:
    if request.url.host == "a":
        return httpx.Response(500, json={"error": {"message": "boom"}})
    return httpx.Response(200, json=chat_completion("from " + request.url.host, cached_tokens=4))


def build(
    app_client: Any, tmp_path: Path, *extra: tuple[str, Any], metrics: MetricsPlugin | None = None
) -> tuple[Any, MetricsPlugin]:
    config = (
        ConfigBuilder()
        .provider("a", "http://a/v1")
        .provider("b", "http://b/v1")
        .profile("default", ["a", "b"])
        .profile("capped", ["b"])
        .router(log_requests=False, state_dir=str(tmp_path))
        .build()
    )
    plugin = metrics or MetricsPlugin(MetricsConfig())
    pm = new_plugin_manager(config)
    for name, item in reversed([("metrics", plugin), *extra]):
        pm.register(item, name=name)
    plugin.name = "metrics"
    return app_client(config, pm=pm, transport=httpx.MockTransport(answers)), plugin


def scrape(client: Any) -> dict[str, Any]:
    result = client.simulate_get("/metrics")
    assert result.status_code == 200
    return {f.name: f for f in text_string_to_metric_families(result.text)}


def samples(found: dict[str, Any], name: str) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for s in found[name].samples]


def test_moves_by_later_plugins_and_attempts_are_counted(app_client: Any, tmp_path: Path) -> None:
    client, _ = build(app_client, tmp_path, ("latency", DemoteA()))
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert result.headers["x-coderouter-provider"] == "b"
    found = scrape(client)
    assert samples(found, "coderouter_chain_moves") == [
        ({"profile": "default", "provider": "a", "reason": "a is slow today", "by": "latency"}, 1.0)
    ]
    assert samples(found, "coderouter_attempts") == [
        (
            {"ingress": "openai_chat", "profile": "default", "provider": "b", "outcome": "success"},
            1.0,
        )
    ]
    assert samples(found, "coderouter_fallbacks") == []


def test_fallback_attempts_upstream_errors_and_snapshot_file(
    app_client: Any, tmp_path: Path
) -> None:
    client, plugin = build(app_client, tmp_path)
    client.simulate_post("/v1/chat/completions", json=BODY)
    found = scrape(client)
    assert sorted(
        (s[0]["provider"], s[0]["outcome"], s[1]) for s in samples(found, "coderouter_attempts")
    ) == [("a", "failed", 1.0), ("b", "success", 1.0)]
    assert samples(found, "coderouter_upstream_errors") == [
        ({"profile": "default", "provider": "a", "kind": "status", "status": "500"}, 1.0)
    ]
    assert samples(found, "coderouter_fallbacks") == [
        ({"profile": "default", "provider": "a", "reason": "HTTP 500"}, 1.0)
    ]
    tokens = {s[0]["class"]: s[1] for s in samples(found, "coderouter_tokens")}
    assert tokens == {"input": 6.0, "output": 5.0, "cache_read": 4.0}
    # Every simulated request runs the app's whole lifespan; shutdown writes the snapshot.
    assert plugin.shared is not None
    written = json.loads(plugin.shared.own_file.read_bytes())
    rows = written["counters"]["coderouter_requests_total"]
    assert rows == [[["openai_chat", "default", "b", "success", ""], 1.0]]
    assert plugin.shared.path.parent == tmp_path / "metrics"


def test_plugin_events_and_budget_blocks_reach_the_json_document(
    app_client: Any, tmp_path: Path
) -> None:
    client, _ = build(app_client, tmp_path, ("budget", BudgetBlock()))
    blocked = client.simulate_post(
        "/v1/chat/completions", json=BODY, headers={"x-coderouter-profile": "capped"}
    )
    assert blocked.status_code == 429
    doc = client.simulate_get("/metrics.json").json
    assert [e["event"] for e in doc["events"]] == ["budget", "request"]
    assert doc["events"][0]["spent_usd"] == 5.0
    assert doc["events"][1]["status"] == 429
    assert doc["summary"]["requests"] == 1 and doc["summary"]["errors"] == 1
    events = {
        s["labels"]["event"]: s["value"] for s in doc["metrics"]["coderouter_events"]["samples"]
    }
    assert events == {"budget": 1.0, "request": 1.0}
    outcomes = [s["labels"]["outcome"] for s in doc["metrics"]["coderouter_requests"]["samples"]]
    assert outcomes == ["rejected"]


def test_json_document_shape(app_client: Any, tmp_path: Path) -> None:
    client, plugin = build(app_client, tmp_path)
    client.simulate_post("/v1/chat/completions", json=BODY)
    result = client.simulate_get("/metrics.json")
    assert result.headers["x-coderouter-worker"] == str(plugin.pid)
    doc = result.json
    assert set(doc) >= {
        "generated_at",
        "worker",
        "workers",
        "summary",
        "per_minute",
        "profiles",
        "providers",
        "gates",
        "plugin_states",
        "metrics",
        "events",
    }
    assert [p["name"] for p in doc["providers"]] == ["a", "b"]
    b = doc["providers"][1]
    assert b["serving"] == ["default"] and b["requests"] == 1
    assert doc["providers"][0]["attempts"]["failed"] == 1
    assert doc["profiles"][0] == {"name": "default", "providers": ["a", "b"], "serving": "b"}
    assert len(doc["per_minute"]) == 30 and doc["per_minute"][-1]["requests"] == 1
    assert doc["summary"]["cache_hit_rate"] == 0.4
    assert doc["gates"]["fallbacks"][0]["reason"] == "HTTP 500"
    assert "metrics" not in doc["plugin_states"][str(plugin.pid)]


def test_dashboard_page_is_self_contained(app_client: Any, tmp_path: Path) -> None:
    client, _ = build(app_client, tmp_path)
    result = client.simulate_get("/dashboard")
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in result.headers["content-security-policy"]
    page = result.text
    for marker in (
        'id="providers"',
        'id="events"',
        'id="js-errors"',
        'id="sparkline"',
        "metrics.json",
        "data-ready",
    ):
        assert marker in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page


class BrokenStore:
    events: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("store bug")


def test_a_metrics_failure_never_breaks_a_request(app_client: Any, tmp_path: Path) -> None:
    plugin = MetricsPlugin(MetricsConfig())
    client, _ = build(app_client, tmp_path, metrics=plugin)
    plugin.store = BrokenStore()  # type: ignore[assignment]
    result = client.simulate_post("/v1/chat/completions", json=BODY)
    assert result.status_code == 200
    assert plugin.errors >= 2
    state = client.simulate_get("/-/plugins").json["state"]["metrics"]
    assert state["errors"] >= 2


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"latency_buckets_s": [1, 0.5]}, "latency_buckets_s: bucket bounds must be strictly"),
        ({"snapshot_interval_s": 0}, "snapshot_interval_s: must be positive"),
        ({"recent_events": "many"}, "plugins.metrics.recent_events"),
        ({"event_log_file": "x", "rotate": True}, "unknown key"),
    ],
)
def test_bad_settings_fail_at_startup_naming_the_key(
    settings: dict[str, Any], message: str
) -> None:
    config = (
        ConfigBuilder()
        .provider("a", "http://a/v1")
        .profile("default", ["a"])
        .plugin("metrics", **settings)
        .build()
    )
    with pytest.raises(ConfigError) as info:
        load_plugins(config)
    assert message in str(info.value)
    assert "plugins.metrics" in str(info.value)


def test_per_profile_settings_are_refused() -> None:
    raw = (
        ConfigBuilder()
        .provider("a", "http://a/v1")
        .profile("default", ["a"])
        .plugin("metrics")
        .raw()
    )
    raw["profiles"]["default"]["plugins"] = {"metrics": {"recent_events": 10}}
    from coderouter.config import parse_config

    with pytest.raises(PluginError, match="server-wide"):
        load_plugins(parse_config(raw, source="<test>"))


def test_event_log_lines_rotate_across_processes_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "events.jsonl"
    # Two handlers on one file stand for two worker processes: each has its own descriptor.
    first = EventLog(str(path), max_bytes=2000, backups=50)
    second = EventLog(str(path), max_bytes=2000, backups=50)
    first.start()
    second.start()
    for i in range(300):
        (first if i % 2 else second).write({"event": "request", "n": i, "pad": "x" * 40})
    first.stop()
    second.stop()
    files = sorted(tmp_path.joinpath("logs").glob("events.jsonl*"))
    files = [f for f in files if not f.name.endswith(".lock")]
    assert len(files) > 5
    numbers = []
    for file in files:
        text = file.read_text(encoding="utf-8")
        assert len(text.encode()) <= 2000
        numbers += [json.loads(line)["n"] for line in text.splitlines()]
    assert sorted(numbers) == list(range(300))


def test_event_log_handler_reopens_after_another_rotated(tmp_path: Path) -> None:
    path = str(tmp_path / "e.log")
    import logging

    one = SharedRotatingFileHandler(path, max_bytes=100, backups=3)
    two = SharedRotatingFileHandler(path, max_bytes=100, backups=3)
    for handler, text in ((one, "a" * 60), (two, "b" * 60), (one, "c" * 10)):
        handler.emit(logging.makeLogRecord({"msg": text}))
    one.close()
    two.close()
    assert Path(path + ".1").read_text() == "a" * 60 + "\n"
    assert Path(path).read_text() == "b" * 60 + "\n" + "c" * 10 + "\n"


class FakeHealth:
    @hookimpl
    def describe_state(self) -> dict[str, Any]:
        return {
            "providers": {
                "a": {"state": "unhealthy", "cooldown_remaining_s": 12.0},
                "b": {"state": "healthy", "cooldown_remaining_s": 0.0},
            },
            "spent_usd": {"by_provider": {"b": 0.25}},
        }


def test_plugin_health_reaches_the_gauges_and_the_provider_rows(
    app_client: Any, tmp_path: Path
) -> None:
    client, plugin = build(app_client, tmp_path, ("health", FakeHealth()))
    found = scrape(client)
    worker = str(plugin.pid)
    assert sorted(samples(found, "coderouter_provider_health"), key=str) == sorted(
        [
            ({"plugin": "health", "provider": "a", "state": "unhealthy", "worker": worker}, 1.0),
            ({"plugin": "health", "provider": "b", "state": "healthy", "worker": worker}, 1.0),
        ],
        key=str,
    )
    assert ({"plugin": "health", "provider": "a", "worker": worker}, 12.0) in samples(
        found, "coderouter_provider_cooldown_seconds"
    )
    keys = {s[0]["key"] for s in samples(found, "coderouter_plugin_state")}
    assert "spent_usd.by_provider.b" in keys
    assert not any(s[0]["plugin"] == "metrics" for s in samples(found, "coderouter_plugin_state"))
    rows = {p["name"]: p["health"] for p in client.simulate_get("/metrics.json").json["providers"]}
    assert rows == {
        "a": [{"plugin": "health", "state": "unhealthy", "cooldown_s": 12.0, "worker": worker}],
        "b": [{"plugin": "health", "state": "healthy", "cooldown_s": 0.0, "worker": worker}],
    }


def test_an_older_snapshot_never_replaces_a_newer_one(tmp_path: Path) -> None:
    plugin = MetricsPlugin(MetricsConfig())
    plugin.shared = SharedDir(tmp_path, "1-1", plugin.pid, "ab")
    plugin.shared.prepare()
    newer, older = plugin._next_seq(), plugin._next_seq()
    newer, older = older, newer
    plugin._write_snapshot(b'{"n": 2}', newer)
    plugin._write_snapshot(b'{"n": 1}', older)
    assert json.loads(plugin.shared.own_file.read_bytes()) == {"n": 2}
    assert plugin.snapshots_written == 1
    assert [p.name for p in plugin.shared.path.iterdir()] == [plugin.shared.own_name]


def test_today_rolls_over_at_utc_midnight(app_client: Any, tmp_path: Path) -> None:
    midnight = 20_000 * 86400.0  # 2024-10-04 00:00 UTC
    plugin = MetricsPlugin(MetricsConfig())
    clock = FakeClock(midnight - 30)
    plugin.wall = clock
    client, _ = build(app_client, tmp_path, metrics=plugin)
    client.simulate_post("/v1/chat/completions", json=BODY)
    before = client.simulate_get("/metrics.json").json
    assert before["summary"]["today"] == {
        "date": "2024-10-03",
        "since": midnight - 86400,
        "requests": 1,
        "errors": 0,
        "cost_usd": 0.0,
    }

    clock.advance(60)
    for _ in range(2):
        client.simulate_post("/v1/chat/completions", json=BODY)
    after = client.simulate_get("/metrics.json").json
    today = after["summary"]["today"]
    assert (today["date"], today["since"], today["requests"]) == ("2024-10-04", midnight, 2)
    assert after["summary"]["requests"] == 3, "the totals still count from the start"
    assert [(d["date"], d["requests"]) for d in after["per_day"][-2:]] == [
        ("2024-10-03", 1),
        ("2024-10-04", 2),
    ]
    providers = {p["name"]: p for p in after["providers"]}
    assert providers["b"]["today"]["requests"] == 2 and providers["b"]["requests"] == 3
    assert providers["a"]["today"]["requests"] == 0
