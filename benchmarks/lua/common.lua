-- Shared by every scenario script (dofile'd at the top of each): reads the harness's input files, counts
-- non-2xx answers per wrk thread, and at the end prints ONE machine-readable line:
--   BENCH_RESULT {"requests": ..., "requests_per_s": ..., "errors": {...}, "latency_ms": {"p50": ..., "p99": ...}}
-- benchmarks/wrk.py parses that line (and falls back to wrk's own text summary if it is missing).
--
-- wrk runs this file in one Lua state per thread plus one for setup()/done(): globals are per state, so
-- done() collects the per-thread counters with thread:get().

bench = {}

-- Folder with the request bodies the harness writes (digit.png, pixels.json, text.json, naive.json).
function bench.data_file(name)
   local dir = os.getenv("BENCH_DATA_DIR")
   if dir == nil or dir == "" then
      error("BENCH_DATA_DIR is not set: run these scripts through `python -m benchmarks.run`, or write the "
            .. "inputs with `python -m benchmarks.run --write-data DIR` and export BENCH_DATA_DIR=DIR")
   end
   return dir .. "/" .. name
end

function bench.read(name)
   local path = bench.data_file(name)
   local f = assert(io.open(path, "rb"), "cannot open " .. path)
   local data = f:read("*a")
   f:close()
   return data
end

-- A static POST: wrk builds the request once per thread, so the load generator does no per-request work
-- beyond sending these bytes and reading the answer.
function bench.post(path, content_type, body)
   wrk.method = "POST"
   wrk.path = path
   wrk.body = body
   wrk.headers["Content-Type"] = content_type
end

-- POST the PNG (BENCH_DATA_DIR/digit.png) to `path` as multipart/form-data, field "file", as a browser's form
-- or `requests.post(url, files={"file": ...})` sends it. The body is built once, with a fixed boundary (the
-- same as BOUNDARY in benchmarks/scenarios.py); wrk sends the same bytes on every request.
function bench.post_png(path)
   local boundary = "----course-api-bench-7MA4YWxkTrZu0gW"
   local body = table.concat({
      "--" .. boundary,
      'Content-Disposition: form-data; name="file"; filename="digit.png"',
      "Content-Type: image/png",
      "",
      bench.read("digit.png"),
      "--" .. boundary .. "--",
      "",
   }, "\r\n")
   bench.post(path, "multipart/form-data; boundary=" .. boundary, body)
end

-- Per-thread counters (globals of each thread's Lua state).
bench_non2xx = 0
bench_statuses = {}

function response(status, headers, body)
   if status < 200 or status > 299 then
      bench_non2xx = bench_non2xx + 1
      local key = tostring(status)
      bench_statuses[key] = (bench_statuses[key] or 0) + 1
   end
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local function ms(us)
   return (us or 0) / 1000.0
end

function done(summary, latency, requests)
   local non2xx = 0
   local statuses = {}
   for _, thread in ipairs(threads) do
      non2xx = non2xx + (thread:get("bench_non2xx") or 0)
      for status, count in pairs(thread:get("bench_statuses") or {}) do
         statuses[status] = (statuses[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(statuses) do
      table.insert(parts, string.format('"%s": %d', status, count))
   end
   table.sort(parts)
   local seconds = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_s": %.6f, "requests_per_s": %.3f, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d, "non2xx": %d}, '
      .. '"statuses": {%s}, '
      .. '"latency_ms": {"min": %.4f, "mean": %.4f, "stdev": %.4f, "max": %.4f, '
      .. '"p50": %.4f, "p75": %.4f, "p90": %.4f, "p99": %.4f, "p99.9": %.4f}}\n',
      summary.requests, seconds, seconds > 0 and summary.requests / seconds or 0, summary.bytes,
      e.connect, e.read, e.write, e.timeout, e.status, non2xx,
      table.concat(parts, ", "),
      ms(latency.min), ms(latency.mean), ms(latency.stdev), ms(latency.max),
      ms(latency:percentile(50)), ms(latency:percentile(75)), ms(latency:percentile(90)),
      ms(latency:percentile(99)), ms(latency:percentile(99.9))))
end
