/**
 * GlobalRegistry on 3 nodes (this process and two OS processes): registrations per
 * second, and the time until a registration is visible on every node, beside a raw
 * `node:net` round trip measured in the same run.
 */
import { Deferred, Effect, Layer, Logger, LogLevel } from "effect"
import { fileURLToPath } from "node:url"
import { BehaviorRegistry, Cluster, GenServer, GlobalRegistry, TcpTransport } from "../src/node.js"
import type { NodeId } from "../src/node.js"
import { fmt, percentile, rawPingPong, report } from "./internal/baseline.js"
import { startChild } from "./internal/child.js"

const ROUNDS = 300
const BULK = 5000

const program = (remotes: ReadonlyArray<NodeId>) =>
  Effect.gen(function*() {
    const cluster = yield* Cluster.Cluster
    const registry = yield* GlobalRegistry.GlobalRegistry
    // Every far node casts { name } here when it sees a registration.
    const seen = new Map<string, number>()
    const waiters = new Map<string, Deferred.Deferred<void>>()
    const collector = yield* GenServer.start(
      GenServer.behavior({
        init: () => null,
        handleCall: (_: unknown, s: null) => [s, s] as const,
        handleCast: (msg: { name: string }, s: null) => {
          const n = (seen.get(msg.name) ?? 0) + 1
          seen.set(msg.name, n)
          if (n === remotes.length) {
            const w = waiters.get(msg.name)
            if (w !== undefined) Deferred.unsafeDone(w, Effect.void)
          }
          return s
        }
      })
    )
    yield* registry.register("bench:collector", collector)
    while ((yield* cluster.getConnectedNodes).length < remotes.length) yield* Effect.sleep("20 millis")
    yield* Effect.sleep("200 millis")
    const worker = GenServer.behavior({
      init: () => 0,
      handleCall: (_: unknown, s: number) => [s, s] as const,
      handleCast: (_: unknown, s: number) => s
    })

    // Visibility: register one name, wait until both far nodes report it.
    const latencies: Array<number> = []
    for (let i = 0; i < ROUNDS; i++) {
      const ref = yield* GenServer.start(worker)
      const name = `visible:${i}`
      const done = yield* Deferred.make<void>()
      waiters.set(name, done)
      const t0 = performance.now()
      yield* registry.register(name, ref)
      yield* Deferred.await(done)
      latencies.push((performance.now() - t0) * 1000)
    }
    const raw = yield* Effect.promise(() => rawPingPong({ bytes: 64, outstanding: 1, durationMs: 1500 }))
    const rawP50 = percentile(raw.latenciesUs, 50)
    const p50 = percentile(latencies, 50)
    const p99 = percentile(latencies, 99)
    console.log("\n== GlobalRegistry, 3 nodes (2 OS processes + this one) ==")
    console.log(
      `${"visible on all 3 nodes, p50 / p99".padEnd(44)} ${p50.toFixed(0).padStart(8)} / ${
        p99.toFixed(0)
      } µs   raw net round trip p50 ${rawP50.toFixed(0)} µs   ratio ${(p50 / rawP50).toFixed(2)}x`
    )
    console.log("  (measured until both far nodes' notifications arrive back: one extra one-way hop included)")

    // Throughput: BULK registrations back to back, then until both far nodes have them all.
    const refs = yield* Effect.forEach(Array.from({ length: BULK }), () => GenServer.start(worker))
    const last = `bulk:${BULK - 1}`
    const allSeen = yield* Deferred.make<void>()
    waiters.set(last, allSeen)
    const t0 = performance.now()
    for (let i = 0; i < BULK; i++) yield* registry.register(`bulk:${i}`, refs[i]!)
    const registered = performance.now()
    yield* Deferred.await(allSeen)
    const converged = performance.now()
    report(
      `registrations/s (${fmt(BULK)} back to back)`,
      BULK / ((registered - t0) / 1000),
      "raw net seq rt",
      raw.perSecond
    )
    console.log(
      `${"  all visible on 3 nodes after".padEnd(44)} ${(converged - t0).toFixed(1).padStart(8)} ms   (${
        fmt(BULK / ((converged - t0) / 1000))
      } names/s end to end)`
    )
  })

const main = async () => {
  const layer = Cluster.layer({ nodeName: "bench", port: 0 }).pipe(
    Layer.provide(BehaviorRegistry.layer({})),
    Layer.provide(TcpTransport.layer)
  )
  await Effect.runPromise(
    Effect.gen(function*() {
      const self = yield* Cluster.getLocalNodeId
      const script = fileURLToPath(new URL("./internal/registry-node.ts", import.meta.url))
      const b = yield* Effect.promise(() => startChild<{ nodeId: NodeId }>(script, [self, "b"]))
      const c = yield* Effect.promise(() => startChild<{ nodeId: NodeId }>(script, [self, "c"]))
      yield* Effect.ensuring(
        program([b.info.nodeId, c.info.nodeId]),
        Effect.sync(() => {
          b.child.kill("SIGKILL")
          c.child.kill("SIGKILL")
        })
      )
    }).pipe(Effect.provide(layer), Logger.withMinimumLogLevel(LogLevel.Warning))
  )
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
