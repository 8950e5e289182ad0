-- wrk script for bench/run.py (adapted from /work/shared/bench/wrk/report.lua).
--   WRK_METHOD       request method (default GET)
--   WRK_HEADERS      extra headers, "Name: value" lines separated by "\n" or "|"
--   WRK_BODY         request body (with WRK_METHOD=POST)
--   WRK_XFF_DISTINCT "1": a different X-Forwarded-For (10.x.y.z) on every request;
--                    "6": a different IPv6 /64 (2001:db8:h:l::1) on every request
--   WRK_XFF_BASE     first address index for WRK_XFF_DISTINCT (so phases don't reuse addresses)
--   WRK_MAX_REQUESTS stop after this many responses (per thread; run.py uses -t1)
--   WRK_DONE_FILE    created when WRK_MAX_REQUESTS is reached: wrk's main thread sleeps for
--                    the whole -d, so run.py watches for this file and sends SIGINT, which
--                    makes wrk report at once (with the true elapsed time)
--   WRK_COUNT_STATUS "1": count responses per status (status_503=... in the result line)
--   WRK_RELAY_PATH   sealed relay mode: every minted handle (the "ephemeralToken" of a 200 on
--                    the mint path) is spent on one POST to this path with WRK_RELAY_BODY
-- Prints one machine-readable "WRKRESULT k=v ..." line at the end. response() is defined only
-- when a mode needs it: a Lua response() callback makes wrk parse every response in Lua.
local m = os.getenv("WRK_METHOD")
if m and m ~= "" then wrk.method = m end
local b = os.getenv("WRK_BODY")
if b and b ~= "" then wrk.body = b end

local hs = os.getenv("WRK_HEADERS") or ""
for line in string.gmatch(hs, "[^\n|]+") do
  local k, v = string.match(line, "^%s*([^:]+):%s*(.-)%s*$")
  if k then wrk.headers[k] = v end
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end

-- Globals of each thread's Lua state, read by done() through thread:get().
statuses = {}
relays = 0

local xff = os.getenv("WRK_XFF_DISTINCT")
local relay_path = os.getenv("WRK_RELAY_PATH")
local handles = {}
if xff == "1" or xff == "6" then
  local i = tonumber(os.getenv("WRK_XFF_BASE") or "0")
  request = function()
    i = i + 1
    if xff == "6" then
      wrk.headers["X-Forwarded-For"] = string.format(
        "2001:db8:%x:%x::1", math.floor(i / 65536) % 65536, i % 65536)
    else
      wrk.headers["X-Forwarded-For"] = string.format(
        "10.%d.%d.%d", math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256)
    end
    return wrk.format()
  end
elseif relay_path then
  local relay_body = os.getenv("WRK_RELAY_BODY") or "{}"
  request = function()
    local h = table.remove(handles)
    if h == nil then return wrk.format("GET") end
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["Authorization"] = "Bearer " .. h
    headers["Content-Type"] = "application/json"
    relays = relays + 1
    return wrk.format("POST", relay_path, headers, relay_body)
  end
end

local count = os.getenv("WRK_COUNT_STATUS") == "1"
local max = tonumber(os.getenv("WRK_MAX_REQUESTS") or "")
local done_file = os.getenv("WRK_DONE_FILE")
if count or max or relay_path then
  local seen = 0
  response = function(status, headers, body)
    if count then statuses[status] = (statuses[status] or 0) + 1 end
    if relay_path and status == 200 then
      local h = string.match(body, '"ephemeralToken"%s*:%s*"([^"]+)"')
      if h then table.insert(handles, h) end
    end
    if max then
      seen = seen + 1
      if seen == max then
        wrk.thread:stop()
        if done_file and done_file ~= "" then
          local f = io.open(done_file, "w")
          if f then f:write("done\n"); f:close() end
        end
      end
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local extra, total_relays = "", 0
  local by_status = {}
  for _, t in ipairs(threads) do
    total_relays = total_relays + (t:get("relays") or 0)
    for k, v in pairs(t:get("statuses") or {}) do by_status[k] = (by_status[k] or 0) + v end
  end
  for k, v in pairs(by_status) do extra = extra .. string.format(" status_%d=%d", k, v) end
  io.write(string.format(
    "WRKRESULT requests=%d secs=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d relays=%d%s\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout, total_relays, extra))
end
