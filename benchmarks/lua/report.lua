-- Appended to every wrk script run by api_load.py: prints one machine-readable line.
-- Latencies are microseconds; "status" errors are responses with a code >= 400.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'PYK8S_WRK {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
