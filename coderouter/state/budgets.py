"""Budget reservations shared by every host (``app.store.budgets`` with ``[state] backend =
"redis"``; the embedded store has none and budgets stay with each plugin's own ledger).

Before an attempt a plugin reserves its worst-case cost against every budget that applies
(:meth:`RedisBudgets.reserve`, one atomic script that checks spend + live holds against each
limit); after it, it settles the real cost (:meth:`RedisBudgets.settle`, one script that adds
the spend and removes the hold). The reserve is awaited; the settle never waits: it goes to a
bounded queue that a background task sends, retrying while Redis is unreachable and replaying
it when Redis is back, and :meth:`RedisBudgets.stop` waits (bounded) for the queue to empty.

While Redis is unreachable :meth:`RedisBudgets.reserve_locally` checks the last spend Redis
reported plus this worker's own unsent settles, for ``[state] on_outage = "open"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs
from redis.exceptions import RedisError

from coderouter.state.budget_scripts import RESERVE, SEED, SETTLE

if TYPE_CHECKING:
    import redis.asyncio

__all__ = [
    "Backlog",
    "BudgetBook",
    "BudgetOutage",
    "Hold",
    "Limit",
    "RedisBudgets",
    "Refusal",
]

ERRORS = (RedisError, OSError, asyncio.TimeoutError)


@attrs.frozen
class Limit:
    """One budget an attempt counts against: ``key`` names it (``provider:<name>``,
    ``profile:<name>``, ``total``, ...), ``usd`` is its limit (``None``: counted only)."""

    key: str
    usd: float | None


@attrs.frozen
class Hold:
    """A reservation: ``amount`` held against ``limits`` in ``period`` until settled or
    ``expires_at`` (wall time). ``local`` holds were admitted while Redis was unreachable."""

    id: str
    period: str
    limits: tuple[Limit, ...]
    amount: float
    expires_at: float
    local: bool = False


@attrs.frozen
class Refusal:
    """The budget without room for the amount asked: its limit, spend and live holds."""

    limit: Limit
    spent: float
    held: float


class BudgetOutage(Exception):
    """The store cannot answer (Redis unreachable or too slow)."""


class Backlog(BudgetOutage):
    """Too many settles wait to be sent: no new reservation until they are."""


class BudgetBook(Protocol):
    """Budgets every host counts against (see the module docstring)."""

    async def reserve(
        self, limits: Sequence[Limit], amount: float, *, period: str, now: float, ttl_s: float
    ) -> Hold | Refusal: ...

    def reserve_locally(
        self, limits: Sequence[Limit], amount: float, *, period: str, now: float, ttl_s: float
    ) -> Hold | Refusal: ...

    def settle(self, hold: Hold, cost: float, *, now: float) -> None: ...

    async def seed(self, period: str, spent: dict[str, float]) -> None: ...

    async def restored(self) -> None:
        """Returns when the store is reachable again after an outage."""
        ...

    def describe(self) -> dict[str, Any]: ...


@attrs.define
class _Settle:
    hold: Hold
    cost: float
    now: float


class RedisBudgets:
    """Budget reservations in Redis for one worker."""

    max_backlog = 10_000
    marker_ttl_s = 3600
    keep_s = 62 * 86400  # every budget key outlives its month
    stop_wait_s = 5.0

    def __init__(
        self,
        prefix: str,
        *,
        client: Callable[[], redis.asyncio.Redis | None],
        timeout_s: float,
        retry_s: float,
        on_error: Callable[[BaseException], None],
        on_ok: Callable[[], None],
    ) -> None:
        self.prefix = prefix
        self.client = client
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self.on_error = on_error
        self.on_ok = on_ok
        self.backlog: deque[_Settle] = deque()
        self.settled = 0
        self.replayed = 0
        self.known: dict[tuple[str, str], float] = {}
        self.local_held: dict[tuple[str, str], float] = {}
        self._wake = asyncio.Event()
        self._restored = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._scripts: dict[str, Any] = {}

    # --- keys and scripts ------------------------------------------------------------------

    def keys(self, period: str, key: str) -> list[str]:
        base = f"{self.prefix}{{budget}}:{period}:{key}:"
        return [base + "spent", base + "held", base + "holds"]

    def _script(self, name: str, text: str) -> Any:
        client = self.client()
        if client is None:
            raise BudgetOutage("the state store is not started")
        found = self._scripts.get(name)
        if found is None or found.registered_client is not client:
            found = self._scripts[name] = client.register_script(text)
        return found

    # --- reserving -------------------------------------------------------------------------

    async def reserve(
        self, limits: Sequence[Limit], amount: float, *, period: str, now: float, ttl_s: float
    ) -> Hold | Refusal:
        """Hold ``amount`` against every one of ``limits``, or the first without room.
        Raises :class:`BudgetOutage` when Redis does not answer within ``timeout_s``."""
        if len(self.backlog) >= self.max_backlog:
            raise Backlog(f"{len(self.backlog)} settles wait for Redis")
        hold = Hold(uuid.uuid4().hex, period, tuple(limits), amount, now + ttl_s)
        keys = [k for limit in limits for k in self.keys(period, limit.key)]
        args: list[Any] = [repr(now), repr(hold.expires_at), repr(amount)]
        args += [f"{hold.id}|{amount!r}", self.keep_s]
        args += ["" if limit.usd is None else repr(limit.usd) for limit in limits]
        try:
            script = self._script("reserve", RESERVE)
            answer = await asyncio.wait_for(script(keys=keys, args=args), self.timeout_s)
        except ERRORS as exc:
            self.on_error(exc)
            raise BudgetOutage(f"{type(exc).__name__}: {exc}") from exc
        self.on_ok()
        refused = int(answer[0])
        if refused:
            limit = limits[refused - 1]
            spent, held = float(answer[1]), float(answer[2])
            self.known[(period, limit.key)] = spent + held
            return Refusal(limit, spent, held)
        for n, limit in enumerate(limits):
            self.known[(period, limit.key)] = float(answer[2 * n + 1]) + float(answer[2 * n + 2])
        return hold

    def reserve_locally(
        self, limits: Sequence[Limit], amount: float, *, period: str, now: float, ttl_s: float
    ) -> Hold | Refusal:
        """While Redis is unreachable: hold against the last spend Redis reported plus this
        worker's settles still to send (``[state] on_outage = "open"``)."""
        if len(self.backlog) >= self.max_backlog:
            raise Backlog(f"{len(self.backlog)} settles wait for Redis")
        # What Redis last said (spend and holds), corrected by this worker's settles still
        # to send (each replaces its hold by its cost) and its local holds in flight.
        waiting: dict[str, float] = {}
        for item in self.backlog:
            if item.hold.period == period:
                change = item.cost - (0.0 if item.hold.local else item.hold.amount)
                for limit in item.hold.limits:
                    waiting[limit.key] = waiting.get(limit.key, 0.0) + change
        for limit in limits:
            if limit.usd is None:
                continue
            key = (period, limit.key)
            spent = self.known.get(key, 0.0) + waiting.get(limit.key, 0.0)
            held = self.local_held.get(key, 0.0)
            if spent + held + amount > limit.usd:
                return Refusal(limit, spent, held)
        for limit in limits:
            key = (period, limit.key)
            self.local_held[key] = self.local_held.get(key, 0.0) + amount
        return Hold(uuid.uuid4().hex, period, tuple(limits), amount, now + ttl_s, local=True)

    # --- settling --------------------------------------------------------------------------

    def settle(self, hold: Hold, cost: float, *, now: float) -> None:
        """Count ``cost`` and free ``hold``, in the background (never waits, never drops: the
        queue is bounded by refusing new holds while it is full)."""
        if hold.local:
            for limit in hold.limits:
                key = (hold.period, limit.key)
                self.local_held[key] = max(0.0, self.local_held.get(key, 0.0) - hold.amount)
        self.backlog.append(_Settle(hold, cost, now))
        self._wake.set()

    async def _send(self, item: _Settle) -> None:
        hold = item.hold
        keys = [f"{self.prefix}{{budget}}:settled:{hold.id}"]
        keys += [k for limit in hold.limits for k in self.keys(hold.period, limit.key)]
        args: list[Any] = [repr(item.now), f"{hold.id}|{hold.amount!r}"]
        args += [0.0 if hold.local else repr(hold.amount), repr(item.cost)]
        args += [self.keep_s, self.marker_ttl_s]
        script = self._script("settle", SETTLE)
        await asyncio.wait_for(script(keys=keys, args=args), self.timeout_s)

    async def _settle_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            failed = False
            while self.backlog:
                item = self.backlog[0]
                try:
                    await self._send(item)
                except (*ERRORS, BudgetOutage) as exc:
                    self.on_error(exc)
                    failed = True
                    break
                self.backlog.popleft()
                self.settled += 1
                if item.hold.local:
                    self.replayed += 1
                change = item.cost - (0.0 if item.hold.local else item.hold.amount)
                for limit in item.hold.limits:
                    key = (item.hold.period, limit.key)
                    self.known[key] = self.known.get(key, 0.0) + change
            if failed:
                await asyncio.sleep(self.retry_s)
                self._wake.set()
            else:
                self.on_ok()

    # --- seeding ---------------------------------------------------------------------------

    async def seed(self, period: str, spent: dict[str, float]) -> None:
        """Raise each budget's spend in ``period`` to at least ``spent[key]`` (a ledger's
        month total) less this worker's settles still to send, which the ledger already
        holds and Redis gets when they are sent."""
        if not spent:
            return
        floors = dict(spent)
        for item in self.backlog:
            if item.hold.period == period:
                for limit in item.hold.limits:
                    if limit.key in floors:
                        floors[limit.key] -= item.cost
        keys = [self.keys(period, key)[0] for key in floors]
        args: list[Any] = [self.keep_s, *(repr(v) for v in floors.values())]
        try:
            script = self._script("seed", SEED)
            await asyncio.wait_for(script(keys=keys, args=args), self.timeout_s)
        except ERRORS as exc:
            self.on_error(exc)
            raise BudgetOutage(f"{type(exc).__name__}: {exc}") from exc

    def note_restored(self) -> None:
        """Called by the store when Redis answers again after an outage."""
        self._restored.set()

    async def restored(self) -> None:
        await self._restored.wait()
        self._restored = asyncio.Event()

    # --- life ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._restored = asyncio.Event()
            if self.backlog:
                self._wake.set()
            self._task = asyncio.create_task(self._settle_loop(), name="coderouter-budget-settle")

    async def stop(self) -> None:
        """Wait up to :attr:`stop_wait_s` for the settles still queued, then stop."""
        if self._task is None:
            return
        deadline = asyncio.get_running_loop().time() + self.stop_wait_s
        while self.backlog and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def describe(self) -> dict[str, Any]:
        return {
            "settles_waiting": len(self.backlog),
            "settled": self.settled,
            "replayed_local": self.replayed,
            "last_seen_usd": {
                f"{period} {key}": round(value, 6) for (period, key), value in self.known.items()
            },
        }
