/**
 * Raw `node:net` baselines measured in the same run as each benchmark, so results
 * are printed as ratios (this machine is shared and noisy; absolute numbers lie).
 */
import * as net from "node:net"

/** Round trips per second of a fixed-size ping-pong over loopback TCP, `outstanding` in flight. */
export const rawPingPong = async (options: {
  readonly bytes: number
  readonly outstanding: number
  readonly durationMs: number
}): Promise<{ readonly perSecond: number; readonly latenciesUs: Array<number> }> => {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    // Echo whole messages back: the server sees the same stream shape as the client sends.
    socket.on("data", (chunk) => socket.write(chunk))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as net.AddressInfo).port
  try {
    return await rawRemotePingPong({ ...options, port })
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/** The same ping-pong against an echo server at `port` (another OS process in the remote benches). */
export const rawRemotePingPong = async (options: {
  readonly port: number
  readonly bytes: number
  readonly outstanding: number
  readonly durationMs: number
}): Promise<{ readonly perSecond: number; readonly latenciesUs: Array<number> }> => {
  const { bytes, durationMs, outstanding, port } = options
  const client = net.createConnection({ port, host: "127.0.0.1" })
  client.setNoDelay(true)
  await new Promise<void>((resolve) => client.once("connect", () => resolve()))
  const message = Buffer.alloc(bytes, 7)
  const latenciesUs: Array<number> = []
  let received = 0
  let completed = 0
  const sentAt: Array<number> = []
  const started = performance.now()
  const deadline = started + durationMs
  let done!: () => void
  const finished = new Promise<void>((resolve) => (done = resolve))
  let inFlight = 0
  const send = () => {
    sentAt.push(performance.now())
    inFlight++
    client.write(message)
  }
  client.on("data", (chunk) => {
    received += chunk.length
    while (received >= bytes) {
      received -= bytes
      completed++
      inFlight--
      const t0 = sentAt.shift()!
      const now = performance.now()
      if (latenciesUs.length < 200_000) latenciesUs.push((now - t0) * 1000)
      if (now < deadline) send()
      else if (inFlight === 0) done()
    }
  })
  for (let i = 0; i < outstanding; i++) send()
  await finished
  const elapsed = performance.now() - started
  client.destroy()
  return { perSecond: completed / (elapsed / 1000), latenciesUs }
}

/** The p-th percentile of a list of numbers. */
export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** Formats a rate with thousands separators. */
export const fmt = (n: number): string => Math.round(n).toLocaleString("en-US")

/** Prints one figure beside its baseline with their ratio. */
export const report = (label: string, value: number, baselineLabel: string, baseline: number, unit = "/s") =>
  console.log(
    `${label.padEnd(44)} ${fmt(value).padStart(12)}${unit}   ${baselineLabel} ${
      fmt(baseline).padStart(10)
    }${unit}   ratio ${(value / baseline).toFixed(2)}x`
  )
