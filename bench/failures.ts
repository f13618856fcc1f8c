/**
 * The failure model across two OS processes over TcpTransport: monitors made and dropped
 * per second, and how long one process's exit takes to reach 10,000 monitors of it, beside
 * a raw `node:net` round trip measured in the same run.
 */
import { Effect } from "effect"
import { Cluster, GenServer, RemoteCall, RemoteSpawn } from "../src/node.js"
import type { NodeId } from "../src/node.js"
import { runAgainstNodeServer } from "./internal/against-node-server.js"
import { fmt, percentile, rawRemotePingPong, report } from "./internal/baseline.js"

/** Monitor + demonitor pairs per measurement: enough to take a second or more. */
const PAIRS = 200_000
/** The fan-out the issue asks for: one process, this many monitors. */
const FAN_OUT = 10_000
const ROUNDS = 5

const program = (server: { nodeId: NodeId; rawPort: number }) =>
  Effect.gen(function*() {
    const cluster = yield* Cluster.Cluster
    while (!(yield* cluster.isNodeConnected(server.nodeId))) yield* Effect.sleep("10 millis")
    const rt = yield* GenServer.GenServerRuntime
    const spawnRef = Effect.map(
      RemoteSpawn.spawn("counter", server.nodeId),
      (s) => ({ id: s.serverId, nodeId: s.nodeId })
    )
    const ref = yield* spawnRef

    console.log("\n== failures: monitors across two OS processes ==")
    const raw = yield* Effect.promise(() =>
      rawRemotePingPong({ port: server.rawPort, bytes: 16, outstanding: 1, durationMs: 2000 })
    )
    // Warm-up, then a measured batch, through the public API as a program writes it (a
    // scoped monitor, dropped); the call after it is answered once the far node took every pair.
    const pair = Effect.scoped(Effect.flatMap(GenServer.monitor(ref), GenServer.demonitor))
    const pairs = (n: number) =>
      Effect.gen(function*() {
        const t0 = performance.now()
        for (let i = 0; i < n; i++) yield* pair
        yield* RemoteCall.call(ref, "get", { timeout: "60 seconds" })
        return n / ((performance.now() - t0) / 1000)
      })
    yield* pairs(PAIRS / 4)
    const rates: Array<number> = []
    for (let r = 0; r < 3; r++) rates.push(yield* pairs(PAIRS))
    rates.sort((a, b) => a - b)
    report("monitor + demonitor of a remote ref", rates[1]!, "raw net seq rt", raw.perSecond)

    const firsts: Array<number> = []
    const lasts: Array<number> = []
    for (let r = 0; r < ROUNDS; r++) {
      const target = yield* spawnRef
      let fired = 0
      let first = 0
      let last = 0
      let t0 = 0
      for (let i = 0; i < FAN_OUT; i++) {
        rt.watch(target, () => {
          const now = performance.now()
          if (fired++ === 0) first = now - t0
          if (fired === FAN_OUT) last = now - t0
        })
      }
      // Every Monitor frame is on the far node once a call after them is answered.
      yield* RemoteCall.call(target, "get")
      t0 = performance.now()
      yield* GenServer.stop(target)
      while (fired < FAN_OUT) yield* Effect.sleep("1 millis")
      firsts.push(first)
      lasts.push(last)
    }
    const rawRtMs = percentile(raw.latenciesUs, 50) / 1000
    console.log(
      `${`Down to ${fmt(FAN_OUT)} monitors after stop, median of ${ROUNDS}`.padEnd(44)} first ${
        percentile(firsts, 50).toFixed(2)
      } ms, all ${percentile(lasts, 50).toFixed(2)} ms   raw net rt p50 ${rawRtMs.toFixed(3)} ms   all / rt ${
        (percentile(lasts, 50) / rawRtMs).toFixed(1)
      }x (${(percentile(lasts, 50) * 1000 / FAN_OUT).toFixed(2)} µs per Down)`
    )
  })

runAgainstNodeServer(program)
