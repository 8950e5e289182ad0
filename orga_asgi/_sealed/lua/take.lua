-- Take one handle's record: read and delete in one step, so at most one redeem succeeds,
-- however many processes race for the handle. Also sweeps, as keep.lua does.
--
-- KEYS[1]: the record's key; KEYS[2]: the sorted set of live handle ids (see keep.lua).
-- ARGV[1]: the handle id; ARGV[2]: how many expired ids the sweep removes at most.
-- Returns {record or false, ids swept}. An expired handle's id is left to the sweep (which
-- counts it as expired unredeemed), never removed here.
local record = redis.call('GET', KEYS[1])
if record then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
if #expired > 0 then
  redis.call('ZREM', KEYS[2], unpack(expired))
end
return {record, #expired}
