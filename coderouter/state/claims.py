"""Claims: a lease on a name that one worker holds at a time (one half-open trial per provider
across every host, for instance).

In memory a claim is decided at once (:meth:`Claims.take_now`). Through Redis it takes one
round trip (:meth:`Claims.take`: a Lua script doing ``SET key worker NX PX ttl``), so a caller
awaits it, and only at the moment it needs the claim; every other read (:meth:`Claims.held`,
:meth:`Claims.theirs`) answers from what the last reply said and never waits. The TTL frees the
claim of a worker that dies holding it. While Redis is unreachable a claim is decided locally,
as in memory: each host then decides alone, as it does with its other state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from coderouter.state.link import RedisLink

__all__ = ["Claims", "MemoryClaims", "RedisClaims"]
_CLAIM = """
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] or not held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return -1
end
return redis.call('PTTL', KEYS[1])
"""
"""Take the claim when it is free or already ours; else the milliseconds the holder keeps it."""

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Claims(Protocol):
    """Leases on names, one holder at a time (see the module docstring)."""

    @property
    def scope(self) -> str: ...

    @property
    def waits(self) -> bool:
        """Taking a claim needs a round trip now: await :meth:`take` instead of
        :meth:`take_now`."""
        ...

    def take_now(self, name: str, ttl_s: float) -> bool:
        """Take ``name`` for ``ttl_s`` seconds when it is free, deciding here; whether this
        worker holds it."""
        ...

    async def take(self, name: str, ttl_s: float) -> bool:
        """Take ``name`` for ``ttl_s`` seconds when no other worker holds it; whether this
        worker holds it. One bounded round trip through a shared store."""
        ...

    def held(self, name: str, margin_s: float = 0.0) -> bool:
        """This worker holds ``name`` for at least ``margin_s`` more seconds."""
        ...

    def theirs(self, name: str) -> bool:
        """Another worker held ``name`` at the last answer, and still does by its TTL."""
        ...

    def extend(self, name: str, ttl_s: float) -> None:
        """Hold ``name`` for ``ttl_s`` seconds from now, if this worker holds it."""
        ...

    def release(self, name: str) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class MemoryClaims:
    """Claims in this worker's memory: a free name is granted at once."""

    scope = "per worker process, in memory"
    waits = False

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._until: dict[str, float] = {}

    def take_now(self, name: str, ttl_s: float) -> bool:
        if not self.held(name):
            self._until[name] = self.clock() + ttl_s
        return True

    async def take(self, name: str, ttl_s: float) -> bool:
        return self.take_now(name, ttl_s)

    def held(self, name: str, margin_s: float = 0.0) -> bool:
        until = self._until.get(name)
        return until is not None and until - self.clock() > margin_s

    def theirs(self, name: str) -> bool:
        return False

    def extend(self, name: str, ttl_s: float) -> None:
        if self.held(name):
            self._until[name] = self.clock() + ttl_s

    def release(self, name: str) -> None:
        self._until.pop(name, None)

    def describe(self) -> dict[str, Any]:
        now = self.clock()
        return {n: {"held_s": round(u - now, 1)} for n, u in self._until.items() if u > now}


class RedisClaims:
    """Claims of one namespace through Redis, with replies kept for the synchronous reads."""

    def __init__(self, store: RedisLink, namespace: str) -> None:
        self.store = store
        self.namespace = namespace
        self.local = MemoryClaims(store.clock)
        self._theirs: dict[str, float] = {}

    @property
    def scope(self) -> str:
        if self.store.outage is not None:
            return "per worker process, in memory (Redis unreachable; shared again when it is back)"
        return f"one holder across hosts through Redis ({self.store.where})"

    @property
    def waits(self) -> bool:
        return self.store.client is not None and self.store.outage is None

    def _key(self, name: str) -> str:
        return f"{self.store.prefix}claim:{self.namespace}:{name}"

    def _spawn(self, name: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if not self.waits:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self.store.spawn(work(), f"coderouter-claim-{self.namespace}-{name}")

    def take_now(self, name: str, ttl_s: float) -> bool:
        return self.local.take_now(name, ttl_s)

    async def take(self, name: str, ttl_s: float) -> bool:
        if self.local.held(name):
            return True
        if self.theirs(name):
            return False
        client = self.store.client
        if client is None or self.store.outage is not None:
            return self.local.take_now(name, ttl_s)  # no Redis to ask: decided here
        asked_at = self.store.clock()
        try:
            left_ms = await client.eval(  # type: ignore[misc]
                _CLAIM, 1, self._key(name), self.store.writer, max(1, round(ttl_s * 1000))
            )
        except self.store.errors as exc:
            self.store.down(exc)
            return self.local.take_now(name, ttl_s)
        if int(left_ms) < 0:
            # The lease counts from before the request: this worker never overestimates it.
            self._theirs.pop(name, None)
            self.local._until[name] = asked_at + ttl_s
            return True
        self._theirs[name] = self.store.clock() + int(left_ms) / 1000
        return False

    def theirs(self, name: str) -> bool:
        return self._theirs.get(name, float("-inf")) > self.store.clock()

    def held(self, name: str, margin_s: float = 0.0) -> bool:
        return self.local.held(name, margin_s)

    def extend(self, name: str, ttl_s: float) -> None:
        if not self.local.held(name):
            return
        self.local.extend(name, ttl_s)
        self._spawn(name, lambda: self._send(_EXTEND, name, max(1, round(ttl_s * 1000))))

    def release(self, name: str) -> None:
        if not self.local.held(name):
            return
        self.local.release(name)
        self._spawn(name, lambda: self._send(_RELEASE, name))

    async def _send(self, script: str, name: str, *args: Any) -> None:
        client = self.store.client
        try:
            assert client is not None
            await client.eval(script, 1, self._key(name), self.store.writer, *args)  # type: ignore[misc]
        except self.store.errors as exc:
            self.store.down(exc)

    def describe(self) -> dict[str, Any]:
        now = self.store.clock()
        out: dict[str, Any] = {
            name: {"held_s": entry["held_s"], "holder": "this worker"}
            for name, entry in self.local.describe().items()
        }
        for name, until in self._theirs.items():
            if until > now and name not in out:
                out[name] = {"held_s": round(until - now, 1), "holder": "another worker"}
        return out
