"""Totals of every host for ``/metrics.json`` with ``[state] backend = "redis"``.

Each worker writes its own totals (a few counters, and requests and spend per provider) as one
record of the state store, keyed by the worker's name in the store. The flush loop writes them
in the background when they change, and at least every ``state_refresh_s`` so the others know
the worker is alive: never on the request path. ``/metrics.json`` sums this worker's live
totals with every other worker's record that is fresh (written within the plugin's
``stale_after_s``); a worker that stopped leaves the totals then, and its record leaves the
store ten times later. Prometheus still scrapes each host's own ``/metrics``.
"""

from __future__ import annotations

from typing import Any

import attrs

from coderouter.state import ProviderRecords, clock_field
from coderouter_metrics import catalog
from coderouter_metrics.store import Store

__all__ = ["Fleet", "WorkerTotals", "totals_of"]

TOKEN_CLASSES = ("input", "output", "cache_read", "cache_write", "reasoning")
MAX_PROVIDERS = 256
"""Providers a worker's totals name at most (a config names far fewer)."""


@attrs.define
class WorkerTotals:
    totals: dict[str, Any] = attrs.Factory(dict)
    written_at: float | None = clock_field()


def totals_of(store: Store) -> dict[str, Any]:
    """One worker's totals: what the fleet sums."""
    requests = store.total(catalog.REQUESTS)
    ok = store.total(catalog.REQUESTS, outcome="success")
    closed = store.total(catalog.REQUESTS, outcome="client_closed")
    providers: dict[str, dict[str, float]] = {}
    for labels, value in store.counters[catalog.REQUESTS.name].items():
        name = labels[catalog.REQUESTS.labels.index("provider")]
        if name in providers or len(providers) < MAX_PROVIDERS:
            row = providers.setdefault(name, {"requests": 0.0, "cost_usd": 0.0})
            row["requests"] += value
    for labels, value in store.counters[catalog.COST.name].items():
        name = labels[catalog.COST.labels.index("provider")]
        if name in providers:
            providers[name]["cost_usd"] = round(providers[name]["cost_usd"] + value, 6)
    return {
        "requests": requests,
        "errors": requests - ok - closed,
        "fallbacks": store.total(catalog.FALLBACKS),
        "skips": store.total(catalog.SKIPS),
        "cost_usd": round(store.total(catalog.COST), 6),
        "tokens": {c: store.total(catalog.TOKENS, **{"class": c}) for c in TOKEN_CLASSES},
        "providers": providers,
    }


def _add(into: dict[str, Any], totals: dict[str, Any]) -> None:
    for key, value in totals.items():
        if isinstance(value, dict):
            _add(into.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            into[key] = into.get(key, 0) + value


class Fleet:
    """This worker's record among every worker's (see the module docstring)."""

    def __init__(self, records: ProviderRecords[WorkerTotals], writer: str) -> None:
        self.records = records
        self.writer = writer
        self._written: dict[str, Any] | None = None
        self._written_at: float | None = None

    def publish(self, store: Store, now: float, refresh_s: float) -> bool:
        """Write this worker's totals when they changed or ``refresh_s`` has passed."""
        totals = totals_of(store)
        fresh = self._written_at is not None and now - self._written_at < refresh_s
        if totals == self._written and fresh:
            return False
        self.records.save(self.writer, WorkerTotals(totals, now))
        self._written, self._written_at = totals, now
        return True

    def document(self, store: Store, now: float, stale_after_s: float) -> dict[str, Any]:
        """The fleet's totals: this worker's live ones and every fresh record of the others."""
        summed = totals_of(store)
        workers = [self.writer]
        for name in list(self.records):
            if name == self.writer:
                continue
            found = self.records.get(name)
            age = None if found is None or found.written_at is None else now - found.written_at
            if age is None or age > 10 * stale_after_s:
                self.records.forget(name)
                continue
            if age <= stale_after_s and found is not None:
                _add(summed, found.totals)
                workers.append(name)
        summed["cost_usd"] = round(summed["cost_usd"], 6)
        hosts = {name.rsplit(":", 2)[0] for name in workers}
        return {
            "scope": self.records.scope,
            "workers": len(workers),
            "hosts": len(hosts),
            **summed,
        }
