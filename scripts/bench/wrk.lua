-- wrk's script for the benchmarks' single requests (scripts/bench/run.py sets the variables).
--   BENCH_BODY_FILE      POST this file as JSON (registration); without it, GET
--   BENCH_TOKENS_FILE    refresh_token grants: one line per wrk thread, "client_id token token ...";
--                        each answer's new refresh token goes back into the thread's pool (rotation);
--                        a thread needs one token more than its connections: wrk calls request()
--                        once to check the script before it starts sending
-- done() prints one JSON line: requests, errors, seconds, latency p50/p99 in ms.

local body_file = os.getenv("BENCH_BODY_FILE")
local tokens_file = os.getenv("BENCH_TOKENS_FILE")
local next_line = 1

local function read(path)
   local file = assert(io.open(path, "rb"))
   local text = file:read("*a")
   file:close()
   return text
end

function setup(thread)
   if tokens_file then
      local lines = {}
      for line in read(tokens_file):gmatch("[^\n]+") do table.insert(lines, line) end
      thread:set("pool", lines[next_line])
      next_line = next_line + 1
   end
end

local client_id
local pool = {}
local static_request

function init(args)
   if tokens_file then
      local words = {}
      for word in pool_line():gmatch("%S+") do table.insert(words, word) end
      client_id = table.remove(words, 1)
      pool = words
   elseif body_file then
      static_request = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, read(body_file))
   else
      static_request = wrk.format("GET")
   end
end

function pool_line()
   return assert(wrk.thread:get("pool"), "more wrk threads than lines in BENCH_TOKENS_FILE")
end

function request()
   if not tokens_file then return static_request end
   local token = table.remove(pool) or "exhausted"
   local form = "grant_type=refresh_token&client_id=" .. client_id .. "&refresh_token=" .. token
   return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, form)
end

function response(status, headers, body)
   if tokens_file and status == 200 then
      table.insert(pool, body:match('"refresh_token"%s*:%s*"([^"]+)"'))
   end
end

function done(summary, latency, requests)
   local errors = summary.errors
   local failed = errors.connect + errors.read + errors.write + errors.status + errors.timeout
   io.write(string.format(
      '{"requests": %d, "errors": %d, "status_errors": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f}\n',
      summary.requests, failed, errors.status, summary.duration / 1e6,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
