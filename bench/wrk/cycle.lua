-- Cycles through pre-built requests read from a file, one per line:
--   POST<TAB>/path<TAB>signature<TAB>body     or     GET<TAB>/path
-- where signature is X-Signature's value, or a whole header `Name: value` (X-Hub-Signature-256 say)
-- Run as: wrk -t1 -cN -dDs -s cycle.lua URL -- FILE [COUNT]   (COUNT: use only the first COUNT lines)
-- Formatting every request up front keeps the per-request work of the load generator to a table read.
--
-- wrk reports latencies corrected for coordinated omission: a response slower than twice the mean adds
-- samples for the requests a steady sender would have sent meanwhile. Over one connection a few pauses
-- of some ms then decide the p99. With RAW_LATENCY=1 in the environment (for -c1 runs only, where each
-- response answers the request just sent) this script also times each request itself, uncorrected.
-- Both need LuaJIT's FFI (Debian's wrk has it), as does `cpu_us`: the CPU wrk used during the run.
local prepared = {}
local i = 0

-- LuaJIT's FFI, when this wrk has it: a monotonic clock and the process's CPU time.
local has_ffi, ffi = pcall(require, "ffi")
if has_ffi then
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } cycle_timespec;
    int clock_gettime(int clock, cycle_timespec *now);
    typedef struct { long tv_sec; long tv_usec; } cycle_timeval;
    typedef struct { cycle_timeval utime; cycle_timeval stime; long rest[14]; } cycle_rusage;
    int getrusage(int who, cycle_rusage *usage);
  ]]
end

-- CPU microseconds this wrk process used so far (all its threads), or nil without the FFI.
local function cpu_us()
  if not has_ffi then return nil end
  local usage = ffi.new("cycle_rusage")
  ffi.C.getrusage(0, usage) -- RUSAGE_SELF
  return (tonumber(usage.utime.tv_sec) + tonumber(usage.stime.tv_sec)) * 1000000
    + tonumber(usage.utime.tv_usec) + tonumber(usage.stime.tv_usec)
end

function init(args)
  local limit = tonumber(args[2] or "0")
  for line in io.lines(args[1]) do
    if limit > 0 and #prepared >= limit then break end
    local method, path, signature, body = line:match("^(%u+)\t([^\t]*)\t?([^\t]*)\t?(.*)$")
    if method == "POST" then
      local headers = { ["Content-Type"] = "application/json" }
      local name, value = signature:match("^([%w-]+): (.*)$")
      headers[name or "X-Signature"] = value or signature
      prepared[#prepared + 1] = wrk.format("POST", path, headers, body)
    else
      prepared[#prepared + 1] = wrk.format("GET", path)
    end
  end
  -- Reading and formatting the file is not part of the run: done() reports the CPU used after this.
  loaded_cpu_us = cpu_us()
end

function request()
  i = i % #prepared + 1
  return prepared[i]
end

-- Uncorrected latencies, in microseconds, taken with the monotonic clock.
local raw_wanted = os.getenv("RAW_LATENCY") == "1" and has_ffi
raw = {}
if raw_wanted then
  local now = ffi.new("cycle_timespec")
  local CLOCK_MONOTONIC = 1
  local function now_us()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, now)
    return tonumber(now.tv_sec) * 1000000 + tonumber(now.tv_nsec) / 1000
  end
  local sent = 0
  local plain = request
  request = function()
    sent = now_us()
    return plain()
  end
  response = function()
    raw[#raw + 1] = now_us() - sent
  end
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

local function percentile(sorted, p)
  return sorted[math.max(1, math.ceil(#sorted * p / 100))]
end

-- One machine-readable line for the bench runner; latencies in microseconds.
function done(summary, latency, _)
  local e = summary.errors
  local extra = ""
  local loaded = 0
  for _, thread in ipairs(threads) do loaded = math.max(loaded, thread:get("loaded_cpu_us") or 0) end
  local used = cpu_us()
  if used then extra = string.format(',"cpu_us":%d', used - loaded) end
  if raw_wanted then
    local all = {}
    for _, thread in ipairs(threads) do
      for _, v in ipairs(thread:get("raw")) do all[#all + 1] = v end
    end
    table.sort(all)
    if #all > 0 then
      extra = extra .. string.format(',"raw_p50_us":%d,"raw_p99_us":%d,"raw_max_us":%d', percentile(all, 50), percentile(all, 99), all[#all])
    end
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"errors":%d,"non_2xx":%d,"p50_us":%d,"p99_us":%d,"max_us":%d%s}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max, extra))
end
