"""Fleet totals: what a worker writes (only on a change or a refresh) and how the totals of
fresh workers add up, with a fake clock and in-memory records standing for the store's."""

from __future__ import annotations

from coderouter_metrics import catalog
from coderouter_metrics.fleet import Fleet, WorkerTotals, totals_of
from coderouter_metrics.store import Store

from coderouter.state import MemoryRecords

BOUNDS = {"latency": [0.1, 1.0], "overhead": [0.001]}


def worker_store(requests: int, cost: float) -> Store:
    store = Store(BOUNDS)
    for _ in range(requests):
        store.inc(catalog.REQUESTS, ("openai_chat", "default", "a", "success", ""))
    store.inc(catalog.REQUESTS, ("openai_chat", "default", "", "failed", ""))
    store.inc(catalog.COST, ("default", "a", ""), cost)
    return store


def test_a_worker_writes_its_totals_on_a_change_or_a_refresh() -> None:
    records: MemoryRecords[WorkerTotals] = MemoryRecords(WorkerTotals)
    fleet, store = Fleet(records, "h1:1:x"), worker_store(2, 0.5)
    assert fleet.publish(store, now=0.0, refresh_s=5.0)
    assert not fleet.publish(store, now=1.0, refresh_s=5.0)  # nothing new
    assert fleet.publish(store, now=5.0, refresh_s=5.0)  # alive: written again
    store.inc(catalog.REQUESTS, ("openai_chat", "default", "a", "success", ""))
    assert fleet.publish(store, now=5.5, refresh_s=5.0)
    written = records["h1:1:x"]
    assert written.written_at == 5.5 and written.totals == totals_of(store)
    assert written.totals["requests"] == 4 and written.totals["errors"] == 1


def test_the_fleet_sums_fresh_workers_and_forgets_long_silent_ones() -> None:
    records: MemoryRecords[WorkerTotals] = MemoryRecords(WorkerTotals)
    records["h2:7:y"] = WorkerTotals(totals_of(worker_store(3, 0.25)), 95.0)
    records["h2:8:z"] = WorkerTotals(totals_of(worker_store(10, 1.0)), 50.0)  # stale
    records["h3:9:w"] = WorkerTotals(totals_of(worker_store(10, 1.0)), -300.0)  # long gone
    fleet = Fleet(records, "h1:1:x")
    document = fleet.document(worker_store(2, 0.5), now=100.0, stale_after_s=30.0)
    assert (document["workers"], document["hosts"]) == (2, 2)
    assert document["requests"] == 7 and document["errors"] == 2
    assert document["cost_usd"] == 0.75
    assert document["providers"] == {
        "a": {"requests": 5.0, "cost_usd": 0.75},
        "": {"requests": 2.0, "cost_usd": 0.0},
    }
    assert sorted(records) == ["h2:7:y", "h2:8:z"]  # the long-gone worker left the store
