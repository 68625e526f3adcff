"""The metrics plugin: counts from the request log and the attempt hooks, serves them, and
shares them between worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from importlib import resources as package_files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coderouter import Plugin, hookimpl
from coderouter.config import Config as HostConfig
from coderouter.keyconfig import DEFAULT_KEY_NAME
from coderouter.plugins import plugin_states
from coderouter.state import MemoryRecords
from coderouter.types import Attempt, Chain, RequestView, Result, UpstreamError
from coderouter_metrics.config import MetricsConfig
from coderouter_metrics.eventlog import EventLog
from coderouter_metrics.fleet import Fleet, WorkerTotals
from coderouter_metrics.observe import (
    observe_attempt,
    observe_failure,
    observe_moves,
    observe_record,
)
from coderouter_metrics.resources import DashboardResource, MetricsJSONResource, MetricsResource
from coderouter_metrics.shared import Aggregate, SharedDir, aggregate, encode, server_key
from coderouter_metrics.store import Store
from coderouter_metrics.summary import build_document

if TYPE_CHECKING:
    from coderouter.context import AppContext

__all__ = ["MetricsPlugin", "key_names"]


def key_names(config: HostConfig) -> frozenset[str]:
    """The names requests may carry in the ``key`` label: the configured keys'."""
    names = {key.name for key in config.server.keys}
    if config.server.api_keys_env:
        names.add(DEFAULT_KEY_NAME)
    return frozenset(names)


log = logging.getLogger("coderouter.metrics")

COMPACT_EVERY_S = 60.0
MAX_TRACKED_CHAINS = 4096
_json_copy = json.JSONEncoder(separators=(",", ":"), default=str).encode


class MetricsPlugin(Plugin):
    """Prometheus metrics, ``/metrics.json``, the ``/dashboard`` page and the event log file.

    ``clock`` (monotonic, for the snapshot timer) and ``wall`` (epoch seconds, for timestamps
    and the per-minute series) are attributes so tests can drive them.
    """

    Config = MetricsConfig

    def __init__(
        self,
        config: MetricsConfig | None = None,
        profile_configs: dict[str, MetricsConfig] | None = None,
    ) -> None:
        if profile_configs:
            raise ValueError(
                "metrics settings are server-wide; remove "
                f"[profiles.{next(iter(profile_configs))}.plugins.metrics]"
            )
        super().__init__(config or MetricsConfig(), profile_configs)
        self.config: MetricsConfig
        self.clock: Callable[[], float] = time.monotonic
        self.wall: Callable[[], float] = time.time
        self.pid = os.getpid()
        self.token = secrets.token_hex(4)
        self.started_at = self.wall()
        self.store = self.new_store()
        self.context: AppContext | None = None
        self.shared: SharedDir | None = None
        self.fleet: Fleet | None = None
        self.event_log: EventLog | None = None
        self.errors = 0
        self.snapshots_written = 0
        self._chains: OrderedDict[int, Chain] = OrderedDict()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._write_lock = threading.Lock()
        self._seq = 0
        self._written_seq = 0

    @property
    def own_name(self) -> str:
        return self.name or "metrics"

    def new_store(self) -> Store:
        return Store(
            {"latency": self.config.latency_buckets_s, "overhead": self.config.overhead_buckets_s},
            recent_events=self.config.recent_events,
            max_label_values=self.config.max_label_values,
            wall=lambda: self.wall(),
        )

    def provider_names(self) -> set[str]:
        return set(self.context.config.provider_names) if self.context is not None else set()

    def _failed(self, where: str) -> None:
        # Metrics must never break a request: count the problem and log it once.
        self.errors += 1
        if self.errors == 1:
            log.exception("metrics plugin: %s failed (further errors are only counted)", where)

    # --- lifecycle ---------------------------------------------------------------------------

    @hookimpl
    def register_routes(self, app: Any, context: AppContext) -> None:
        self.context = context
        page = package_files.files("coderouter_metrics").joinpath("dashboard.html").read_bytes()
        app.add_route("/metrics", MetricsResource(self))
        app.add_route("/metrics.json", MetricsJSONResource(self))
        app.add_route("/dashboard", DashboardResource(self, page))
        context.pages["dashboard"] = "/dashboard"

    @hookimpl
    def startup(self, app: AppContext) -> None:
        self.context = app
        self.pid = os.getpid()
        self.store.key_names = key_names(app.config)
        root = (
            Path(self.config.metrics_dir).expanduser()
            if self.config.metrics_dir
            else app.config.state_path / "metrics"
        )
        if app.store.shared:
            records = app.store.records("metrics", MemoryRecords(WorkerTotals))
            self.fleet = Fleet(records, app.store.writer)
        shared = SharedDir(root, server_key(), self.pid, self.token)
        try:
            shared.prepare()
            self.shared = shared
        except OSError as exc:
            log.warning(
                "metrics: cannot use %s (%s); this worker reports only its own counts",
                shared.path,
                exc,
            )
        if self.config.event_log_file:
            self.event_log = EventLog(
                self.config.event_log_file,
                max_bytes=self.config.event_log_max_bytes,
                backups=self.config.event_log_backups,
            )
            try:
                self.event_log.start()
            except OSError as exc:
                raise RuntimeError(
                    f"metrics: cannot write plugins.metrics.event_log_file "
                    f"{self.event_log.path}: {exc}"
                ) from exc
        app.log.listeners.append(self.on_record)
        if self.shared is not None:
            # A fresh event: an asyncio.Event belongs to the loop that first waits on it.
            self._dirty = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._flush_loop())

    @hookimpl
    def shutdown(self, app: AppContext) -> None:
        if self.on_record in app.log.listeners:
            app.log.listeners.remove(self.on_record)
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self.shared is not None:
            try:
                self._write_snapshot(encode(self.snapshot()), self._next_seq())
            except Exception:
                self._failed("writing the last snapshot")
        if self.event_log is not None:
            self.event_log.stop()
            self.event_log = None

    # --- sources -----------------------------------------------------------------------------

    def on_record(self, record: dict[str, Any]) -> None:
        """Listener on the request log: every record, request or event."""
        try:
            observe_record(
                self.store,
                record,
                cost_field=self.config.cost_field,
                savings_field=self.config.savings_field,
            )
            if self.event_log is not None:
                self.event_log.write(record)
        except Exception:
            self._failed("counting a log record")
        self._dirty.set()

    @hookimpl
    def filter_chain(self, request: RequestView, chain: Chain) -> None:
        # The chain is edited in place by every plugin; it is read at the first attempt, when
        # all of them have run, whatever this plugin's place in the enabled list.
        self._chains[id(request)] = chain
        if len(self._chains) > MAX_TRACKED_CHAINS:
            self._chains.popitem(last=False)

    @hookimpl
    def before_attempt(self, attempt: Attempt) -> None:
        chain = self._chains.pop(id(attempt.request), None)
        if chain is not None:
            try:
                observe_moves(self.store, chain)
            except Exception:
                self._failed("counting chain moves")

    @hookimpl
    def after_attempt(self, attempt: Attempt, result: Result) -> None:
        try:
            observe_attempt(self.store, attempt)
        except Exception:
            self._failed("counting an attempt")

    @hookimpl
    def on_failure(self, attempt: Attempt, error: UpstreamError) -> None:
        try:
            observe_failure(self.store, attempt, error)
        except Exception:
            self._failed("counting a failed attempt")

    @hookimpl
    def describe_state(self) -> dict[str, Any]:
        return {
            "worker": self.pid,
            "snapshot": str(self.shared.own_file) if self.shared is not None else None,
            "snapshots_written": self.snapshots_written,
            "events_kept": len(self.store.events),
            "event_log_file": str(self.event_log.path) if self.event_log is not None else None,
            "errors": self.errors,
            "fleet": self.fleet.records.scope if self.fleet is not None else None,
        }

    # --- snapshots and scrapes ---------------------------------------------------------------

    def _plugin_states(self) -> dict[str, Any]:
        if self.context is None:
            return {}
        try:
            states = plugin_states(self.context.pm)
        except Exception:
            self._failed("reading plugin states")
            return {}
        states.pop(self.own_name, None)
        # A deep, JSON-safe copy: plugins may hand out their live dicts.
        copied: dict[str, Any] = json.loads(_json_copy(states))
        return copied

    def snapshot(self) -> dict[str, Any]:
        data = self.store.to_snapshot()
        data.update(
            pid=self.pid,
            token=self.token,
            started_at=self.started_at,
            written_at=self.wall(),
            states=self._plugin_states(),
        )
        return data

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _write_snapshot(self, data: bytes, seq: int) -> None:
        """Write one snapshot unless a newer one is already on disk (a write still running in
        a thread at shutdown must not replace the last snapshot with an older one)."""
        with self._write_lock:
            if self.shared is None or seq <= self._written_seq:
                return
            self.shared.write(data)
            self._written_seq = seq
            self.snapshots_written += 1

    async def flush(self) -> None:
        if self.shared is None:
            return
        try:
            seq = self._next_seq()
            snapshot = self.snapshot()
            # The snapshot is a copy; encoding it and writing the file happen off the loop.
            await asyncio.to_thread(self._encode_and_write, snapshot, seq)
        except Exception:
            self._failed("writing the snapshot")

    def _encode_and_write(self, snapshot: dict[str, Any], seq: int) -> None:
        self._write_snapshot(encode(snapshot), seq)

    async def _flush_loop(self) -> None:
        # A change is written at once, then at most once per snapshot_interval_s; an idle
        # worker still rewrites every state_refresh_s so plugin states stay fresh.
        last_compact: float | None = None
        while True:
            self._dirty.clear()
            await self.flush()
            self._publish_fleet()
            if self.shared is not None and (
                last_compact is None or self.clock() - last_compact >= COMPACT_EVERY_S
            ):
                last_compact = self.clock()
                try:
                    await asyncio.to_thread(self.shared.compact, self.new_store)
                except Exception:
                    self._failed("folding snapshots of stopped workers")
            await asyncio.sleep(self.config.snapshot_interval_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.config.state_refresh_s)

    def _app_clock(self) -> float:
        # Records carry clock readings of the app's clock, which the store converts.
        return self.context.clock() if self.context is not None else self.clock()

    def _publish_fleet(self) -> None:
        if self.fleet is None:
            return
        try:
            self.fleet.publish(self.store, self._app_clock(), self.config.state_refresh_s)
        except Exception:
            self._failed("writing this worker's fleet totals")

    @property
    def stale_after_s(self) -> float:
        return max(30.0, 3 * self.config.state_refresh_s + self.config.snapshot_interval_s)

    async def collect(self) -> Aggregate:
        """Every worker's values summed (this worker's live, the others' from their files)."""
        seq = self._next_seq()
        own = self.snapshot()
        return await asyncio.to_thread(self._publish_and_aggregate, own, seq)

    def _publish_and_aggregate(self, own: dict[str, Any], seq: int) -> Aggregate:
        # The values a scrape reports for this worker are on disk before it reads the other
        # files, so a later scrape answered by another worker reads at least these values:
        # each worker's share, and so every counter, never goes backwards between scrapes.
        if self.shared is not None:
            try:
                self._write_snapshot(encode(own), seq)
            except Exception:
                self._failed("writing the snapshot before a scrape")
        return aggregate(
            own,
            self.shared,
            self.new_store,
            now=self.wall(),
            stale_after_s=self.stale_after_s,
        )

    async def document(self) -> dict[str, Any]:
        agg = await self.collect()
        if self.context is None:
            raise RuntimeError("the metrics plugin has no app context")
        document = build_document(
            agg,
            self.context.config,
            self.own_name,
            now=self.wall(),
            event_limit=self.config.recent_events,
        )
        if self.fleet is not None:
            document["fleet"] = self.fleet.document(
                self.store, self._app_clock(), self.stale_after_s
            )
        return document
