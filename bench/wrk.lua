-- wrk script for bench/run.py (adapted from /work/shared/bench/wrk/report.lua).
--   WRK_METHOD       request method (default GET)
--   WRK_HEADERS      extra headers, "Name: value" lines separated by "\n" or "|"
--   WRK_XFF_DISTINCT "1": a different X-Forwarded-For (10.x.y.z) on every request
--   WRK_XFF_BASE     first address index for WRK_XFF_DISTINCT (so phases don't reuse addresses)
--   WRK_MAX_REQUESTS stop after this many responses (per thread; run.py uses -t1)
--   WRK_DONE_FILE    created when WRK_MAX_REQUESTS is reached: wrk's main thread sleeps for
--                    the whole -d, so run.py watches for this file and sends SIGINT, which
--                    makes wrk report at once (with the true elapsed time)
-- Prints one machine-readable "WRKRESULT k=v ..." line at the end.
local m = os.getenv("WRK_METHOD")
if m and m ~= "" then wrk.method = m end

local hs = os.getenv("WRK_HEADERS") or ""
for line in string.gmatch(hs, "[^\n|]+") do
  local k, v = string.match(line, "^%s*([^:]+):%s*(.-)%s*$")
  if k then wrk.headers[k] = v end
end

-- Only define request()/response() when needed: wrk's prebuilt request is cheaper, and a Lua
-- response() callback makes wrk parse every response in Lua.
if os.getenv("WRK_XFF_DISTINCT") == "1" then
  local i = tonumber(os.getenv("WRK_XFF_BASE") or "0")
  request = function()
    i = i + 1
    wrk.headers["X-Forwarded-For"] = string.format(
      "10.%d.%d.%d", math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256)
    return wrk.format()
  end
end

local max = tonumber(os.getenv("WRK_MAX_REQUESTS") or "")
local done_file = os.getenv("WRK_DONE_FILE")
if max then
  local seen = 0
  response = function()
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

done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRKRESULT requests=%d secs=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
