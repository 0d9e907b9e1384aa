-- wrk's report as one line, read by bench/run (loaded by the other scripts).
function done(summary, latency, requests)
    local seconds = summary.duration / 1e6
    io.write(string.format(
        "RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d non2xx=%d max_ms=%.2f\n",
        summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        summary.errors.status, latency.max / 1000))
end
