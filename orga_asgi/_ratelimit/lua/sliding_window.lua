-- Sliding window counter: limits' acquire_sliding_window.lua (times in milliseconds).
-- KEYS[1]: the previous window ({key}/-1), KEYS[2]: the current one ({key}); one cluster slot.
-- ARGV: limit, expiry (seconds). Returns {acquired, previous count, previous ttl ms,
-- current count, current ttl ms}, so the caller computes remaining and reset without a
-- second read.
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
