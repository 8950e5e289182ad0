"""The two Lua scripts of the shared store: limits' acquire, returning the window's state.

Each runs on limits' own key layout, so limits' own strategies read the same windows:

* moving window: a list of hit timestamps, newest first, trimmed to the limit, expiring with
  the window. Returns ``{acquired, remaining, ms until a unit frees}``. Time comes from the
  server (``TIME``, allowed in scripts since Redis 5 with effects replication), so processes
  on hosts with skewed clocks still share one window.
* sliding window counter: limits' ``acquire_sliding_window.lua`` (``{key}/-1`` and ``{key}``,
  one cluster slot), returning ``{acquired, previous count, previous ttl ms, current count,
  current ttl ms}`` so the caller computes remaining and reset without a second read.

Amounts are always 1.
"""

from __future__ import annotations

__all__ = ["MOVING_WINDOW_LUA", "SLIDING_WINDOW_LUA"]

MOVING_WINDOW_LUA = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cutoff = now - expiry
local entry = redis.call('LINDEX', KEYS[1], limit - 1)
if entry and tonumber(entry) >= cutoff then
    return {0, 0, math.ceil((tonumber(entry) - cutoff) * 1000)}
end
redis.call('LPUSH', KEYS[1], now)
redis.call('LTRIM', KEYS[1], 0, limit - 1)
redis.call('EXPIRE', KEYS[1], expiry)
local low = 0
local high = redis.call('LLEN', KEYS[1]) - 1
local oldest = tonumber(redis.call('LINDEX', KEYS[1], high))
if oldest >= cutoff then
    low = high
else
    while high - low > 1 do
        local mid = math.floor((low + high) / 2)
        if tonumber(redis.call('LINDEX', KEYS[1], mid)) >= cutoff then
            low = mid
        else
            high = mid
        end
    end
    oldest = tonumber(redis.call('LINDEX', KEYS[1], low))
end
return {1, limit - low - 1, math.ceil((oldest - cutoff) * 1000)}
"""

# limits' acquire_sliding_window.lua (times in milliseconds), returning its counters.
SLIDING_WINDOW_LUA = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end
local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = math.max(0, tonumber(redis.call('pttl', KEYS[1])) or 0)
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
current_ttl = math.max(0, tonumber(redis.call('pttl', KEYS[2])) or 0)
local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
if weighted + 1 > limit then
    return {0, previous_count, previous_ttl, current_count, current_ttl}
end
if redis.call('exists', KEYS[2]) == 1 then
    redis.call('incrby', KEYS[2], 1)
else
    redis.call('set', KEYS[2], 1, 'PX', expiry * 2)
    current_ttl = expiry * 2
end
return {1, previous_count, previous_ttl, current_count + 1, current_ttl}
"""
