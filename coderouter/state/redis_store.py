"""State shared between workers and hosts through Redis (``[state] backend = "redis"``).

Hooks are synchronous and read only this worker's in-memory view, so Redis is never waited on
while a request is routed. Three background tasks keep the view and Redis in step:

* the writer sends changed records (``HSET`` into one hash per namespace, then ``PUBLISH``);
  changes wait in a map keyed by record, so a burst of saves to one provider is one write, and
  the map is bounded (past :attr:`RedisStore.max_pending` the oldest change is dropped);
* the listener is subscribed to the store's channel and lays each record another worker wrote
  over the view; after every (re)subscription it reads all hashes once, so what was written
  while it was away is caught up;
* both fall back to local state on any Redis error: the view keeps serving, the outage is
  logged once (``state_outage``, then ``state_restored``) and shown in ``GET /-/plugins``, and
  they retry every :attr:`RedisStore.retry_s`.

A record is whole: the last writer of a provider's record wins it.

Token buckets (:meth:`RedisStore.take_token`) wait on Redis, as budget reservations and claims
do: one Lua script per request of a rate-limited key, atomic across hosts. When Redis cannot
answer, the worker's own bucket answers instead (its limit then holds per worker, not per
fleet).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio
from redis.exceptions import RedisError

from coderouter.state.buckets import TAKE_SCRIPT, LocalBuckets
from coderouter.state.claims import RedisClaims
from coderouter.state.codec import dumps, encode
from coderouter.state.feed import Receiver, RedisFeed
from coderouter.state.records import MemoryRecords
from coderouter.state.redis_budgets import RedisBudgets
from coderouter.state.redis_records import RedisRecords
from coderouter.state.store import worker_id

if TYPE_CHECKING:
    from coderouter.config import StateConfig
    from coderouter.log import RequestLog

__all__ = ["RedisRecords", "RedisStore", "redacted"]

R = TypeVar("R")
Key = tuple[str, str]

_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


def redacted(url: str) -> str:
    """``url`` without its password, for logs and ``/-/plugins``: ``user:password@`` and a
    ``?password=`` parameter, which redis-py reads as the password too."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in pairs if k != "password"]
    if parts.password is None and len(query) == len(pairs):
        return url
    if parts.password is not None:
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        url = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    base = url.split("?", 1)[0]
    return f"{base}?{urlencode(query)}" if query else base


class RedisStore:
    """The Redis state store of one worker (see the module docstring)."""

    max_pending = 1024
    errors: tuple[type[BaseException], ...] = _ERRORS
    shared = True
    retry_s = 1.0
    timeout_s = 1.0
    first_sync_s = 1.0

    def __init__(
        self,
        config: StateConfig,
        *,
        clock: Callable[[], float],
        log: RequestLog,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.url = config.url
        self.prefix = config.prefix
        self.clock = clock
        self.wall = wall
        self.log = log
        self.writer = worker_id()
        self.where = f"{redacted(config.url)}, prefix {config.prefix!r}"
        self.channel = f"{config.prefix}records"
        self.outage: dict[str, Any] | None = None
        self.dropped = 0
        self._namespaces: dict[str, RedisRecords[Any]] = {}
        self._pending: dict[Key, str | None] = {}
        self._wake = asyncio.Event()
        self._synced = asyncio.Event()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self.client: redis.asyncio.Redis | None = None
        self._feeds: dict[str, RedisFeed] = {}
        self.background: set[asyncio.Task[None]] = set()
        self.budgets = RedisBudgets(
            config.prefix,
            client=lambda: self.client,
            timeout_s=self.timeout_s,
            retry_s=self.retry_s,
            on_error=self.down,
            on_ok=self._up,
        )
        self._take: Any = None
        self.local_buckets = LocalBuckets(wall)

    # --- the interface -------------------------------------------------------------------------

    def records(self, namespace: str, local: MemoryRecords[R]) -> RedisRecords[R]:
        found = RedisRecords(self, namespace, local)
        self._namespaces[namespace] = found
        return found

    def claims(self, namespace: str) -> RedisClaims:
        return RedisClaims(self, namespace)

    def feed(self, namespace: str, receive: Receiver) -> RedisFeed:
        found = self._feeds[namespace] = RedisFeed(self, namespace, receive)
        return found

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` (a coroutine) in the background, kept until it ends."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "redis",
            "url": redacted(self.url),
            "prefix": self.prefix,
            "writer": self.writer,
            "connected": self.outage is None and bool(self._tasks),
            "outage": self.outage,
            "pending_writes": len(self._pending),
            "dropped_writes": self.dropped,
            "budgets": self.budgets.describe(),
            "feeds": {name: feed.describe() for name, feed in self._feeds.items()},
        }

    async def start(self) -> None:
        if self._tasks:
            return
        self.client = redis.asyncio.from_url(
            self.url,
            socket_timeout=self.timeout_s,
            socket_connect_timeout=self.timeout_s,
            decode_responses=True,
        )
        self._take = self.client.register_script(TAKE_SCRIPT)
        # Fresh events: a server may run the lifespan again, on another event loop.
        self._wake = asyncio.Event()
        self._synced = asyncio.Event()
        self._closing = False
        if self._pending:
            self._wake.set()
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="coderouter-state-writer"),
            asyncio.create_task(self._listen_loop(), name="coderouter-state-listener"),
        ]
        self.budgets.retry_s = self.retry_s
        self.budgets.start()
        # A host that starts beside running ones takes their state before its first request;
        # an unreachable Redis costs at most this wait.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._synced.wait(), self.first_sync_s)

    async def stop(self) -> None:
        if not self._tasks:
            return
        await self.budgets.stop()
        # The writer sends what waits and ends by itself, and so do claim round trips (a
        # release that reaches Redis frees the claim for the others at once): a redis call
        # cancelled midway can leave the event loop waiting forever, so only what is still
        # running after the timeout is cancelled.
        self._closing = True
        self._wake.set()
        await asyncio.wait([self._tasks[0], *self.background], timeout=self.timeout_s)
        tasks = [*self._tasks, *self.background]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.client is not None:
            with contextlib.suppress(*_ERRORS):
                await self.client.aclose()
            self.client = None
            self._take = None

    # --- token buckets -------------------------------------------------------------------------

    async def take_token(self, bucket: str, rate_per_s: float, size: int) -> float:
        if self._take is None or self.outage is not None:
            return self.local_buckets.take(bucket, rate_per_s, size)
        try:
            wait = await self._take(
                keys=[f"{self.prefix}bucket:{bucket}"], args=[rate_per_s, size, self.wall()]
            )
        except _ERRORS as exc:
            self.down(exc)
            return self.local_buckets.take(bucket, rate_per_s, size)
        return float(wait)

    # --- clock readings between hosts ----------------------------------------------------------

    def to_wall(self, reading: float) -> float:
        return reading - self.clock() + self.wall()

    def to_local(self, wall_time: float) -> float:
        return wall_time - self.wall() + self.clock()

    # --- writing -------------------------------------------------------------------------------

    def changed(self, namespace: str, provider: str, record: Any) -> None:
        """Queue ``record`` to be written through, or its removal when it is ``None``
        (called from hooks: never waits)."""
        key = (namespace, provider)
        self._pending.pop(key, None)
        value = None if record is None else encode(record, self.to_wall)
        self._pending[key] = None if value is None else dumps({"w": self.writer, "r": value})
        while len(self._pending) > self.max_pending:
            del self._pending[next(iter(self._pending))]
            self.dropped += 1
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def _hash(self, namespace: str) -> str:
        return f"{self.prefix}records:{namespace}"

    async def _flush(self) -> None:
        assert self.client is not None
        batch, self._pending = self._pending, {}
        items = {name: feed.take() for name, feed in self._feeds.items() if feed.pending}
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for (namespace, provider), value in batch.items():
                    if value is None:
                        pipe.hdel(self._hash(namespace), provider)
                    else:
                        pipe.hset(self._hash(namespace), provider, value)
                    message = {"n": namespace, "p": provider, "v": value}
                    pipe.publish(self.channel, dumps(message))
                for name, taken in items.items():
                    pipe.publish(self.channel, dumps({"f": name, "w": self.writer, "i": taken}))
                await pipe.execute()
        except BaseException:
            # Changes saved meanwhile are newer than the batch's and stay.
            for key, value in batch.items():
                self._pending.setdefault(key, value)
            for name, taken in items.items():
                self._feeds[name].give_back(taken)
            raise

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except _ERRORS as exc:
                self.down(exc)
                if self._closing:
                    return
                await asyncio.sleep(self.retry_s)
                self._wake.set()
            else:
                self._up()
                if self._closing and not self._wake.is_set():
                    return

    # --- reading -------------------------------------------------------------------------------

    async def _listen_loop(self) -> None:
        assert self.client is not None
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                await self._load_all()
                self._up()
                self._synced.set()
                while True:
                    message = await pubsub.get_message(timeout=self.retry_s)
                    if message is not None:
                        self._on_message(message.get("data"))
            except _ERRORS as exc:
                self.down(exc)
                self._synced.set()
                await asyncio.sleep(self.retry_s)
            finally:
                with contextlib.suppress(*_ERRORS):
                    await pubsub.aclose()

    async def _load_all(self) -> None:
        assert self.client is not None
        for namespace, records in list(self._namespaces.items()):
            stored = await self.client.hgetall(self._hash(namespace))
            for provider, value in stored.items():
                self._apply(records, str(provider), str(value))

    def _on_message(self, data: Any) -> None:
        try:
            message = json.loads(data)
            if "f" in message:
                feed = self._feeds.get(message["f"])
                if feed is not None and message.get("w") != self.writer:
                    feed.deliver(message.get("i"))
                return
            records = self._namespaces.get(message["n"])
            if records is not None:
                self._apply(records, str(message["p"]), message["v"])
        except (TypeError, ValueError, KeyError):
            return

    def _apply(self, records: RedisRecords[Any], provider: str, value: str | None) -> None:
        if value is None:
            if (records.namespace, provider) not in self._pending:
                records.apply(provider, None)
            return
        try:
            stored = json.loads(value)
        except (TypeError, ValueError):
            return
        if not isinstance(stored, dict) or stored.get("w") == self.writer:
            return
        if (records.namespace, provider) in self._pending:
            return  # this worker's newer change is on its way
        records.apply(provider, stored.get("r"))

    # --- outages -------------------------------------------------------------------------------

    def down(self, exc: BaseException) -> None:
        if self.outage is not None:
            return
        error = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        self.outage = {"since": round(self.wall(), 3), "error": error[:300]}
        self.log.emit(
            {
                "event": "state_outage",
                "backend": "redis",
                "url": redacted(self.url),
                "error": self.outage["error"],
                "fallback": "local state in each worker",
            }
        )

    def _up(self) -> None:
        if self.outage is None:
            return
        since = self.outage["since"]
        self.outage = None
        self.budgets.note_restored()
        self.log.emit(
            {
                "event": "state_restored",
                "backend": "redis",
                "url": redacted(self.url),
                "down_s": round(self.wall() - since, 1),
            }
        )
