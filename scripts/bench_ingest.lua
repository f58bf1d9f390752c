-- wrk script for `scripts/bench ingest`: replays pre-signed, distinct pushes, never one twice in a run.
--
--   wrk -t2 -c64 -d10s -s scripts/bench_ingest.lua http://127.0.0.1:PORT -- PUSHES_FILE THREADS
--
-- PUSHES_FILE has one push a line: "<platform> <url-encoded form>". Thread k (1-based) of THREADS sends
-- lines k, k+THREADS, k+2*THREADS, ... so no two threads share a push. A thread that runs out of lines
-- starts its stripe again and counts the wrap (its answers are then "duplicate", which the report shows).
-- Each answer is counted by status and, for 200, by whether its body says "duplicate". done() prints one
-- line "BENCH_RESULT {json}" that bench_ingest.py reads.

local threads = {}
local next_id = 1

function setup(thread)
   thread:set("thread_id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local requests = {}
local count = 0
local position = 0
wraps = 0
ok = 0
duplicate = 0
other_2xx = 0
status_4xx = 0
status_5xx = 0
status_other = 0

function init(args)
   local file, nthreads = args[1], tonumber(args[2])
   local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
   local line_no = 0
   for line in io.lines(file) do
      if line_no % nthreads == thread_id - 1 then
         local space = line:find(" ", 1, true)
         local platform, body = line:sub(1, space - 1), line:sub(space + 1)
         count = count + 1
         requests[count] = wrk.format("POST", "/webhooks/" .. platform, headers, body)
      end
      line_no = line_no + 1
   end
   if count == 0 then
      error("no pushes for thread " .. thread_id .. " in " .. file)
   end
   count_loaded = count
end

function request()
   position = position + 1
   if position > count then
      position = 1
      wraps = wraps + 1
   end
   return requests[position]
end

function response(status, headers, body)
   if status == 200 then
      if body and body:find("duplicate", 1, true) then
         duplicate = duplicate + 1
      else
         ok = ok + 1
      end
   elseif status >= 200 and status < 300 then
      other_2xx = other_2xx + 1
   elseif status >= 400 and status < 500 then
      status_4xx = status_4xx + 1
   elseif status >= 500 then
      status_5xx = status_5xx + 1
   else
      status_other = status_other + 1
   end
end

local function json_pair(name, value)
   return string.format('"%s": %s', name, tostring(value))
end

function done(summary, latency, requests_)
   local totals = { ok = 0, duplicate = 0, other_2xx = 0, status_4xx = 0, status_5xx = 0, status_other = 0,
                    wraps = 0, pushes_loaded = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         if name == "pushes_loaded" then
            totals[name] = totals[name] + (thread:get("count_loaded") or 0)
         else
            totals[name] = totals[name] + (thread:get(name) or 0)
         end
      end
   end
   local parts = {
      json_pair("requests", summary.requests),
      json_pair("duration_us", summary.duration),
      json_pair("bytes", summary.bytes),
      json_pair("err_connect", summary.errors.connect),
      json_pair("err_read", summary.errors.read),
      json_pair("err_write", summary.errors.write),
      json_pair("err_status", summary.errors.status),
      json_pair("err_timeout", summary.errors.timeout),
      json_pair("lat_mean_us", latency.mean),
      json_pair("lat_max_us", latency.max),
      json_pair("lat_p50_us", latency:percentile(50)),
      json_pair("lat_p90_us", latency:percentile(90)),
      json_pair("lat_p99_us", latency:percentile(99)),
      json_pair("lat_p999_us", latency:percentile(99.9)),
   }
   for name, value in pairs(totals) do
      table.insert(parts, json_pair(name, value))
   end
   io.write("BENCH_RESULT {" .. table.concat(parts, ", ") .. "}\n")
end
