"""Turning request-log records and attempt hooks into metric updates (pure, testable by hand)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from coderouter.types import Attempt, Chain, UpstreamError
from coderouter_metrics import catalog
from coderouter_metrics.store import Store, trimmed_event

__all__ = [
    "observe_attempt",
    "observe_failure",
    "observe_moves",
    "observe_record",
    "reason_label",
    "request_outcome",
    "trimmed_event",
]

TOKEN_CLASSES = (
    ("input_tokens", "input"),
    ("output_tokens", "output"),
    ("cache_read_tokens", "cache_read"),
    ("cache_write_tokens", "cache_write"),
    ("reasoning_tokens", "reasoning"),
)
_DECIMAL = re.compile(r"\d+\.\d+")
_SPACE = re.compile(r"\s+")


def reason_label(text: str) -> str:
    """A short, low-cardinality label from a free-text reason.

    ``"HTTP 500: upstream error"`` -> ``"HTTP 500"``; ``"budget 3.21 of 3.00 USD spent"`` ->
    ``"budget N of N USD spent"``. The detail stays in the event list and the request log.
    """
    head = text.split(":", 1)[0].split("(", 1)[0]
    head = _SPACE.sub(" ", _DECIMAL.sub("N", head)).strip()
    return head[:80] or "unspecified"


def request_outcome(record: Mapping[str, Any]) -> str:
    status = int(record.get("status") or 0)
    steps = record.get("attempts") or []
    if status == 499:
        return "client_closed"
    if steps and any(
        s.get("outcome") == "failed after commit" for s in steps if isinstance(s, dict)
    ):
        return "stream_error"
    if 0 < status < 400:
        return "success"
    failed = any(s.get("outcome") == "failed" for s in steps if isinstance(s, dict))
    if status >= 500 or (status == 429 and failed):
        return "failed"
    return "rejected"


def _number(value: Any) -> float | None:
    # Exact types: records are built from plain values, and bool (an int) is not a number here.
    kind = type(value)
    if kind is int:
        return float(value)
    if kind is float:
        return value if math.isfinite(value) else None
    return None


def _ms(record: Mapping[str, Any], key: str) -> float | None:
    value = _number(record.get(key))
    return None if value is None else value / 1000.0


def observe_record(
    store: Store,
    record: Mapping[str, Any],
    *,
    cost_field: str = "cost_usd",
    savings_field: str = "cache_savings_usd",
) -> None:
    """Count one structured log record: every kind in ``coderouter_events_total``; request
    records in every request metric."""
    event = str(record.get("event") or "")
    store.inc(catalog.EVENTS, (event,))
    # Kept as is and trimmed only when read (a snapshot, a scrape): most records are
    # pushed out of the ring before anyone looks at them.
    store.add_event(record)
    if event != "request":
        return
    ingress = str(record.get("ingress") or "")
    profile = str(record.get("profile") or "")
    provider = str(record.get("provider") or "")
    outcome = request_outcome(record)
    key_name = store.key_label(record.get("key"))
    store.inc(catalog.REQUESTS, (ingress, profile, provider, outcome, key_name))
    fallbacks = _observe_steps(store, record, profile)
    _observe_resumes(store, record) if record.get("attempts") else 0
    errors = 0 if outcome in ("success", "client_closed") else 1
    store.tick_minute(requests=1, errors=errors, fallbacks=fallbacks)
    day_cost = (_number(record.get(cost_field)) or 0.0) if provider else 0.0
    store.tick_day(provider, errors=errors, cost=day_cost)
    if outcome == "success" and provider:
        ts = float(record.get("ts") or store.wall())
        served = store.last_served.get(profile)
        if served is not None and served["provider"] == provider:
            served["ts"] = ts
        else:
            store.last_served[profile] = {"provider": provider, "ts": ts}
    latency = _ms(record, "latency_ms")
    upstream = _ms(record, "upstream_ms")
    ttft = _ms(record, "ttft_ms")
    if latency is not None:
        store.observe(catalog.REQUEST_DURATION, (ingress, profile), latency)
    if upstream is not None and provider:
        store.observe(catalog.UPSTREAM_LATENCY, (profile, provider), upstream)
        if latency is not None:
            store.observe(catalog.OVERHEAD, (ingress,), max(0.0, latency - upstream))
    if ttft is not None and provider:
        store.observe(catalog.TTFT, (profile, provider), ttft)
    if not provider:
        return
    usage = record.get("usage")
    if isinstance(usage, Mapping):
        for key, name in TOKEN_CLASSES:
            count = _number(usage.get(key))
            if count:
                store.inc(catalog.TOKENS, (profile, provider, name), count)
    cost = _number(record.get(cost_field))
    if cost:
        store.inc(catalog.COST, (profile, provider, key_name), cost)
    savings = _number(record.get(savings_field))
    if savings:
        store.inc(catalog.SAVINGS, (profile, provider, key_name), savings)


def _observe_resumes(store: Store, record: Mapping[str, Any]) -> None:
    """Each break of a stream after commit, by what became of it."""
    for resume in record.get("resumes") or []:
        if isinstance(resume, Mapping):
            outcome = store.capped(catalog.RESUMES, 0, str(resume.get("outcome") or ""))
            store.inc(catalog.RESUMES, (outcome,))


def _observe_steps(store: Store, record: Mapping[str, Any], profile: str) -> int:
    """Skips, fallbacks and stream errors from the record's ``attempts`` list; returns the
    number of fallbacks."""
    steps = [s for s in record.get("attempts") or [] if isinstance(s, Mapping)]
    answered = bool(record.get("provider"))
    fallbacks = 0
    ts = float(record.get("ts") or store.wall())
    for i, step in enumerate(steps):
        name = str(step.get("provider") or "")
        outcome = step.get("outcome")
        reason = str(step.get("reason") or "")
        if outcome == "skipped":
            label = store.capped(catalog.SKIPS, 2, reason_label(reason))
            store.inc(catalog.SKIPS, (profile, name, label))
            store.provider_last[name] = {"ts": ts, "outcome": "skipped", "reason": reason[:200]}
        elif outcome == "failed" and (answered or i < len(steps) - 1):
            label = store.capped(catalog.FALLBACKS, 2, reason_label(reason))
            store.inc(catalog.FALLBACKS, (profile, name, label))
            fallbacks += 1
        elif outcome == "failed after commit":
            store.inc(catalog.STREAM_ERRORS, (profile, name))
    return fallbacks


def observe_attempt(store: Store, attempt: Attempt) -> None:
    """A successful attempt (``after_attempt``)."""
    name = attempt.provider.name
    store.inc(catalog.ATTEMPTS, (attempt.request.ingress, attempt.profile, name, "success"))
    store.provider_last[name] = {"ts": store.wall(), "outcome": "success", "reason": ""}


def observe_failure(store: Store, attempt: Attempt, error: UpstreamError) -> None:
    """A failed attempt (``on_failure``), before or after the stream committed."""
    name = attempt.provider.name
    outcome = "failed_after_commit" if error.committed else "failed"
    store.inc(catalog.ATTEMPTS, (attempt.request.ingress, attempt.profile, name, outcome))
    status = "" if error.status is None else str(error.status)
    store.inc(catalog.UPSTREAM_ERRORS, (attempt.profile, name, error.kind, status))
    store.provider_last[name] = {"ts": store.wall(), "outcome": outcome, "reason": error.summary()}


def observe_moves(store: Store, chain: Chain) -> None:
    """The chain's reorderings, counted once the chain is final (at its first attempt)."""
    for move in chain.moves:
        label = store.capped(catalog.MOVES, 2, reason_label(move.reason))
        store.inc(catalog.MOVES, (chain.profile, move.provider, label, move.by))
