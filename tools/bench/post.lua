-- wrk script of `make bench`: POST the file $BENCH_BODY to the URL's path,
-- with the extra headers in $BENCH_HEADERS ("Name: value|Name: value").
-- done() prints one line of key=value pairs (latencies in microseconds)
-- that tools/bench/run.sh reads.

local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

local extra = os.getenv("BENCH_HEADERS") or ""
for h in string.gmatch(extra, "[^|]+") do
   local k, v = string.match(h, "^%s*([^:]+):%s*(.-)%s*$")
   if k then wrk.headers[k] = v end
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d bytes=%d rps=%.1f " ..
      "p50_us=%d p90_us=%d p99_us=%d mean_us=%.1f max_us=%d " ..
      "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
      summary.requests, summary.duration, summary.bytes,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
