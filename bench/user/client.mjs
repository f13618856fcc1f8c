// A client of the user-shaped benchmarks, as a user writes one: the *built* package, a
// ManagedRuntime over Cluster.layer + TcpTransport.layer, RemoteCall.call in Effect.gen
// loops. Prints one JSON line per benchmark, then {"bench":"done"}.
//   node bench/user/client.mjs '{"server":"server@127.0.0.1:P","benches":["seq"],"measureMs":3000}'
// Each line: calls (or msgs) per second, p50/p99/p999 µs, and this process's CPU µs per call.
import { Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { BehaviorRegistry, Cluster, RemoteCall, RemoteSpawn, TcpTransport } from "../../dist/node.js"
import { awaitStartAt, payload, summarize } from "./measure.mjs"

const startedAt = performance.now() - process.uptime() * 1000
// The module body runs once every import is loaded: what of the start is loading code.
const loadedAt = performance.now()
const options = JSON.parse(process.argv[2])
const measureMs = options.measureMs ?? 3000
const warmupMs = options.warmupMs ?? 500
const runtime = ManagedRuntime.make(
  Cluster.layer({ nodeName: `client${process.pid}`, port: 0, seeds: [options.server], cookie: options.cookie }).pipe(
    Layer.provide(BehaviorRegistry.layer({})),
    Layer.provide(TcpTransport.layer),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
  )
)
const emit = (line) => process.stdout.write(JSON.stringify(line) + "\n")

/** The server's CPU µs so far (its counter answers "cpu"); set once the counter is spawned. */
let serverCpu = Effect.succeed(undefined)

/** `conc` loops of `body` for warm-up then `measureMs`; rate, latency percentiles, CPU per op on both sides. */
const timed = (body, conc) =>
  Effect.gen(function*() {
    const loop = (ms, record) =>
      Effect.all(
        Array.from({ length: conc }, () =>
          Effect.gen(function*() {
            const deadline = performance.now() + ms
            while (performance.now() < deadline) {
              const t0 = performance.now()
              yield* body
              record(performance.now() - t0)
            }
          })),
        { concurrency: "unbounded", discard: true }
      )
    // Several clients measure the same window: each warms up until the common start.
    yield* loop(options.startAt === undefined ? warmupMs : Math.max(warmupMs, options.startAt - Date.now()), () => {})
    const samples = []
    const server = yield* serverCpu
    const cpu = process.cpuUsage()
    const startedAt = Date.now()
    const t0 = performance.now()
    yield* loop(measureMs, (ms) => samples.push(ms))
    const elapsed = performance.now() - t0
    const used = process.cpuUsage(cpu)
    const serverUsed = server === undefined ? undefined : (yield* serverCpu) - server
    return summarize(samples, elapsed, used, startedAt, serverUsed)
  })

/** As `timed` with one loop, for a program that runs each call as its own Promise (`runtime.runPromise`). */
const timedPromise = (body) =>
  Effect.gen(function*() {
    const loop = async (ms, record) => {
      const deadline = performance.now() + ms
      while (performance.now() < deadline) {
        const t0 = performance.now()
        await body()
        record(performance.now() - t0)
      }
    }
    yield* Effect.promise(() => loop(warmupMs, () => {}))
    const samples = []
    const server = yield* serverCpu
    const cpu = process.cpuUsage()
    const startedAt = Date.now()
    const t0 = performance.now()
    yield* Effect.promise(() => loop(measureMs, (ms) => samples.push(ms)))
    const elapsed = performance.now() - t0
    const used = process.cpuUsage(cpu)
    const serverUsed = (yield* serverCpu) - server
    return summarize(samples, elapsed, used, startedAt, serverUsed)
  })

const data = payload()

const program = Effect.gen(function*() {
  const cluster = yield* Cluster.Cluster
  while (!(yield* cluster.isNodeConnected(options.server))) yield* Effect.sleep("5 millis")
  emit({
    bench: "up",
    start_to_nodeup_ms: Math.round(performance.now() - startedAt),
    modules_loaded_ms: Math.round(loadedAt - startedAt)
  })
  if (options.syncStart) options.startAt = yield* Effect.promise(awaitStartAt)
  const spawned = yield* RemoteSpawn.spawn("counter", options.server)
  const ref = { id: spawned.serverId, nodeId: spawned.nodeId }
  serverCpu = RemoteCall.call(ref, { type: "cpu" })
  const inc = { type: "inc" }
  const call = RemoteCall.call(ref, inc)
  const echo = { type: "echo", data }
  for (const bench of options.benches) {
    if (bench === "seq") emit({ bench, ...(yield* timed(RemoteCall.call(ref, inc), 1)) })
    else if (bench === "seq_promise") emit({ bench, ...(yield* timedPromise(() => runtime.runPromise(call))) })
    else if (bench === "pipe") emit({ bench, ...(yield* timed(RemoteCall.call(ref, inc), 64)) })
    else if (bench === "payload") emit({ bench, ...(yield* timed(RemoteCall.call(ref, echo), 1)) })
    else if (bench === "payload_pipe") emit({ bench, ...(yield* timed(RemoteCall.call(ref, echo), 64)) })
    else if (bench === "spawn") emit({ bench, ...(yield* timed(RemoteSpawn.spawn("idle", options.server), 1)) })
    else if (bench === "spawn_c64") emit({ bench, ...(yield* timed(RemoteSpawn.spawn("idle", options.server), 64)) })
    else if (bench === "cast") {
      const n = options.casts ?? 200_000
      // With other clients: warm up on the same casts until the common start.
      while (options.startAt !== undefined && Date.now() < options.startAt) {
        for (let i = 0; i < 1000; i++) yield* RemoteCall.cast(ref, inc)
        yield* RemoteCall.call(ref, { type: "get" }, { timeout: "60 seconds" })
      }
      const get = RemoteCall.call(ref, { type: "get" }, { timeout: "60 seconds" })
      const before = yield* get
      const cpu = process.cpuUsage()
      const startedAt = Date.now()
      const t0 = performance.now()
      for (let i = 0; i < n; i++) yield* RemoteCall.cast(ref, inc)
      // The count tells how many arrived: a cast dropped at a full mailbox must not count as sent fast.
      const delivered = (yield* get) - before
      const used = process.cpuUsage(cpu)
      emit({
        bench,
        per_sec: Math.round(n / ((performance.now() - t0) / 1000)),
        sent: n,
        delivered,
        started_at: startedAt,
        ended_at: Date.now(),
        cpu_us_per_op: Math.round((used.user + used.system) / n * 10) / 10
      })
    }
  }
})

runtime.runPromise(program).then(
  () => runtime.dispose().then(() => (emit({ bench: "done" }), process.exit(0))),
  (error) => (console.error(error), process.exit(1))
)
