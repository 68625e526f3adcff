"""Claims: a lease on a name that one worker holds at a time (one half-open trial per provider
across every host, for instance).

Hooks are synchronous, so a claim is asked for and read without waiting:
:meth:`Claims.want` asks, :meth:`Claims.held` says whether this worker holds it now. In memory
the answer is immediate. Through Redis, ``want`` starts a background ``SET key worker NX PX
ttl`` (one Lua script, one round trip) and ``held`` answers from what the last reply said, so
the worker that asks first holds the claim a round trip later and every other worker is told
who holds it and for how long. The TTL frees the claim of a worker that dies holding it. While
Redis is unreachable a claim is granted locally, as in memory: each host then decides alone,
as its other state does.
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

    def want(self, name: str, ttl_s: float) -> None:
        """Ask for ``name`` for ``ttl_s`` seconds (never waits)."""
        ...

    def held(self, name: str, margin_s: float = 0.0) -> bool:
        """This worker holds ``name`` for at least ``margin_s`` more seconds."""
        ...

    def extend(self, name: str, ttl_s: float) -> None:
        """Hold ``name`` for ``ttl_s`` seconds from now, if this worker holds it."""
        ...

    def release(self, name: str) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class MemoryClaims:
    """Claims in this worker's memory: every ``want`` of a free name is granted at once."""

    scope = "per worker process, in memory"

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._until: dict[str, float] = {}

    def want(self, name: str, ttl_s: float) -> None:
        if not self.held(name):
            self._until[name] = self.clock() + ttl_s

    def held(self, name: str, margin_s: float = 0.0) -> bool:
        until = self._until.get(name)
        return until is not None and until - self.clock() > margin_s

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
        self._asking: set[str] = set()

    @property
    def scope(self) -> str:
        if self.store.outage is not None:
            return "per worker process, in memory (Redis unreachable; shared again when it is back)"
        return f"one holder across hosts through Redis ({self.store.where})"

    def _key(self, name: str) -> str:
        return f"{self.store.prefix}claim:{self.namespace}:{name}"

    def _spawn(self, name: str, work: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Run ``work`` in the background; False when there is no Redis to ask now."""
        if self.store.client is None or self.store.outage is not None:
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        self.store.spawn(work(), f"coderouter-claim-{self.namespace}-{name}")
        return True

    def want(self, name: str, ttl_s: float) -> None:
        if self.local.held(name) or name in self._asking:
            return
        if self._theirs.get(name, float("-inf")) > self.store.clock():
            return
        self._asking.add(name)
        if not self._spawn(name, lambda: self._claim(name, ttl_s)):
            self._asking.discard(name)
            self.local.want(name, ttl_s)  # no Redis to ask: decided here, as in memory

    async def _claim(self, name: str, ttl_s: float) -> None:
        client = self.store.client
        asked_at = self.store.clock()
        try:
            assert client is not None
            left_ms = await client.eval(  # type: ignore[misc]
                _CLAIM, 1, self._key(name), self.store.writer, max(1, round(ttl_s * 1000))
            )
        except self.store.errors as exc:
            self.store.down(exc)
            self.local.want(name, ttl_s)
        else:
            if int(left_ms) < 0:
                # The lease counts from before the request: this worker never overestimates it.
                self._theirs.pop(name, None)
                self.local._until[name] = asked_at + ttl_s
            else:
                self._theirs[name] = self.store.clock() + int(left_ms) / 1000
        finally:
            self._asking.discard(name)

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
