-- Keep one handle's record, and sweep ids of handles that expired unredeemed.
--
-- KEYS[1]: the record's key; KEYS[2]: the sorted set of live handle ids, scored by expiry
-- in ms. Both keys carry one cluster hash tag, so one script may touch both.
-- ARGV[1]: the (encrypted) record; ARGV[2]: its ttl in ms; ARGV[3]: the handle id;
-- ARGV[4]: how many expired ids one sweep removes at most (keeps every call short).
-- Returns how many ids the sweep removed. A redeem removes its own id, so each handle that
-- expired unredeemed is counted exactly once, by whichever process swept it.
-- Time comes from the server (TIME, allowed since Redis 5 with effects replication).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
if #expired > 0 then
  redis.call('ZREM', KEYS[2], unpack(expired))
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
return #expired
