-- Cycles through pre-built requests read from a file, one per line:
--   POST<TAB>/path<TAB>signature<TAB>body     or     GET<TAB>/path
-- Run as: wrk -t1 -cN -dDs -s cycle.lua URL -- FILE [COUNT]   (COUNT: use only the first COUNT lines)
-- Formatting every request up front keeps the per-request work of the load generator to a table read.
local prepared = {}
local i = 0

function init(args)
  local limit = tonumber(args[2] or "0")
  for line in io.lines(args[1]) do
    if limit > 0 and #prepared >= limit then break end
    local method, path, signature, body = line:match("^(%u+)\t([^\t]*)\t?([^\t]*)\t?(.*)$")
    if method == "POST" then
      local headers = { ["Content-Type"] = "application/json", ["X-Signature"] = signature }
      prepared[#prepared + 1] = wrk.format("POST", path, headers, body)
    else
      prepared[#prepared + 1] = wrk.format("GET", path)
    end
  end
end

function request()
  i = i % #prepared + 1
  return prepared[i]
end

-- One machine-readable line for the bench runner; latencies in microseconds.
function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"errors":%d,"non_2xx":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
