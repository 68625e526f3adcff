"""Budget reservations in Redis for one worker (:class:`RedisBudgets`, the state store's
``budgets`` with ``[state] backend = "redis"``; the scripts are in
:mod:`coderouter.state.budget_scripts`).

One background task, the sender, does all the talking to Redis. Reserves wait for it (bounded
by :attr:`RedisBudgets.timeout_s`); settles go to a queue and never wait. Each round the sender
puts every reserve that arrived meanwhile and up to :attr:`RedisBudgets.batch` queued settles
into one pipeline of ``EVALSHA`` calls, so under concurrent load one round trip (a write and a
read system call, and redis-py's command handling: tens of microseconds of CPU) serves many
requests. A settle rides with the next reserve, or goes on its own after
:attr:`RedisBudgets.settle_delay_s`: until it is sent its hold still counts, which errs on the
side of the budget. The scripts are loaded once (``SCRIPT LOAD``) and again when
Redis answers ``NOSCRIPT`` (it restarted).

While Redis is unreachable settles stay queued and are retried every
:attr:`RedisBudgets.retry_s`; the queue is bounded by refusing new reservations while
:attr:`RedisBudgets.max_backlog` settles wait. :meth:`RedisBudgets.stop` waits up to
:attr:`RedisBudgets.stop_wait_s` for the queue to empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from redis.exceptions import NoScriptError, RedisError, ResponseError

from coderouter.state.budget_scripts import RESERVE, SEED, SETTLE
from coderouter.state.budgets import Backlog, BudgetOutage, Hold, Limit, Refusal

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["RedisBudgets"]

ERRORS = (RedisError, OSError, asyncio.TimeoutError)
SCRIPTS = {"reserve": RESERVE, "settle": SETTLE, "seed": SEED}
SHA = {name: hashlib.sha1(text.encode()).hexdigest() for name, text in SCRIPTS.items()}

Command = tuple[str, list[str], list[Any]]


@attrs.define
class _Settle:
    hold: Hold
    cost: float
    now: float


@attrs.define
class _Call:
    command: Command
    future: asyncio.Future[Any]
    # What a reserve holds once Redis answers: released when its caller no longer waits.
    hold: Hold | None = None
    now: float = 0.0


class RedisBudgets:
    """Budget reservations in Redis for one worker (see the module docstring)."""

    max_backlog = 10_000
    batch = 256
    marker_ttl_s = 3600
    keep_s = 62 * 86400  # every budget key outlives its month
    stop_wait_s = 5.0
    settle_delay_s = 0.02

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
        self.rounds = 0
        self.commands = 0
        self.known: dict[tuple[str, str], float] = {}
        self.local_held: dict[tuple[str, str], float] = {}
        self._calls: list[_Call] = []
        self._settle_after = 0.0
        self._settles_due = False
        self._settle_timer: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._restored = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._keys: dict[tuple[str, str], list[str]] = {}
        self._id_base = uuid.uuid4().hex[:16] + "-"
        self._ids = itertools.count(1)

    def keys(self, period: str, key: str) -> list[str]:
        found = self._keys.get((period, key))
        if found is None:
            if len(self._keys) >= 4096:
                self._keys.clear()
            base = f"{self.prefix}{{budget}}:{period}:{key}:"
            found = self._keys[(period, key)] = [base + "spent", base + "held", base + "holds"]
        return found

    def _new_id(self) -> str:
        """Unique across workers and hosts: a random worker part and a counter."""
        return f"{self._id_base}{next(self._ids):x}"

    # --- reserving -------------------------------------------------------------------------

    async def reserve(
        self, limits: Sequence[Limit], amount: float, *, period: str, now: float, ttl_s: float
    ) -> Hold | Refusal:
        """Hold ``amount`` against every one of ``limits``, or the first without room.
        Raises :class:`BudgetOutage` when Redis does not answer within ``timeout_s``."""
        if len(self.backlog) >= self.max_backlog:
            raise Backlog(f"{len(self.backlog)} settles wait for Redis")
        hold = Hold(self._new_id(), period, tuple(limits), amount, now + ttl_s)
        keys = [k for limit in limits for k in self.keys(period, limit.key)]
        args: list[Any] = [repr(now), repr(hold.expires_at), repr(amount)]
        args += [f"{hold.id}|{amount!r}", self.keep_s]
        args += ["" if limit.usd is None else repr(limit.usd) for limit in limits]
        answer = await self._call(("reserve", keys, args), hold=hold, now=now)
        refusal = self._note_reserved(hold, answer)
        return hold if refusal is None else refusal

    def _note_reserved(self, hold: Hold, answer: Any) -> Refusal | None:
        """Remember the spend Redis reported; the :class:`Refusal` when it refused."""
        refused = int(answer[0])
        if refused:
            limit = hold.limits[refused - 1]
            spent, held = float(answer[1]), float(answer[2])
            self.known[(hold.period, limit.key)] = spent + held
            return Refusal(limit, spent, held)
        for n, limit in enumerate(hold.limits):
            spent, held = float(answer[2 * n + 1]), float(answer[2 * n + 2])
            self.known[(hold.period, limit.key)] = spent + held
        return None

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
        return Hold(self._new_id(), period, tuple(limits), amount, now + ttl_s, local=True)

    # --- settling --------------------------------------------------------------------------

    def settle(self, hold: Hold, cost: float, *, now: float) -> None:
        """Count ``cost`` and free ``hold``, in the background (never waits, never drops: the
        queue is bounded by refusing new holds while it is full)."""
        if hold.local:
            for limit in hold.limits:
                key = (hold.period, limit.key)
                self.local_held[key] = max(0.0, self.local_held.get(key, 0.0) - hold.amount)
        self.backlog.append(_Settle(hold, cost, now))
        if self._settle_timer is None and not self._settles_due:
            loop = asyncio.get_running_loop()
            self._settle_timer = loop.call_later(self.settle_delay_s, self._due)

    def _due(self) -> None:
        self._settle_timer = None
        self._settles_due = True
        self._wake.set()

    def _settle_command(self, item: _Settle) -> Command:
        hold = item.hold
        keys = [f"{self.prefix}{{budget}}:settled:{hold.id}"]
        keys += [k for limit in hold.limits for k in self.keys(hold.period, limit.key)]
        args: list[Any] = [repr(item.now), f"{hold.id}|{hold.amount!r}"]
        args += [0.0 if hold.local else repr(hold.amount), repr(item.cost)]
        args += [self.keep_s, self.marker_ttl_s]
        return ("settle", keys, args)

    def _settled(self, count: int) -> None:
        for _ in range(count):
            item = self.backlog.popleft()
            self.settled += 1
            if item.hold.local:
                self.replayed += 1
            change = item.cost - (0.0 if item.hold.local else item.hold.amount)
            for limit in item.hold.limits:
                key = (item.hold.period, limit.key)
                self.known[key] = self.known.get(key, 0.0) + change

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
        await self._call(("seed", keys, [self.keep_s, *(repr(v) for v in floors.values())]))

    # --- the sender ------------------------------------------------------------------------

    async def _call(self, command: Command, *, hold: Hold | None = None, now: float = 0.0) -> Any:
        """One script call, sent by the sender with whatever else waits. A caller that stops
        waiting (timed out, cancelled) leaves a done future: the sender then skips the call,
        or releases ``hold`` when Redis granted it after all."""
        if self._task is None:
            raise BudgetOutage("the state store is not started")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls.append(_Call(command, future, hold, now))
        self._wake.set()
        try:
            async with asyncio.timeout(self.timeout_s):
                return await future
        except TimeoutError:
            raise BudgetOutage(f"no answer from Redis in {self.timeout_s:g} s") from None

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0)  # the reserves of the same loop iteration join this round
            while self._calls or (self.backlog and self._settles_due):
                await self._send_round(loop)

    async def _send_round(self, loop: asyncio.AbstractEventLoop) -> None:
        calls, self._calls = [call for call in self._calls if not call.future.done()], []
        settling = loop.time() >= self._settle_after
        settles = list(itertools.islice(self.backlog, self.batch)) if settling else []
        if settles and self._settle_timer is not None:
            self._settle_timer.cancel()
            self._settle_timer = None
        self._settles_due = False
        if not calls and not settles:
            return
        commands = [call.command for call in calls]
        commands += [self._settle_command(item) for item in settles]
        self.rounds += 1
        self.commands += len(commands)
        try:
            results = await self._execute(commands)
        except (*ERRORS, BudgetOutage) as exc:
            self.on_error(exc)
            problem = BudgetOutage(f"{type(exc).__name__}: {exc}".strip().rstrip(":"))
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(problem)
            if settles:
                self._settle_after = loop.time() + self.retry_s
                if self._settle_timer is None:
                    self._settle_timer = loop.call_later(self.retry_s, self._due)
            return
        self.on_ok()
        self._answer(calls, results)
        # A settle the script rejects is dropped, not retried for ever: it is reported.
        for result in results[len(calls) :]:
            if isinstance(result, Exception):
                self.on_error(result)
        self._settled(len(settles))
        if self.backlog and not self._settles_due and self._settle_timer is None:
            self._settles_due = len(self.backlog) >= self.batch
            if not self._settles_due:
                self._settle_timer = loop.call_later(self.settle_delay_s, self._due)

    def _answer(self, calls: list[_Call], results: list[Any]) -> None:
        for call, result in zip(calls, results, strict=False):
            if not call.future.done():
                if isinstance(result, Exception):
                    call.future.set_exception(BudgetOutage(f"{type(result).__name__}: {result}"))
                else:
                    call.future.set_result(result)
            elif (
                call.hold is not None
                and not isinstance(result, Exception)
                and self._note_reserved(call.hold, result) is None
            ):
                # Granted after its caller gave up: nobody settles it, so it is settled here
                # at no cost instead of holding its amount until it expires.
                self.backlog.append(_Settle(call.hold, 0.0, call.now))

    async def _execute(self, commands: list[Command]) -> list[Any]:
        client = self.client()
        if client is None:
            raise BudgetOutage("the state store is not started")
        async with asyncio.timeout(self.timeout_s):
            results = await self._pipeline(client, commands)
            missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if missing:  # Redis restarted: load the scripts, send what they missed
                for text in SCRIPTS.values():
                    await client.script_load(text)
                again = await self._pipeline(client, [commands[i] for i in missing])
                for index, result in zip(missing, again, strict=True):
                    results[index] = result
        return results

    @staticmethod
    async def _pipeline(client: redis.asyncio.Redis, commands: list[Command]) -> list[Any]:
        if len(commands) == 1:  # a lone call skips the pipeline's own machinery
            name, keys, args = commands[0]
            try:
                return [await client.evalsha(SHA[name], len(keys), *keys, *args)]
            except ResponseError as exc:  # as a pipeline answers it: NOSCRIPT, a script error
                return [exc]
        async with client.pipeline(transaction=False) as pipe:
            for name, keys, args in commands:
                pipe.evalsha(SHA[name], len(keys), *keys, *args)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results

    # --- life ------------------------------------------------------------------------------

    def note_restored(self) -> None:
        """Called by the store when Redis answers again after an outage."""
        self._restored.set()

    async def restored(self) -> None:
        await self._restored.wait()
        self._restored = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            # Here, in the running worker: a worker forked from a parent that built this
            # object must not share its ids.
            self._id_base = f"{uuid.uuid4().hex[:16]}-"
            self._wake = asyncio.Event()
            self._restored = asyncio.Event()
            self._settle_timer = None
            self._settles_due = bool(self.backlog)
            if self.backlog:
                self._wake.set()
            self._task = asyncio.create_task(self._send_loop(), name="coderouter-budget-sender")

    async def stop(self) -> None:
        """Wait up to :attr:`stop_wait_s` for the settles still queued, then stop."""
        if self._task is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_wait_s
        self._settle_after = 0.0
        self._due()
        while self.backlog and loop.time() < deadline:
            await asyncio.sleep(0.01)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._settle_timer is not None:
            self._settle_timer.cancel()
            self._settle_timer = None

    def describe(self) -> dict[str, Any]:
        return {
            "settles_waiting": len(self.backlog),
            "settled": self.settled,
            "replayed_local": self.replayed,
            "round_trips": self.rounds,
            "script_calls": self.commands,
            "last_seen_usd": {
                f"{period} {key}": round(value, 6) for (period, key), value in self.known.items()
            },
        }
