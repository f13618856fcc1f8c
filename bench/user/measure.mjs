// What the user-shaped clients share: the summary of a measured window and the 1 KB payload.

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]

/**
 * Rate, latency percentiles (µs) and CPU µs per op of one window of `samples` (ms each);
 * with `serverMicros` (the server's CPU µs over the window), the server's CPU per op too.
 */
export const summarize = (samples, elapsedMs, cpuUsed, startedAt, serverMicros) => {
  const sorted = Float64Array.from(samples).sort()
  const us = (v) => Math.round(v * 1000)
  return {
    per_sec: Math.round(samples.length / (elapsedMs / 1000)),
    started_at: startedAt,
    p50_us: us(percentile(sorted, 50)),
    p99_us: us(percentile(sorted, 99)),
    p999_us: us(percentile(sorted, 99.9)),
    cpu_us_per_op: Math.round((cpuUsed.user + cpuUsed.system) / samples.length * 10) / 10,
    ops: samples.length,
    ...(serverMicros === undefined ? {} : {
      server_cpu_us: serverMicros,
      server_cpu_us_per_op: Math.round(serverMicros / samples.length * 10) / 10
    })
  }
}

/**
 * With `syncStart`, a fan-in client waits here once it is connected: the bench writes
 * `{"startAt"}` (epoch ms) to every client's stdin when all of them are, so no client's
 * window starts while another is still loading.
 */
export const awaitStartAt = () =>
  new Promise((resolve) => {
    let text = ""
    process.stdin.setEncoding("utf8")
    process.stdin.on("data", (chunk) => {
      text += chunk
      const end = text.indexOf("\n")
      if (end >= 0) {
        process.stdin.pause()
        resolve(JSON.parse(text.slice(0, end)).startAt)
      }
    })
  })

/** The anchors' ~1 KB object: 16 string fields of 52 characters. */
export const payload = () => {
  const data = {}
  for (let i = 0; i < 16; i++) {
    const k = "f" + String(i).padStart(2, "0")
    data[k] = (k + "-").padEnd(52, String.fromCharCode(97 + i))
  }
  return data
}
