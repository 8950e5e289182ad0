-- Moving window: limits' acquire on limits' key layout, returning the window's state.
-- KEYS[1]: the list of hit timestamps (newest first, trimmed to the limit).
-- ARGV: limit, expiry (seconds). Returns {acquired, remaining, ms until a unit frees}.
-- Time comes from the server (TIME; allowed in scripts since Redis 5 with effects
-- replication), so processes on hosts with skewed clocks still share one window.
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
