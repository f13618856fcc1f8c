/**
 * The guide's "Load Balancing Strategies" with `LoadBalancer`, on three nodes (alpha, beta,
 * gamma) running in this process over TCP on 127.0.0.1. Every spawn is asked from alpha.
 *
 * 1. Round-robin (`LoadBalancer.roundRobin`): six workers over the connected nodes in turn.
 * 2. Least-loaded (`LoadBalancer.spawnOnLeastLoaded`): beta is made busier, then each new
 *    worker goes to the node with the fewest processes. Process counts travel in heartbeats,
 *    so the nodes beat every 200 ms and alpha waits for the next beat after each spawn.
 * 3. Locality-aware (`LoadBalancer.spawnPreferLocal`): a `worker` lands on alpha itself; a
 *    `gpu-job`, registered only on gamma, falls back from alpha (BehaviorNotFoundError) to
 *    the connected nodes in turn until one has it.
 *
 *   npx tsx examples/load-balancing.ts
 */
import { Console, Effect } from "effect"
import { BehaviorRegistry, Cluster, GenServer, LoadBalancer, RemoteSpawn } from "noex-effect"
import type { NodeId, NodeInfo } from "noex-effect"
import { awaitMesh, ExampleError, runExample, short, startNode, waitUntil } from "./support/nodes.js"

const worker = GenServer.behavior({
  init: () => ({ jobs: 0 }),
  handleCall: (_: "get", state: { jobs: number }) => [state.jobs, state] as const,
  handleCast: (_: "job", state: { jobs: number }) => ({ jobs: state.jobs + 1 })
})

const gpuJob = GenServer.behavior({
  init: () => "idle",
  handleCall: (_: "status", state: string) => [state, state] as const,
  handleCast: (_: unknown, state: string) => state
})

/** Process counts as alpha sees them (from heartbeats), e.g. "beta=7 gamma=3". */
const counts = (nodes: ReadonlyArray<NodeInfo>) => nodes.map((n) => `${short(n.id)}=${n.processCount}`).join(" ")

const program = Effect.gen(function*() {
  const config = { heartbeatInterval: "200 millis" } as const
  const alpha = yield* startNode("alpha", { ...config, behaviors: { worker } })
  const beta = yield* startNode("beta", { ...config, seeds: [alpha.id], behaviors: { worker } })
  const gamma = yield* startNode("gamma", { ...config, seeds: [alpha.id], behaviors: { worker, "gpu-job": gpuJob } })
  const nodes = [alpha, beta, gamma]
  yield* awaitMesh(nodes)
  yield* Console.log(`Cluster: ${nodes.map((n) => n.id).join(", ")}`)
  yield* Console.log(
    `  behaviors: ${
      (yield* Effect.forEach(nodes, (n) =>
        Effect.map(n.run(BehaviorRegistry.getNames), (names) =>
          `${n.name}=[${names.join(", ")}]`))).join(" ")
    }`
  )
  const nodeOf = (id: NodeId) => nodes.find((n) => n.id === id)!.name

  // ---- 1. round-robin ------------------------------------------------------------------------
  yield* Console.log("\n1. Round-robin from alpha (LoadBalancer.roundRobin: connected nodes in turn)")
  const spawner = yield* LoadBalancer.roundRobin()
  const placed: Array<string> = []
  for (let i = 1; i <= 6; i++) {
    const result = yield* alpha.run(spawner.spawn("worker"))
    placed.push(nodeOf(result.nodeId))
    yield* Console.log(`  worker ${i} -> ${result.nodeId} (${result.serverId})`)
  }
  yield* Console.log(`  placement: ${placed.join(", ")}`)

  // ---- 2. least-loaded -----------------------------------------------------------------------
  yield* Console.log("\n2. Least-loaded (LoadBalancer.spawnOnLeastLoaded: fewest processes, as of the last heartbeat)")
  yield* Console.log("  making beta busier: 4 more processes started on beta itself")
  for (let i = 0; i < 4; i++) yield* beta.run(GenServer.start(worker))
  // Counts travel in heartbeats: wait until alpha's view matches what each node really runs.
  const caughtUp = waitUntil(
    "a heartbeat with the new process counts",
    Effect.gen(function*() {
      const seen = yield* alpha.run(Cluster.getConnectedNodes)
      const actual = yield* Effect.forEach([beta, gamma], (n) => n.run(GenServer.processCount))
      return [beta, gamma].every((n, i) => seen.find((s) => s.id === n.id)?.processCount === actual[i])
    })
  )
  yield* caughtUp
  for (let i = 1; i <= 5; i++) {
    const before = yield* alpha.run(Cluster.getConnectedNodes)
    const result = yield* alpha.run(LoadBalancer.spawnOnLeastLoaded("worker"))
    yield* Console.log(`  counts seen by alpha: ${counts(before)} -> spawned on ${nodeOf(result.nodeId)}`)
    // Wait a beat: the next heartbeat from that node carries its new count.
    yield* caughtUp
  }
  yield* Console.log(
    `  counts seen by alpha: ${
      counts(yield* alpha.run(Cluster.getConnectedNodes))
    } (ties go to the first node in connection order)`
  )

  // ---- 3. locality-aware ---------------------------------------------------------------------
  yield* Console.log("\n3. Locality-aware (LoadBalancer.spawnPreferLocal: this node first, then the others)")
  const local = yield* alpha.run(LoadBalancer.spawnPreferLocal("worker"))
  yield* Console.log(`  'worker' from alpha -> ${nodeOf(local.nodeId)} (alpha has the behavior: spawned locally)`)
  if (local.nodeId !== alpha.id) {
    return yield* new ExampleError({ message: "expected the local spawn to stay on alpha" })
  }

  const attempt = yield* Effect.flip(alpha.run(RemoteSpawn.spawn("gpu-job", alpha.id)))
  yield* Console.log(`  'gpu-job' on alpha itself fails: ${attempt._tag} (${attempt.message})`)
  const order = (yield* alpha.run(Cluster.getConnectedNodes)).map((n) => n.id)
  const fallback = yield* alpha.run(LoadBalancer.spawnPreferLocal("gpu-job"))
  const tried = ["alpha", ...order.slice(0, order.indexOf(fallback.nodeId) + 1).map(nodeOf)]
  yield* Console.log(`  'gpu-job' from alpha -> ${nodeOf(fallback.nodeId)} (fell back; tried ${tried.join(", then ")})`)
  if (fallback.nodeId !== gamma.id) {
    return yield* new ExampleError({ message: "expected the gpu-job to fall back to gamma" })
  }

  yield* Console.log("\nWhere the processes are now:")
  for (const node of nodes) {
    const n = yield* node.run(GenServer.processCount)
    yield* Console.log(`  ${node.name}: ${n} process${n === 1 ? "" : "es"}`)
  }
})

runExample(Effect.scoped(program))
