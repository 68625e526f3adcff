"""The Lua scripts behind budget reservations in Redis, each one atomic on the server.

Every budget (a name such as ``provider:openai`` or ``total``, in one UTC month) has three keys,
all under one hash tag so a Redis Cluster keeps them in one slot:

* ``spent``: what settled attempts cost (a decimal string);
* ``held``: the sum of the live reservations' amounts;
* ``holds``: a sorted set of the live reservations, member ``<id>|<amount>``, scored by the
  time they expire.

Time comes from the caller (``now``), never from the server, so tests drive it with a fake
clock. Every script first drops the reservations that expired by ``now`` (a host killed
mid-request frees its holds this way) and then works on what is left.
"""

from __future__ import annotations

__all__ = ["RESERVE", "SEED", "SETTLE"]

_PURGE = """
local function num(value)
  return tonumber(value) or 0
end

local function fmt(value)
  return string.format('%.17g', value)
end

-- Drops the holds that expired by `now` and answers what the live ones hold.
local function purge(held_key, holds_key, now, keep)
  local held = num(redis.call('GET', held_key))
  local gone = redis.call('ZRANGEBYSCORE', holds_key, '-inf', now)
  if #gone > 0 then
    for _, member in ipairs(gone) do
      held = held - num(string.match(member, '|(.*)$'))
    end
    redis.call('ZREMRANGEBYSCORE', holds_key, '-inf', now)
    if redis.call('ZCARD', holds_key) == 0 or held < 0 then
      held = 0
    end
    redis.call('SET', held_key, fmt(held), 'EX', keep)
  end
  return held
end
"""

RESERVE = (
    _PURGE
    + """
-- KEYS: spent, held, holds for each budget.
-- ARGV: now, expires_at, amount, member, keep_s, then one limit per budget ('' = none).
-- Answers {0, spent1, held1, ...} when every budget has room for `amount` (the hold is then
-- in every budget's set), else {i, spent_i, held_i} for the first budget i without room.
local now, expires, amount = tonumber(ARGV[1]), ARGV[2], num(ARGV[3])
local member, keep = ARGV[4], tonumber(ARGV[5])
local count = #KEYS / 3
local seen = {0}
for i = 1, count do
  local held = purge(KEYS[3 * i - 1], KEYS[3 * i], now, keep)
  local spent = num(redis.call('GET', KEYS[3 * i - 2]))
  local limit = ARGV[5 + i]
  if limit ~= '' and spent + held + amount > tonumber(limit) then
    return {i, fmt(spent), fmt(held)}
  end
  seen[2 * i] = fmt(spent)
  seen[2 * i + 1] = fmt(held + amount)
end
for i = 1, count do
  redis.call('ZADD', KEYS[3 * i], expires, member)
  redis.call('EXPIRE', KEYS[3 * i], keep)
  redis.call('SET', KEYS[3 * i - 1], seen[2 * i + 1], 'EX', keep)
end
return seen
"""
)

SETTLE = (
    _PURGE
    + """
-- KEYS: the settlement's marker, then spent, held, holds for each budget.
-- ARGV: now, member, amount held, cost, keep_s, marker_ttl_s.
-- Adds `cost` to every budget's spend and removes the hold (when it has not expired) in one
-- step. The marker makes a settle sent twice (its answer lost, then replayed) count once.
-- Answers 1, or 0 when this settlement was already counted.
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[6]) then
  return 0
end
local now, member, amount, cost = tonumber(ARGV[1]), ARGV[2], num(ARGV[3]), num(ARGV[4])
local keep = tonumber(ARGV[5])
local count = (#KEYS - 1) / 3
for i = 1, count do
  local spent_key, held_key, holds_key = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]
  local held = purge(held_key, holds_key, now, keep)
  if redis.call('ZREM', holds_key, member) == 1 then
    held = held - amount
    if held < 0 or redis.call('ZCARD', holds_key) == 0 then
      held = 0
    end
    redis.call('SET', held_key, fmt(held), 'EX', keep)
  end
  redis.call('SET', spent_key, fmt(num(redis.call('GET', spent_key)) + cost), 'EX', keep)
end
return 1
"""
)

SEED = """
-- KEYS: spent keys. ARGV: keep_s, then one amount per key.
-- Raises each spend to at least the amount (a ledger's month total): Redis that lost its data
-- starts again from what the ledger knows, and a spend already higher stays.
local keep = tonumber(ARGV[1])
for i = 1, #KEYS do
  local current = tonumber(redis.call('GET', KEYS[i])) or 0
  local floor = tonumber(ARGV[i + 1]) or 0
  if floor > current then
    redis.call('SET', KEYS[i], string.format('%.17g', floor), 'EX', keep)
  end
end
return 1
"""
