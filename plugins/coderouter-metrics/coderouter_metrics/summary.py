"""The ``/metrics.json`` document: every metric sample, a summary the dashboard shows, the
providers with their health, and the recent events."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from coderouter.config import Config
from coderouter_metrics import catalog
from coderouter_metrics.exposition import AggregateCollector
from coderouter_metrics.shared import Aggregate
from coderouter_metrics.states import provider_states
from coderouter_metrics.store import DAY_S, DAYS_KEPT, Histogram, Store

__all__ = ["SPARKLINE_MINUTES", "build_document"]

SPARKLINE_MINUTES = 30


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _quantiles_ms(store: Store, metric: catalog.MetricDef, **match: str) -> dict[str, Any]:
    hist: Histogram = store.merged_histogram(metric, **match)
    bounds = store.bounds[metric.name]
    out: dict[str, Any] = {"count": hist.count}
    for name, q in (("p50", 0.5), ("p95", 0.95)):
        value = hist.quantile(bounds, q)
        out[name] = None if value is None else round(value * 1000, 2)
    out["avg"] = round(hist.total / hist.count * 1000, 2) if hist.count else None
    return out


def _samples(collector: AggregateCollector) -> dict[str, Any]:
    families: dict[str, Any] = {}
    for family in collector.collect():
        families[family.name] = {
            "type": family.type,
            "help": family.documentation,
            "samples": [
                {"name": s.name, "labels": dict(s.labels), "value": _finite(s.value)}
                for s in family.samples
            ],
        }
    return families


def _per_minute(store: Store, now: float) -> list[dict[str, Any]]:
    current = int(now // 60)
    rows = []
    for minute in range(current - SPARKLINE_MINUTES + 1, current + 1):
        requests, errors, fallbacks = store.per_minute.get(minute, [0, 0, 0])
        rows.append(
            {"minute": minute * 60, "requests": requests, "errors": errors, "fallbacks": fallbacks}
        )
    return rows


def _date(day: int) -> str:
    return datetime.fromtimestamp(day * DAY_S, UTC).date().isoformat()


def _day(store: Store, day: int, provider: str | None = None) -> dict[str, Any]:
    requests, errors, cost = store.day_totals(day, provider)
    return {"requests": requests, "errors": errors, "cost_usd": round(cost, 6)}


def _today(store: Store, now: float) -> dict[str, Any]:
    """The current UTC day: its date, when it began, and its figures so far."""
    day = int(now // DAY_S)
    return {"date": _date(day), "since": day * DAY_S, **_day(store, day)}


def _per_day(store: Store, now: float) -> list[dict[str, Any]]:
    """The UTC days kept, oldest first, today last."""
    today = int(now // DAY_S)
    return [
        {"date": _date(day), **_day(store, day)} for day in range(today - DAYS_KEPT + 1, today + 1)
    ]


def _summary(store: Store, now: float) -> dict[str, Any]:
    tokens = {
        name: store.total(catalog.TOKENS, **{"class": name})
        for name in ("input", "output", "cache_read", "cache_write", "reasoning")
    }
    prompt = tokens["input"] + tokens["cache_read"] + tokens["cache_write"]
    requests = store.total(catalog.REQUESTS)
    errors = (
        requests
        - store.total(catalog.REQUESTS, outcome="success")
        - store.total(catalog.REQUESTS, outcome="client_closed")
    )
    current = int(now // 60)
    this_minute = store.per_minute.get(current, [0, 0, 0])
    last_minute = store.per_minute.get(current - 1, [0, 0, 0])
    return {
        "requests": requests,
        "errors": errors,
        "fallbacks": store.total(catalog.FALLBACKS),
        "skips": store.total(catalog.SKIPS),
        "moves": store.total(catalog.MOVES),
        "stream_errors": store.total(catalog.STREAM_ERRORS),
        "resumes": store.total(catalog.RESUMES),
        "requests_this_minute": this_minute[0],
        "requests_last_minute": last_minute[0],
        "latency_ms": _quantiles_ms(store, catalog.REQUEST_DURATION),
        "upstream_ms": _quantiles_ms(store, catalog.UPSTREAM_LATENCY),
        "ttft_ms": _quantiles_ms(store, catalog.TTFT),
        "overhead_ms": _quantiles_ms(store, catalog.OVERHEAD),
        "cost_usd": round(store.total(catalog.COST), 6),
        "cache_savings_usd": round(store.total(catalog.SAVINGS), 6),
        "tokens": tokens,
        "cache_hit_rate": round(tokens["cache_read"] / prompt, 4) if prompt else None,
        "today": _today(store, now),
    }


def _providers(agg: Aggregate, config: Config, own_plugin: str, now: float) -> list[dict[str, Any]]:
    store = agg.store
    names = set(config.provider_names)
    health: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for worker, states in sorted(agg.states.items()):
        for found in provider_states(states, names, skip=own_plugin):
            if found.state is None and found.cooldown_s is None:
                continue
            health[found.provider].append(
                {
                    "plugin": found.plugin,
                    "state": found.state,
                    "cooldown_s": found.cooldown_s,
                    "worker": worker,
                }
            )
    serving: dict[str, list[str]] = {}
    for profile, last in store.last_served.items():
        serving.setdefault(str(last.get("provider")), []).append(profile)
    out = []
    for provider in config.providers:
        name = provider.name
        out.append(
            {
                "name": name,
                "kind": provider.kind,
                "model": provider.model,
                "paid": provider.paid,
                "serving": sorted(serving.get(name, [])),
                "health": health[name],
                "requests": store.total(catalog.REQUESTS, provider=name),
                "attempts": {
                    outcome: store.total(catalog.ATTEMPTS, provider=name, outcome=outcome)
                    for outcome in ("success", "failed", "failed_after_commit")
                },
                "skips": store.total(catalog.SKIPS, provider=name),
                "fallbacks": store.total(catalog.FALLBACKS, provider=name),
                "latency_ms": _quantiles_ms(store, catalog.UPSTREAM_LATENCY, provider=name),
                "ttft_ms": _quantiles_ms(store, catalog.TTFT, provider=name),
                "cost_usd": round(store.total(catalog.COST, provider=name), 6),
                "today": _day(store, int(now // DAY_S), name),
                "last": store.provider_last.get(name),
            }
        )
    return out


def _keys(store: Store) -> list[dict[str, Any]]:
    """Requests and spend per ingress key name, the most spent first."""
    names = {labels[-1] for labels in store.counters[catalog.REQUESTS.name] if labels[-1]}
    rows = [
        {
            "name": name,
            "requests": store.total(catalog.REQUESTS, key=name),
            "errors": store.total(catalog.REQUESTS, key=name)
            - store.total(catalog.REQUESTS, key=name, outcome="success")
            - store.total(catalog.REQUESTS, key=name, outcome="client_closed"),
            "cost_usd": round(store.total(catalog.COST, key=name), 6),
        }
        for name in names
    ]
    return sorted(rows, key=lambda r: (-r["cost_usd"], -r["requests"], r["name"]))


def _rows(store: Store, metric: catalog.MetricDef) -> list[dict[str, Any]]:
    rows = [
        {**dict(zip(metric.labels, labels, strict=True)), "count": value}
        for labels, value in store.counters[metric.name].items()
    ]
    return sorted(rows, key=lambda r: -float(r["count"]))


def build_document(
    agg: Aggregate, config: Config, own_plugin: str, *, now: float, event_limit: int
) -> dict[str, Any]:
    store = agg.store
    names = set(config.provider_names)
    events = list(store.events)[-event_limit:]
    return {
        "generated_at": now,
        "worker": agg.own_pid,
        "workers": [w.as_dict() for w in agg.workers],
        "summary": _summary(store, now),
        "per_minute": _per_minute(store, now),
        "profiles": [
            {
                "name": name,
                "providers": list(profile.providers),
                "serving": store.last_served.get(name, {}).get("provider"),
            }
            for name, profile in config.profiles.items()
        ],
        "per_day": _per_day(store, now),
        "providers": _providers(agg, config, own_plugin, now),
        "keys": _keys(store),
        "gates": {
            "skips": _rows(store, catalog.SKIPS),
            "fallbacks": _rows(store, catalog.FALLBACKS),
            "moves": _rows(store, catalog.MOVES),
        },
        "plugin_states": {
            worker: {k: v for k, v in states.items() if k != own_plugin}
            for worker, states in agg.states.items()
        },
        "metrics": _samples(AggregateCollector(agg, names, own_plugin)),
        "events": events,
    }
