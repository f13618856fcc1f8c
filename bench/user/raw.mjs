// The raw node:net ceiling of the user-shaped benchmarks: a strict per-message ping-pong,
// `setNoDelay`, a 4-byte length prefix and one `write()` per frame each way (the server
// parses frames and answers each with its own write). Frames: kind byte 1 = request,
// answered with the same payload; 0 = one-way; 2 = the server's CPU µs so far.
//   node bench/user/raw.mjs server                      -> prints {"port"}
//   node bench/user/raw.mjs client '{"port":P,"benches":["seq"],"measureMs":3000}'
import * as net from "node:net"
import { awaitStartAt, payload, summarize } from "./measure.mjs"

const frame = (kind, body) => {
  const out = Buffer.allocUnsafe(5 + body.length)
  out.writeUInt32BE(body.length + 1, 0)
  out[4] = kind
  body.copy(out, 5)
  return out
}

/** Calls `onFrame(kind, body)` for each complete frame of the stream. */
const reader = (onFrame) => {
  let buffered = Buffer.alloc(0)
  return (chunk) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    let offset = 0
    while (buffered.length - offset >= 4) {
      const length = buffered.readUInt32BE(offset)
      if (buffered.length - offset - 4 < length) break
      onFrame(buffered[offset + 4], buffered.subarray(offset + 5, offset + 4 + length))
      offset += 4 + length
    }
    buffered = offset === buffered.length ? Buffer.alloc(0) : buffered.subarray(offset)
  }
}

if (process.argv[2] === "server") {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    socket.on("data", reader((kind, body) => {
      if (kind === 1) socket.write(frame(1, body))
      else if (kind === 2) {
        const used = process.cpuUsage()
        socket.write(frame(2, Buffer.from(String(used.user + used.system))))
      }
    }))
    socket.on("error", () => {})
  })
  server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })))
} else {
  const options = JSON.parse(process.argv[3])
  const measureMs = options.measureMs ?? 3000
  const warmupMs = options.warmupMs ?? 500
  const socket = net.connect({ host: "127.0.0.1", port: options.port })
  await new Promise((resolve) => socket.once("connect", resolve))
  socket.setNoDelay(true)
  process.stdout.write(JSON.stringify({ bench: "up" }) + "\n")
  if (options.syncStart) options.startAt = await awaitStartAt()
  const waiters = []
  socket.on("data", reader((_, body) => waiters.shift()(body)))
  const request = (bytes) => new Promise((resolve) => (waiters.push(resolve), socket.write(bytes)))
  const serverCpu = async () => Number((await request(frame(2, Buffer.alloc(0)))).toString())
  const timed = async (bytes, conc) => {
    const loop = (ms, record) =>
      Promise.all(Array.from({ length: conc }, async () => {
        const deadline = performance.now() + ms
        while (performance.now() < deadline) {
          const t0 = performance.now()
          await request(bytes)
          record(performance.now() - t0)
        }
      }))
    // Several clients measure the same window: each warms up until the common start.
    await loop(options.startAt === undefined ? warmupMs : Math.max(warmupMs, options.startAt - Date.now()), () => {})
    const samples = []
    const server = await serverCpu()
    const cpu = process.cpuUsage()
    const startedAt = Date.now()
    const t0 = performance.now()
    await loop(measureMs, (ms) => samples.push(ms))
    const elapsed = performance.now() - t0
    const used = process.cpuUsage(cpu)
    return summarize(samples, elapsed, used, startedAt, (await serverCpu()) - server)
  }
  const small = frame(1, Buffer.from(JSON.stringify({ type: "inc" })))
  const data = payload()
  const kb = frame(1, Buffer.from(JSON.stringify({ type: "echo", data })))
  const emit = (line) => process.stdout.write(JSON.stringify(line) + "\n")
  for (const bench of options.benches) {
    if (bench === "seq") emit({ bench, ...(await timed(small, 1)) })
    else if (bench === "pipe") emit({ bench, ...(await timed(small, 64)) })
    else if (bench === "payload") emit({ bench, ...(await timed(kb, 1)) })
    else if (bench === "payload_pipe") emit({ bench, ...(await timed(kb, 64)) })
    else if (bench === "cast") {
      const n = options.casts ?? 200_000
      const oneWay = frame(0, Buffer.from(JSON.stringify({ type: "inc" })))
      // With other clients: warm up on the same casts until the common start.
      while (options.startAt !== undefined && Date.now() < options.startAt) {
        for (let i = 0; i < 1000; i++) socket.write(oneWay)
        await request(small)
      }
      const startedAt = Date.now()
      const t0 = performance.now()
      for (let i = 0; i < n; i++) {
        socket.write(oneWay)
        // Let the socket drain as a producer that respects backpressure would.
        if (i % 1000 === 999) await new Promise((r) => setImmediate(r))
      }
      await request(small)
      emit({ bench, per_sec: Math.round(n / ((performance.now() - t0) / 1000)), sent: n, started_at: startedAt, ended_at: Date.now() })
    }
  }
  emit({ bench: "done" })
  socket.destroy()
  process.exit(0)
}
