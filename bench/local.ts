/**
 * Local GenServer throughput and memory: sequential and 64-outstanding calls, casts,
 * and heap bytes per idle process. Run with `npm run bench` (needs `--expose-gc`).
 */
import { Effect } from "effect"
import { GenServer } from "../src/index.js"
import { fmt, rawPingPong, report } from "./internal/baseline.js"

const DURATION_MS = 1500

const counter = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", s: number) => [s, s] as const,
  handleCast: (_: "inc", s: number) => s + 1
})

/**
 * A Promise-based actor as the guide's library builds one: a mailbox drained by an
 * async loop, a timer per call for its timeout, the handler awaited. The same work
 * a call must do, without Effect.
 */
class PromiseActor {
  private state = 0
  private queue: Array<{ resolve: (n: number) => void; timer: NodeJS.Timeout }> = []
  private busy = false
  call(timeoutMs = 5000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timeout")), timeoutMs)
      this.queue.push({ resolve, timer })
      if (!this.busy) void this.drain()
    })
  }
  private async drain() {
    this.busy = true
    while (this.queue.length > 0) {
      const { resolve, timer } = this.queue.shift()!
      const reply = await this.handleCall(this.state)
      clearTimeout(timer)
      resolve(reply)
    }
    this.busy = false
  }
  private async handleCall(state: number): Promise<number> {
    return state
  }
}

const promiseBaseline = async (): Promise<number> => {
  const actor = new PromiseActor()
  let n = 0
  const deadline = performance.now() + DURATION_MS
  const t0 = performance.now()
  while (performance.now() < deadline) {
    for (let i = 0; i < 1000; i++) await actor.call()
    n += 1000
  }
  return n / ((performance.now() - t0) / 1000)
}

const gc = () => (globalThis as { gc?: () => void }).gc?.()

const program = Effect.gen(function*() {
  const rt = yield* GenServer.GenServerRuntime
  const ref = yield* GenServer.start(counter)

  const timed = <E, R>(body: Effect.Effect<number, E, R>) =>
    Effect.gen(function*() {
      const t0 = performance.now()
      const n = yield* body
      return n / ((performance.now() - t0) / 1000)
    })

  const sequential = timed(
    Effect.gen(function*() {
      let n = 0
      const deadline = performance.now() + DURATION_MS
      while (performance.now() < deadline) {
        for (let i = 0; i < 1000; i++) yield* GenServer.call(ref, "get")
        n += 1000
      }
      return n
    })
  )
  const outstanding64 = timed(
    Effect.gen(function*() {
      const perFiber = 20_000
      yield* Effect.all(
        Array.from({ length: 64 }, () =>
          Effect.gen(function*() {
            for (let i = 0; i < perFiber; i++) yield* rt.call(ref, "get")
          })),
        { concurrency: "unbounded", discard: true }
      )
      return 64 * perFiber
    })
  )
  const casts = timed(
    Effect.gen(function*() {
      const n = 1_000_000
      for (let i = 0; i < n; i++) yield* GenServer.cast(ref, "inc")
      yield* GenServer.call(ref, "get")
      return n
    })
  )

  yield* sequential // warm-up
  const raw = yield* Effect.promise(() => rawPingPong({ bytes: 16, outstanding: 1, durationMs: DURATION_MS }))
  const raw64 = yield* Effect.promise(() => rawPingPong({ bytes: 16, outstanding: 64, durationMs: DURATION_MS }))
  const promise = yield* Effect.promise(promiseBaseline)
  const seq = yield* sequential
  const pipelined = yield* outstanding64
  const castRate = yield* casts

  console.log("\n== local GenServer (one process, in-process) ==")
  report("call, sequential", seq, "promise-actor", promise)
  report("call, sequential", seq, "raw net seq", raw.perSecond)
  report("call, 64 outstanding", pipelined, "raw net x64", raw64.perSecond)
  report("cast (N casts + 1 call)", castRate, "raw net x64", raw64.perSecond)

  for (const count of [100_000, 1_000_000]) {
    gc()
    const before = process.memoryUsage().heapUsed
    const refs = yield* Effect.forEach(Array.from({ length: count }), () => rt.start(counter), { discard: false })
    gc()
    const after = process.memoryUsage().heapUsed
    // The refs array is the caller's, not the processes': subtract it (16 B per slot + ~80 B per ref).
    const perProcess = (after - before) / count
    console.log(
      `heap per idle process (${fmt(count)} processes)`.padEnd(44),
      `${perProcess.toFixed(0).padStart(12)} B   (incl. the caller's ref)`
    )
    yield* Effect.forEach(refs, (r) => rt.stop(r), { discard: true })
  }
})

Effect.runPromise(program.pipe(Effect.provide(GenServer.layer))).catch((e) => {
  console.error(e)
  process.exit(1)
})
