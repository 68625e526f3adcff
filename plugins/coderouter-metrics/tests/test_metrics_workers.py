"""Snapshot files shared between worker processes: summing, stale workers, folding the files of
stopped workers, and cleaning up after stopped servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from coderouter_metrics import catalog
from coderouter_metrics.config import DEFAULT_LATENCY_BUCKETS_S, DEFAULT_OVERHEAD_BUCKETS_S
from coderouter_metrics.observe import observe_record
from coderouter_metrics.shared import (
    RETIRED,
    SharedDir,
    aggregate,
    encode,
    pid_alive,
    process_start,
    server_key,
)
from coderouter_metrics.store import Store

BOUNDS = {"latency": DEFAULT_LATENCY_BUCKETS_S, "overhead": DEFAULT_OVERHEAD_BUCKETS_S}
NOW = 1_800_000_000.0


def new_store() -> Store:
    return Store(BOUNDS, wall=lambda: NOW)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    return child.pid


def worker_snapshot(
    pid: int, requests: int, *, written_at: float = NOW, states: dict[str, Any] | None = None
) -> dict[str, Any]:
    store = new_store()
    for i in range(requests):
        observe_record(
            store,
            {
                "event": "request",
                "ingress": "openai_chat",
                "profile": "default",
                "provider": "local",
                "status": 200,
                "latency_ms": 10.0,
                "upstream_ms": 8.0,
                "attempts": [],
                "ts": NOW + i,
                "id": f"{pid}-{i}",
            },
        )
    data = store.to_snapshot()
    data.update(pid=pid, token="ab", written_at=written_at, states=states or {})
    return data


def write_worker(shared: SharedDir, pid: int, snapshot: dict[str, Any]) -> Path:
    path = shared.path / f"{pid}-ab.json"
    path.write_bytes(encode(snapshot))
    return path


def shared_dir(tmp_path: Path) -> SharedDir:
    shared = SharedDir(tmp_path, "1-1", os.getpid(), "cd")
    shared.prepare()
    return shared


def test_children_of_one_parent_share_a_server_key() -> None:
    code = "from coderouter_metrics.shared import server_key; print(server_key())"
    keys = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert keys == {f"{os.getpid()}-{process_start(os.getpid())}"}
    assert server_key() != next(iter(keys))


def test_aggregate_sums_every_worker_and_reads_states_of_live_ones(tmp_path: Path) -> None:
    shared = shared_dir(tmp_path)
    parent = os.getppid()
    write_worker(shared, parent, worker_snapshot(parent, 3, states={"h": {"local": "ok"}}))
    gone = dead_pid()
    write_worker(shared, gone, worker_snapshot(gone, 2, states={"h": {"local": "down"}}))
    stale = worker_snapshot(parent + 0, 0, written_at=NOW - 3600)
    (shared.path / f"{parent}-ef.json").write_bytes(encode(stale))
    own = worker_snapshot(os.getpid(), 4)
    agg = aggregate(own, shared, new_store, now=NOW, stale_after_s=30)
    assert agg.store.total(catalog.REQUESTS) == 9
    assert agg.store.merged_histogram(catalog.REQUEST_DURATION).count == 9
    alive = {(w.pid, w.requests): w.alive for w in agg.workers}
    assert alive[(os.getpid(), 4)] is True
    assert alive[(parent, 3)] is True
    assert alive[(parent, 0)] is False  # pid alive but not written for an hour
    assert alive[(gone, 2)] is False
    assert set(agg.states) == {str(os.getpid()), str(parent)}
    assert len(agg.store.events) == 9


def test_the_own_file_is_replaced_by_live_values(tmp_path: Path) -> None:
    shared = shared_dir(tmp_path)
    shared.write(encode(worker_snapshot(os.getpid(), 5)))
    agg = aggregate(worker_snapshot(os.getpid(), 6), shared, new_store, now=NOW, stale_after_s=30)
    assert agg.store.total(catalog.REQUESTS) == 6


def test_stopped_workers_are_folded_into_retired_and_counted_once(tmp_path: Path) -> None:
    shared = shared_dir(tmp_path)
    live = os.getppid()
    write_worker(shared, live, worker_snapshot(live, 1))
    first, second = dead_pid(), dead_pid()
    write_worker(shared, first, worker_snapshot(first, 2))
    write_worker(shared, second, worker_snapshot(second, 3))
    own = worker_snapshot(os.getpid(), 0)

    def total() -> float:
        agg = aggregate(own, shared, new_store, now=NOW, stale_after_s=30)
        return agg.store.total(catalog.REQUESTS)

    assert total() == 6
    assert shared.compact(new_store) == 2
    assert total() == 6
    assert sorted(p.name for p in shared.path.glob("*.json")) == sorted(
        [RETIRED, f"{live}-ab.json"]
    )
    third = dead_pid()
    write_worker(shared, third, worker_snapshot(third, 4))
    assert shared.compact(new_store) == 1
    assert total() == 10
    retired = json.loads((shared.path / RETIRED).read_bytes())
    assert retired["generation"] == 2
    assert len(retired["events"]) == 9
    assert shared.compact(new_store) == 0


def test_a_folded_file_that_still_exists_is_not_counted_twice(tmp_path: Path) -> None:
    shared = shared_dir(tmp_path)
    gone = dead_pid()
    snapshot = worker_snapshot(gone, 2)
    write_worker(shared, gone, snapshot)
    shared.compact(new_store)
    # The state between writing retired.json and deleting the folded file.
    write_worker(shared, gone, snapshot)
    agg = aggregate(worker_snapshot(os.getpid(), 0), shared, new_store, now=NOW, stale_after_s=30)
    assert agg.store.total(catalog.REQUESTS) == 2
    shared.compact(new_store)
    assert not (shared.path / f"{gone}-ab.json").exists()
    agg = aggregate(worker_snapshot(os.getpid(), 0), shared, new_store, now=NOW, stale_after_s=30)
    assert agg.store.total(catalog.REQUESTS) == 2


def test_prepare_removes_directories_of_stopped_servers_only(tmp_path: Path) -> None:
    gone = dead_pid()
    me = os.getpid()
    stopped = tmp_path / f"{gone}-{process_start(me)}"
    reused = tmp_path / f"{me}-1"  # a live pid that started at another time: pid reuse
    running = tmp_path / f"{me}-{process_start(me)}"
    unrelated = tmp_path / "notes"
    for folder in (stopped, reused, running, unrelated):
        folder.mkdir()
        (folder / "x.json").write_text("{}")
    shared = SharedDir(tmp_path, "7-7", me, "cd")
    shared.prepare()
    assert shared.path.is_dir()
    assert not stopped.exists()
    assert not reused.exists()
    assert running.exists() and unrelated.exists()
