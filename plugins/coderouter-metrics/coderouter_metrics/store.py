"""The in-memory metric values of one worker, their JSON snapshot, and merging snapshots.

The same :class:`Store` holds one worker's live values and, at scrape time, the sum of every
worker's snapshot, so counting and merging share one data structure.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from coderouter_metrics.catalog import COUNTERS, HISTOGRAMS, MetricDef

__all__ = ["DAYS_KEPT", "DAY_S", "SNAPSHOT_FORMAT", "Histogram", "Store", "trimmed_event"]

SNAPSHOT_FORMAT = 1
MINUTES_KEPT = 60
DAYS_KEPT = 8
DAY_S = 86400
MAX_EVENT_TEXT = 600
Labels = tuple[str, ...]


def trimmed_event(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a log record for the recent-events list, long text shortened."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, str) and len(value) > MAX_EVENT_TEXT:
            value = value[:MAX_EVENT_TEXT] + "…"
        elif isinstance(value, list):
            value = [dict(v) if isinstance(v, Mapping) else v for v in value[:20]]
        elif isinstance(value, Mapping):
            value = dict(value)
        out[key] = value
    return out


@attrs.define(slots=True)
class Histogram:
    """Non-cumulative bucket counts (the last one is ``+Inf``), sum and count."""

    counts: list[int]
    total: float = 0.0
    count: int = 0

    def observe(self, bounds: list[float], value: float) -> None:
        # The first bound >= value; past the last bound, the +Inf bucket.
        self.counts[bisect.bisect_left(bounds, value)] += 1
        self.total += value
        self.count += 1

    def add(self, counts: list[int], total: float, count: int) -> None:
        for i, n in enumerate(counts):
            self.counts[i] += n
        self.total += total
        self.count += count

    def quantile(self, bounds: list[float], q: float) -> float | None:
        """Linear interpolation inside the bucket, as PromQL's ``histogram_quantile`` does."""
        if self.count == 0:
            return None
        rank = q * self.count
        seen = 0
        lower = 0.0
        for i, n in enumerate(self.counts):
            upper = bounds[i] if i < len(bounds) else bounds[-1]
            if n and seen + n >= rank:
                if i >= len(bounds):
                    return bounds[-1]
                return lower + (upper - lower) * (rank - seen) / n
            seen += n
            lower = upper
        return bounds[-1]


class Store:
    """Counters, histograms, a per-minute series, per-UTC-day figures by provider, recent
    events and "last seen" facts."""

    def __init__(
        self,
        bounds: dict[str, list[float]],
        *,
        recent_events: int = 200,
        max_label_values: int = 50,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.bounds = {m.name: list(bounds[m.buckets]) for m in HISTOGRAMS}
        self.max_label_values = max_label_values
        self.wall = wall
        self.counters: dict[str, dict[Labels, float]] = {m.name: {} for m in COUNTERS}
        self.histograms: dict[str, dict[Labels, Histogram]] = {m.name: {} for m in HISTOGRAMS}
        self.per_minute: dict[int, list[int]] = {}
        # UTC day number (epoch days) -> provider -> [requests, errors, cost in USD].
        self.per_day: dict[int, dict[str, list[float]]] = {}
        # The newest ``_untrimmed`` entries are the callers' records, the rest trimmed copies.
        self._events: deque[Any] = deque(maxlen=recent_events)
        self._untrimmed = 0
        self.last_served: dict[str, dict[str, Any]] = {}
        self.provider_last: dict[str, dict[str, Any]] = {}
        self.changes = 0
        self._label_values: dict[tuple[str, int], set[str]] = {}
        self._label_counts = {m.name: len(m.labels) for m in COUNTERS}
        self.key_names: frozenset[str] | None = None

    def key_label(self, value: Any) -> str:
        """The ``key`` label of a request: its ingress key's name when that is one of
        :attr:`key_names` (the configured keys, so the series stay as few as they are), else
        ``"other"``; ``""`` for a request without a key."""
        if not value:
            return ""
        name = str(value)
        if self.key_names is not None and name not in self.key_names:
            return "other"
        return name

    # --- recording -------------------------------------------------------------------------

    def capped(self, metric: MetricDef, position: int, value: str) -> str:
        """``value`` for a free-text label, or ``"other"`` once the metric has
        ``max_label_values`` distinct ones (free text must not explode the series count)."""
        seen = self._label_values.setdefault((metric.name, position), set())
        if value in seen:
            return value
        if len(seen) >= self.max_label_values:
            return "other"
        seen.add(value)
        return value

    def inc(self, metric: MetricDef, labels: Labels, value: float = 1.0) -> None:
        series = self.counters[metric.name]
        series[labels] = series.get(labels, 0.0) + value
        self.changes += 1

    def observe(self, metric: MetricDef, labels: Labels, value: float) -> None:
        bounds = self.bounds[metric.name]
        series = self.histograms[metric.name]
        hist = series.get(labels)
        if hist is None:
            hist = series[labels] = Histogram([0] * (len(bounds) + 1))
        hist.observe(bounds, value)
        self.changes += 1

    def tick_minute(self, requests: int = 0, errors: int = 0, fallbacks: int = 0) -> None:
        minute = int(self.wall() // 60)
        row = self.per_minute.get(minute)
        if row is None:
            row = self.per_minute[minute] = [0, 0, 0]
            for old in [m for m in self.per_minute if m <= minute - MINUTES_KEPT]:
                del self.per_minute[old]
        row[0] += requests
        row[1] += errors
        row[2] += fallbacks
        self.changes += 1

    def tick_day(self, provider: str, *, errors: int = 0, cost: float = 0.0) -> None:
        """Count one request, answered by ``provider`` (``""`` for none), in the current UTC
        day; days older than :data:`DAYS_KEPT` are dropped when a new one starts."""
        day = int(self.wall() // DAY_S)
        rows = self.per_day.get(day)
        if rows is None:
            rows = self.per_day[day] = {}
            self._drop_old_days(day)
        row = rows.setdefault(provider, [0, 0, 0.0])
        row[0] += 1
        row[1] += errors
        row[2] += cost
        self.changes += 1

    def _drop_old_days(self, today: int) -> None:
        for old in [d for d in self.per_day if d <= today - DAYS_KEPT]:
            del self.per_day[old]

    def day_totals(self, day: int, provider: str | None = None) -> tuple[int, int, float]:
        """Requests, errors and cost of one UTC day (of one provider, or of all)."""
        rows = self.per_day.get(day, {})
        picked = rows.values() if provider is None else [rows.get(provider, [0, 0, 0.0])]
        requests = errors = 0
        cost = 0.0
        for row in picked:
            requests += int(row[0])
            errors += int(row[1])
            cost += float(row[2])
        return requests, errors, cost

    def add_event(self, event: Mapping[str, Any]) -> None:
        """Keep ``event`` (the caller's record, not a copy) among the recent ones; it is
        copied and trimmed when :attr:`events` is read."""
        self._events.append(event)
        self._untrimmed = min(self._untrimmed + 1, len(self._events))
        self.changes += 1

    @property
    def events(self) -> deque[dict[str, Any]]:
        """The recent events, oldest first, each a trimmed copy of its record."""
        events = self._events
        if self._untrimmed:
            for i in range(len(events) - self._untrimmed, len(events)):
                events[i] = trimmed_event(events[i])
            self._untrimmed = 0
        return events

    # --- snapshots ---------------------------------------------------------------------------

    def to_snapshot(self) -> dict[str, Any]:
        """A JSON-safe copy of every value (safe to hand to another thread)."""
        return {
            "format": SNAPSHOT_FORMAT,
            "counters": {
                name: [[list(labels), value] for labels, value in series.items()]
                for name, series in self.counters.items()
                if series
            },
            "histograms": {
                name: {
                    "bounds": list(self.bounds[name]),
                    "series": [
                        [list(labels), list(h.counts), h.total, h.count]
                        for labels, h in series.items()
                    ],
                }
                for name, series in self.histograms.items()
                if series
            },
            "per_minute": [[minute, *row] for minute, row in sorted(self.per_minute.items())],
            "per_day": [
                [day, provider, *row]
                for day, rows in sorted(self.per_day.items())
                if day > int(self.wall() // DAY_S) - DAYS_KEPT
                for provider, row in rows.items()
            ],
            "events": list(self.events),
            "last_served": {k: dict(v) for k, v in self.last_served.items()},
            "provider_last": {k: dict(v) for k, v in self.provider_last.items()},
        }

    def absorb(self, snapshot: dict[str, Any], *, worker: str = "") -> None:
        """Add another snapshot's values to this store (counters and histograms sum; events
        and "last seen" facts keep the newest)."""
        if snapshot.get("format") != SNAPSHOT_FORMAT:
            return
        for name, rows in snapshot.get("counters", {}).items():
            series = self.counters.get(name)
            if series is None:
                continue
            width = self._label_counts[name]
            for labels, value in rows:
                key = tuple(str(v) for v in labels)
                if len(key) == width - 1:
                    # Written before the last label (``key``) was added: it is empty there.
                    key = (*key, "")
                elif len(key) != width:
                    continue
                series[key] = series.get(key, 0.0) + float(value)
        for name, data in snapshot.get("histograms", {}).items():
            self._absorb_histogram(name, data)
        for minute, *row in snapshot.get("per_minute", []):
            mine = self.per_minute.setdefault(int(minute), [0, 0, 0])
            for i, n in enumerate(row[:3]):
                mine[i] += int(n)
        for day, provider, *row in snapshot.get("per_day", []):
            mine_day = self.per_day.setdefault(int(day), {}).setdefault(str(provider), [0, 0, 0.0])
            for i, n in enumerate(row[:3]):
                mine_day[i] += float(n) if i == 2 else int(n)
        self._absorb_events(snapshot.get("events", []), worker)
        _newest(self.last_served, snapshot.get("last_served", {}))
        _newest(self.provider_last, snapshot.get("provider_last", {}))

    def _absorb_histogram(self, name: str, data: dict[str, Any]) -> None:
        bounds = self.bounds.get(name)
        if bounds is None or [float(b) for b in data.get("bounds", [])] != bounds:
            # Buckets changed with the config: old and new series cannot be summed.
            return
        series = self.histograms[name]
        for labels, counts, total, count in data.get("series", []):
            key = tuple(str(v) for v in labels)
            hist = series.get(key)
            if hist is None:
                hist = series[key] = Histogram([0] * (len(bounds) + 1))
            if len(counts) == len(hist.counts):
                hist.add([int(n) for n in counts], float(total), int(count))

    def _absorb_events(self, events: Iterable[dict[str, Any]], worker: str) -> None:
        incoming = [
            dict(e, worker=e.get("worker") or worker) for e in events if isinstance(e, dict)
        ]
        merged = sorted([*self.events, *incoming], key=lambda e: float(e.get("ts") or 0.0))
        self.events.clear()
        self.events.extend(merged)

    # --- reading -----------------------------------------------------------------------------

    def total(self, metric: MetricDef, **match: str) -> float:
        """Sum of a counter over the series whose labels match ``match``."""
        positions = {metric.labels.index(k): v for k, v in match.items()}
        return sum(
            value
            for labels, value in self.counters[metric.name].items()
            if all(labels[i] == v for i, v in positions.items())
        )

    def merged_histogram(self, metric: MetricDef, **match: str) -> Histogram:
        positions = {metric.labels.index(k): v for k, v in match.items()}
        bounds = self.bounds[metric.name]
        out = Histogram([0] * (len(bounds) + 1))
        for labels, hist in self.histograms[metric.name].items():
            if all(labels[i] == v for i, v in positions.items()):
                out.add(hist.counts, hist.total, hist.count)
        return out


def _newest(mine: dict[str, dict[str, Any]], theirs: dict[str, Any]) -> None:
    for key, value in theirs.items():
        if not isinstance(value, dict):
            continue
        current = mine.get(key)
        if current is None or float(value.get("ts", 0)) > float(current.get("ts", 0)):
            mine[key] = dict(value)
