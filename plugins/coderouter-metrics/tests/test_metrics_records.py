"""Counting request-log records, merging snapshots and rendering Prometheus text, by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest
from coderouter_metrics import catalog
from coderouter_metrics.config import DEFAULT_LATENCY_BUCKETS_S, DEFAULT_OVERHEAD_BUCKETS_S
from coderouter_metrics.exposition import render
from coderouter_metrics.observe import observe_record, reason_label, request_outcome
from coderouter_metrics.shared import Aggregate, WorkerInfo
from coderouter_metrics.states import numeric_leaves, provider_states
from coderouter_metrics.store import Histogram, Store
from prometheus_client.parser import text_string_to_metric_families

BOUNDS = {"latency": DEFAULT_LATENCY_BUCKETS_S, "overhead": DEFAULT_OVERHEAD_BUCKETS_S}
NOW = 1_800_000_000.0


def new_store(**kwargs: Any) -> Store:
    return Store(BOUNDS, wall=lambda: NOW, **kwargs)


def request(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event": "request",
        "id": "r1",
        "ingress": "openai_chat",
        "profile": "default",
        "provider": "local",
        "stream": False,
        "status": 200,
        "latency_ms": 120.0,
        "upstream_ms": 100.0,
        "attempts": [],
        "ts": NOW,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_tokens": 30,
            "cache_write_tokens": 0,
            "reasoning_tokens": 2,
        },
    }
    record.update(fields)
    return record


FALLBACK = [{"provider": "flaky", "outcome": "failed", "reason": "HTTP 500: boom"}]
PAID_SKIP = [
    {"provider": "cloud", "outcome": "skipped", "reason": "paid provider; allow_paid is off"}
]


@pytest.mark.parametrize(
    ("record", "outcome"),
    [
        (request(), "success"),
        (request(status=499), "client_closed"),
        (
            request(
                status=502,
                attempts=[{"provider": "local", "outcome": "failed after commit", "reason": "cut"}],
            ),
            "stream_error",
        ),
        (request(status=502, provider=None, attempts=FALLBACK), "failed"),
        (
            request(
                status=429,
                provider=None,
                attempts=[{"provider": "a", "outcome": "failed", "reason": "HTTP 429: slow"}],
            ),
            "failed",
        ),
        (request(status=429, provider=None, attempts=[]), "rejected"),
        (request(status=400, provider=None), "rejected"),
    ],
    ids=["ok", "client-closed", "stream-error", "exhausted", "all-429", "budget-429", "bad"],
)
def test_request_outcome(record: dict[str, Any], outcome: str) -> None:
    assert request_outcome(record) == outcome


def test_reason_label_keeps_the_kind_and_drops_the_detail() -> None:
    assert reason_label("HTTP 500: upstream error with a long body") == "HTTP 500"
    assert reason_label("connect: connection refused") == "connect"
    assert reason_label("paid provider; allow_paid is off") == "paid provider; allow_paid is off"
    assert reason_label("daily budget 3.21 of 3.00 USD spent") == "daily budget N of N USD spent"
    assert reason_label("") == "unspecified"


def test_a_fallback_request_counts_once_per_request_and_once_per_failed_step() -> None:
    store = new_store()
    observe_record(
        store, request(attempts=PAID_SKIP + FALLBACK, cost_usd=0.25, cache_savings_usd=0.05)
    )
    assert store.counters[catalog.REQUESTS.name] == {
        ("openai_chat", "default", "local", "success", ""): 1.0
    }
    assert store.counters[catalog.FALLBACKS.name] == {("default", "flaky", "HTTP 500"): 1.0}
    assert store.counters[catalog.SKIPS.name] == {
        ("default", "cloud", "paid provider; allow_paid is off"): 1.0
    }
    assert store.total(catalog.TOKENS, **{"class": "cache_read"}) == 30
    assert store.total(catalog.TOKENS, **{"class": "reasoning"}) == 2
    assert store.total(catalog.TOKENS, **{"class": "cache_write"}) == 0
    assert store.total(catalog.COST) == 0.25
    assert store.total(catalog.SAVINGS) == 0.05
    overhead = store.histograms[catalog.OVERHEAD.name][("openai_chat",)]
    assert overhead.count == 1 and overhead.total == pytest.approx(0.02)
    assert store.last_served == {"default": {"provider": "local", "ts": NOW}}
    assert store.per_minute == {int(NOW // 60): [1, 0, 1]}


def test_the_key_label_holds_only_configured_key_names() -> None:
    store = new_store()
    store.key_names = frozenset({"alice", "bob"})
    for key in ("alice", "alice", "bob", "mallory", None):
        observe_record(store, request(key=key, cost_usd=0.5))
    assert store.counters[catalog.REQUESTS.name] == {
        ("openai_chat", "default", "local", "success", "alice"): 2.0,
        ("openai_chat", "default", "local", "success", "bob"): 1.0,
        ("openai_chat", "default", "local", "success", "other"): 1.0,
        ("openai_chat", "default", "local", "success", ""): 1.0,
    }
    assert store.total(catalog.COST, key="alice") == 1.0
    assert store.total(catalog.COST, key="other") == 0.5


def test_a_snapshot_from_before_the_key_label_sums_as_keyless() -> None:
    store = new_store()
    old = {
        "format": 1,
        "counters": {
            catalog.REQUESTS.name: [[["openai_chat", "default", "local", "success"], 3.0]],
            catalog.COST.name: [[["default", "local"], 0.75]],
        },
    }
    store.absorb(old)
    assert store.counters[catalog.REQUESTS.name] == {
        ("openai_chat", "default", "local", "success", ""): 3.0
    }
    assert store.total(catalog.COST, key="") == 0.75


def test_the_last_failure_of_an_exhausted_chain_is_not_a_fallback() -> None:
    store = new_store()
    steps = [
        {"provider": "a", "outcome": "failed", "reason": "HTTP 500: x"},
        {"provider": "b", "outcome": "failed", "reason": "timeout: read"},
    ]
    observe_record(store, request(status=502, provider=None, attempts=steps))
    assert store.counters[catalog.FALLBACKS.name] == {("default", "a", "HTTP 500"): 1.0}
    assert store.counters[catalog.REQUESTS.name] == {
        ("openai_chat", "default", "", "failed", ""): 1
    }
    assert store.counters[catalog.TOKENS.name] == {}
    assert store.per_minute[int(NOW // 60)] == [1, 1, 1]


def test_stream_error_after_commit_and_ttft() -> None:
    store = new_store()
    observe_record(
        store,
        request(
            status=502,
            stream=True,
            ttft_ms=40.0,
            attempts=[
                {"provider": "local", "outcome": "failed after commit", "reason": "connection cut"}
            ],
        ),
    )
    assert store.counters[catalog.STREAM_ERRORS.name] == {("default", "local"): 1.0}
    assert store.histograms[catalog.TTFT.name][("default", "local")].count == 1
    assert store.last_served == {}


def test_other_events_are_kept_and_counted_but_not_as_requests() -> None:
    store = new_store()
    observe_record(store, {"event": "guard", "action": "break", "reason": "x" * 5000, "ts": NOW})
    assert store.counters[catalog.EVENTS.name] == {("guard",): 1.0}
    assert store.counters[catalog.REQUESTS.name] == {}
    kept = store.events[-1]
    assert kept["event"] == "guard" and len(kept["reason"]) < 700


def test_non_finite_and_non_numeric_fields_are_ignored() -> None:
    store = new_store()
    observe_record(
        store,
        request(
            latency_ms="slow",
            upstream_ms=float("nan"),
            cost_usd=float("inf"),
            usage={"input_tokens": True},
        ),
    )
    assert store.histograms[catalog.REQUEST_DURATION.name] == {}
    assert store.histograms[catalog.UPSTREAM_LATENCY.name] == {}
    assert store.counters[catalog.COST.name] == {}
    assert store.counters[catalog.TOKENS.name] == {}


def test_free_text_reasons_are_capped() -> None:
    store = new_store(max_label_values=3)
    for i in range(6):
        observe_record(
            store,
            request(
                attempts=[
                    {"provider": "cloud", "outcome": "skipped", "reason": f"rule {chr(97 + i)}"}
                ]
            ),
        )
    reasons = {labels[2] for labels in store.counters[catalog.SKIPS.name]}
    assert reasons == {"rule a", "rule b", "rule c", "other"}
    assert store.total(catalog.SKIPS, reason="other") == 3


def test_histogram_quantile_interpolates_like_promql() -> None:
    bounds = [0.1, 0.2, 0.4]
    hist = Histogram([0, 0, 0, 0])
    for value in (0.05, 0.15, 0.15, 0.3):
        hist.observe(bounds, value)
    assert hist.counts == [1, 2, 1, 0]
    assert hist.quantile(bounds, 0.5) == pytest.approx(0.15)
    hist.observe(bounds, 9.0)
    assert hist.quantile(bounds, 0.99) == 0.4
    assert Histogram([0, 0, 0, 0]).quantile(bounds, 0.5) is None


def test_snapshots_sum_when_absorbed() -> None:
    one, two = new_store(), new_store()
    observe_record(one, request(attempts=FALLBACK))
    observe_record(two, request(ts=NOW + 1, provider="other"))
    observe_record(two, request(ts=NOW + 2))
    merged = new_store()
    for name, store in (("1", one), ("2", two)):
        merged.absorb(json.loads(json.dumps(store.to_snapshot())), worker=name)
    assert merged.total(catalog.REQUESTS) == 3
    assert merged.total(catalog.REQUESTS, provider="local") == 2
    assert merged.merged_histogram(catalog.REQUEST_DURATION).count == 3
    assert merged.per_minute[int(NOW // 60)] == [3, 0, 1]
    assert [e["worker"] for e in merged.events] == ["1", "2", "2"]
    assert merged.last_served["default"]["ts"] == NOW + 2


def test_spend_per_utc_day_sums_across_workers_and_keeps_a_week() -> None:
    now = [NOW]
    day = int(NOW // 86400)
    worker_a = Store(BOUNDS, wall=lambda: now[0])
    worker_b = Store(BOUNDS, wall=lambda: now[0])
    observe_record(worker_a, request(cost_usd=0.25))
    observe_record(worker_b, request(cost_usd=0.5))
    observe_record(worker_b, request(status=502, provider="", cost_usd=9.0))
    merged = Store(BOUNDS, wall=lambda: now[0])
    merged.absorb(worker_a.to_snapshot())
    merged.absorb(worker_b.to_snapshot())
    assert merged.day_totals(day, "local") == (2, 0, 0.75)
    assert merged.day_totals(day) == (3, 1, 0.75), "no provider, no spend"

    # Eight days later the first day is gone from the snapshot, and from the live store once a
    # new day starts.
    now[0] = NOW + 8 * 86400
    assert json.loads(json.dumps(merged.to_snapshot()))["per_day"] == []
    observe_record(merged, request(cost_usd=0.125))
    assert list(merged.per_day) == [day + 8]
    assert merged.day_totals(day + 8) == (1, 0, 0.125)


def test_histograms_with_other_buckets_are_not_summed() -> None:
    old = Store({"latency": [1.0, 2.0], "overhead": [1.0]}, wall=lambda: NOW)
    observe_record(old, request())
    merged = new_store()
    merged.absorb(old.to_snapshot())
    assert merged.total(catalog.REQUESTS) == 1
    assert merged.histograms[catalog.REQUEST_DURATION.name] == {}


def test_events_keep_the_newest_across_workers() -> None:
    merged = new_store(recent_events=3)
    for worker in ("1", "2"):
        store = new_store()
        for i in range(3):
            observe_record(store, request(ts=NOW + i * 2 + int(worker), id=f"{worker}-{i}"))
        merged.absorb(store.to_snapshot(), worker=worker)
    assert [e["id"] for e in merged.events] == ["2-1", "1-2", "2-2"]


HEALTH_STATE = {
    "providers": {
        "local": {"state": "healthy", "failures": 0, "cooldown_remaining_s": 0.0},
        "cloud": {
            "state": "cooldown",
            "failures": 3,
            "cooldown_remaining_s": 12.5,
            "cooldown_until": 123456.0,
        },
    },
    "checks": 7,
}


def test_provider_states_are_read_from_a_provider_table() -> None:
    found = {
        (s.plugin, s.provider): s
        for s in provider_states(
            {"backend_health": HEALTH_STATE, "metrics": {"local": "ignored"}},
            {"local", "cloud"},
            skip="metrics",
        )
    }
    assert set(found) == {("backend_health", "local"), ("backend_health", "cloud")}
    cloud = found[("backend_health", "cloud")]
    assert cloud.state == "cooldown"
    assert cloud.cooldown_s == 12.5
    assert cloud.values["failures"] == 3
    assert provider_states({"p": {"local": "open"}}, {"local"})[0].state == "open"
    circuit = provider_states(
        {
            "health": {
                "scope": "x",
                "providers": {
                    "local": {"state": "unhealthy", "circuit": "open", "next_trial_in_s": 4.5}
                },
            }
        },
        {"local"},
    )
    assert (circuit[0].state, circuit[0].cooldown_s) == ("unhealthy", 4.5)


def test_numeric_leaves_are_flattened_and_limited() -> None:
    leaves = dict(numeric_leaves(HEALTH_STATE))
    assert leaves["checks"] == 7
    assert leaves["providers.cloud.failures"] == 3
    assert "providers.cloud.state" not in leaves
    assert len(list(numeric_leaves({"k": list(range(50))}, limit=5))) == 5


def aggregate_of(store: Store, states: dict[str, Any] | None = None) -> Aggregate:
    return Aggregate(
        store,
        [WorkerInfo(1, True, True, NOW, 1), WorkerInfo(2, False, False, 0, 0)],
        {"1": states or {}},
        1,
    )


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_prometheus_text_parses_with_names_labels_and_cumulative_buckets() -> None:
    store = new_store()
    observe_record(
        store, request(attempts=PAID_SKIP + FALLBACK, stream=True, ttft_ms=30.0, cost_usd=0.5)
    )
    body, content_type = render(
        aggregate_of(store, {"backend_health": HEALTH_STATE}), {"local", "cloud"}, "metrics", None
    )
    assert content_type.startswith("text/plain; version=0.0.4")
    found = families(body.decode())
    for metric in (*catalog.COUNTERS, *catalog.HISTOGRAMS, *catalog.GAUGES):
        name = metric.name.removesuffix("_total")
        assert name in found, name
        assert found[name].type == metric.kind
    requests = found["coderouter_requests"].samples
    assert [(s.labels, s.value) for s in requests] == [
        (
            {
                "ingress": "openai_chat",
                "profile": "default",
                "provider": "local",
                "outcome": "success",
                "key": "",
            },
            1.0,
        )
    ]
    buckets = [
        s
        for s in found["coderouter_request_duration_seconds"].samples
        if s.name.endswith("_bucket")
    ]
    values = [s.value for s in buckets]
    assert values == sorted(values) and values[-1] == 1
    assert buckets[-1].labels["le"] == "+Inf"
    assert found["coderouter_workers"].samples[0].value == 1
    health = {
        (s.labels["provider"], s.labels["state"]): s.labels["worker"]
        for s in found["coderouter_provider_health"].samples
    }
    assert health == {("local", "healthy"): "1", ("cloud", "cooldown"): "1"}
    cooldown = {
        s.labels["provider"]: s.value for s in found["coderouter_provider_cooldown_seconds"].samples
    }
    assert cooldown == {"local": 0.0, "cloud": 12.5}
    keys = {s.labels["key"] for s in found["coderouter_plugin_state"].samples}
    assert "checks" in keys and "providers.cloud.failures" in keys
    assert found["coderouter_provider_serving"].samples[0].labels == {
        "profile": "default",
        "provider": "local",
    }


def test_label_values_are_escaped() -> None:
    store = new_store()
    observe_record(
        store,
        request(
            attempts=[{"provider": "cloud", "outcome": "skipped", "reason": 'say "no"\\ please'}]
        ),
    )
    body, _ = render(aggregate_of(store), {"cloud"}, "metrics", None)
    skip = families(body.decode())["coderouter_chain_skips"].samples[0]
    assert skip.labels["reason"] == 'say "no"\\ please'


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    store = new_store()
    observe_record(store, request())
    body, content_type = render(
        aggregate_of(store),
        set(),
        "metrics",
        "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
    )
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")
