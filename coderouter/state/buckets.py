"""Token buckets: how many requests a name may send now, refilled at a steady rate.

A bucket holds up to ``size`` tokens and gains ``rate_per_s`` a second; a request takes one.
:meth:`LocalBuckets.take` answers 0 when it took a token, else the seconds until one is there.
The Redis store runs the same arithmetic in :data:`TAKE_SCRIPT`, atomically for every host.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["TAKE_SCRIPT", "LocalBuckets", "refill"]


def refill(
    tokens: float, last: float, now: float, rate_per_s: float, size: int
) -> tuple[float, float]:
    """The bucket's tokens at ``now`` and the time they are counted at (a clock that steps
    back adds nothing and takes nothing)."""
    if now <= last:
        return tokens, last
    return min(float(size), tokens + (now - last) * rate_per_s), now


class LocalBuckets:
    """Buckets in this worker's memory, by name (the names are the configured keys', so the
    map stays as small as the config)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, name: str, rate_per_s: float, size: int) -> float:
        now = self.clock()
        tokens, last = self.buckets.get(name, (float(size), now))
        tokens, last = refill(tokens, last, now, rate_per_s, size)
        if tokens >= 1.0:
            self.buckets[name] = (tokens - 1.0, last)
            return 0.0
        self.buckets[name] = (tokens, last)
        return (1.0 - tokens) / rate_per_s


TAKE_SCRIPT = """
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local rate = tonumber(ARGV[1])
local size = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local tokens = tonumber(state[1])
local last = tonumber(state[2])
if tokens == nil or last == nil then
  tokens = size
  last = now
end
if now > last then
  tokens = math.min(size, tokens + (now - last) * rate)
  last = now
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(last))
redis.call('PEXPIRE', KEYS[1], math.ceil(size / rate * 1000) + 1000)
return tostring(wait)
"""
"""KEYS[1] the bucket's hash; ARGV rate per second, size, the caller's wall time. Returns the
wait in seconds as text (a Lua number would come back as an integer). The hash expires once
it would be full again, so idle buckets leave nothing behind."""
