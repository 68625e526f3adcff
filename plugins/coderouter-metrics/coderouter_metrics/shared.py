"""Sharing metrics between the worker processes of one server through snapshot files.

Each gunicorn worker is its own process with its own plugin instance. Every worker writes its
values to ``<metrics_dir>/<server>/<pid>-<token>.json`` (atomically replaced), and the worker
that answers a scrape sums its live values with every other worker's file. ``<server>`` names
the gunicorn master (its pid and start time), so a restarted server starts from zero and a
reused pid never picks up old files.

Files of workers that died (gunicorn replaces workers) still count: their counters are folded
into ``retired.json`` under a lock, so counters never go backwards while the master lives.
Directories of servers that are gone are removed when a worker starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from coderouter_metrics.store import SNAPSHOT_FORMAT, Store

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "Aggregate",
    "SharedDir",
    "WorkerInfo",
    "aggregate",
    "pid_alive",
    "server_key",
    "write_atomic",
]

RETIRED = "retired.json"
LOCK = ".lock"
_WORKER_FILE = re.compile(r"^(\d+)-([0-9a-f]+)\.json$")
_SERVER_DIR = re.compile(r"^(\d+)-(\d+)$")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or ``"0"`` when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return "0"
    fields = stat.rsplit(")", 1)[-1].split()
    # Field 22 of stat is starttime; fields[0] here is field 3.
    return fields[19] if len(fields) > 19 and fields[19].isdigit() else "0"


def server_key(ppid: int | None = None) -> str:
    """``<master pid>-<master start>``: the same in every worker of one gunicorn master."""
    parent = os.getppid() if ppid is None else ppid
    return f"{parent}-{process_start(parent)}"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_atomic(path: Path, data: bytes) -> None:
    # A name of its own per write: two writers never share a half-written temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def encode(snapshot: dict[str, Any]) -> bytes:
    return _dumps(snapshot).encode()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@attrs.define(slots=True)
class WorkerInfo:
    pid: int
    alive: bool
    current: bool
    written_at: float
    requests: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "alive": self.alive,
            "self": self.current,
            "written_at": self.written_at,
            "requests": self.requests,
        }


@attrs.define
class Aggregate:
    """Every worker's values summed, plus who contributed and each live worker's plugin
    states (keyed by pid)."""

    store: Store
    workers: list[WorkerInfo]
    states: dict[str, dict[str, Any]]
    own_pid: int


class SharedDir:
    """The snapshot directory of one server, seen from one worker."""

    def __init__(self, root: Path, server: str, pid: int, token: str) -> None:
        self.root = root
        self.path = root / server
        self.server = server
        self.pid = pid
        self.token = token
        self.own_name = f"{pid}-{token}.json"

    @property
    def own_file(self) -> Path:
        return self.path / self.own_name

    def prepare(self) -> None:
        """Create the directory and remove those of servers that are gone."""
        self.path.mkdir(parents=True, exist_ok=True)
        for entry in self.root.iterdir():
            match = _SERVER_DIR.match(entry.name)
            if match is None or entry.name == self.server or not entry.is_dir():
                continue
            pid, start = int(match.group(1)), match.group(2)
            if not pid_alive(pid) or (start != "0" and process_start(pid) != start):
                shutil.rmtree(entry, ignore_errors=True)

    def write(self, data: bytes) -> None:
        write_atomic(self.own_file, data)

    def remove_own(self) -> None:
        with contextlib.suppress(OSError):
            self.own_file.unlink()

    def _worker_files(self) -> Iterator[tuple[str, int]]:
        try:
            names = os.listdir(self.path)
        except OSError:
            return
        for name in names:
            match = _WORKER_FILE.match(name)
            if match is not None:
                yield name, int(match.group(1))

    def read_all(self) -> tuple[dict[str, Any] | None, list[tuple[int, dict[str, Any]]]]:
        """``retired.json`` and every other worker's snapshot, consistently: a file folded
        into ``retired.json`` while this runs is counted exactly once."""
        retired: dict[str, Any] | None = None
        others: list[tuple[int, dict[str, Any]]] = []
        for _ in range(5):
            retired = _read_json(self.path / RETIRED)
            absorbed = set(retired.get("absorbed", [])) if retired else set()
            others = []
            for name, pid in self._worker_files():
                if name == self.own_name or name in absorbed:
                    continue
                snapshot = _read_json(self.path / name)
                if snapshot is not None:
                    others.append((pid, snapshot))
            after = _read_json(self.path / RETIRED)
            if _generation(after) == _generation(retired):
                break
        return retired, others

    @contextlib.contextmanager
    def _locked(self) -> Iterator[bool]:
        if fcntl is None:
            yield False
            return
        with open(self.path / LOCK, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield True
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def compact(self, make_store: Callable[[], Store]) -> int:
        """Fold the snapshots of dead workers into ``retired.json``; returns how many."""
        with self._locked() as locked:
            if not locked:
                return 0
            retired = _read_json(self.path / RETIRED) or {}
            before = [n for n in retired.get("absorbed", []) if (self.path / n).exists()]
            dead = [
                name
                for name, pid in self._worker_files()
                if name not in before and not pid_alive(pid)
            ]
            if dead:
                store = make_store()
                store.absorb(retired)
                for name in dead:
                    snapshot = _read_json(self.path / name)
                    if snapshot is not None:
                        store.absorb(snapshot, worker=name.split("-", 1)[0])
                data = store.to_snapshot()
                data["generation"] = _generation(retired) + 1
                data["absorbed"] = dead + before
                write_atomic(self.path / RETIRED, encode(data))
            for name in dead + before:
                with contextlib.suppress(OSError):
                    (self.path / name).unlink()
            return len(dead)


def _generation(data: dict[str, Any] | None) -> int:
    return int(data.get("generation", 0)) if data else 0


def _requests(snapshot: dict[str, Any]) -> float:
    rows = snapshot.get("counters", {}).get("coderouter_requests_total", [])
    return float(sum(value for _, value in rows))


def aggregate(
    own: dict[str, Any],
    shared: SharedDir | None,
    make_store: Callable[[], Store],
    *,
    now: float,
    stale_after_s: float,
) -> Aggregate:
    """Sum this worker's live snapshot ``own`` with every other worker's file."""
    store = make_store()
    own_pid = int(own.get("pid", os.getpid()))
    store.absorb(own, worker=str(own_pid))
    workers = [WorkerInfo(own_pid, True, True, now, _requests(own))]
    states: dict[str, dict[str, Any]] = {str(own_pid): own.get("states") or {}}
    if shared is not None:
        retired, others = shared.read_all()
        if retired is not None and retired.get("format") == SNAPSHOT_FORMAT:
            store.absorb(retired)
        for pid, snapshot in others:
            written = float(snapshot.get("written_at") or 0.0)
            alive = pid_alive(pid) and now - written <= stale_after_s
            store.absorb(snapshot, worker=str(pid))
            workers.append(WorkerInfo(pid, alive, False, written, _requests(snapshot)))
            if alive:
                states[str(pid)] = snapshot.get("states") or {}
    workers.sort(key=lambda w: w.pid)
    return Aggregate(store, workers, states, own_pid)
