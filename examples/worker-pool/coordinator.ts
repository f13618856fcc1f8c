/**
 * coordinator.ts — the guide's `WorkerPool` ("Complete Example: Worker Pool") as an Effect
 * program: `initialize(workersPerNode)` spawns workers on every connected node, `submitTask`
 * casts tasks round-robin, `getStats` calls every worker.
 *
 * `examples/worker-pool/main.ts` uses it to run the whole demo in one command. This file is
 * also the guide's coordinator program, for a cluster started by hand in three terminals:
 *
 *   NOEX_COOKIE=s3cret NOEX_PORT=4370 npx tsx examples/worker-pool/worker-node.ts worker1
 *   NOEX_COOKIE=s3cret NOEX_PORT=4371 npx tsx examples/worker-pool/worker-node.ts worker2 worker1@127.0.0.1:4370
 *   NOEX_COOKIE=s3cret SEEDS=worker1@127.0.0.1:4370 EXPECT_NODES=2 npx tsx examples/worker-pool/coordinator.ts
 *
 * (`NOEX_PORT`, default 4369 as in the guide; `EXPECT_NODES`, default 1: how many nodes to
 * wait for instead of the guide's fixed two-second sleep.)
 */
import { Config, Console, Data, Effect, Option, Ref } from "effect"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { Cluster, RemoteCall, RemoteSpawn } from "noex-effect"
import type { CallError, ServerRef } from "noex-effect"
import { nodeLayer, runExample } from "../support/nodes.js"
import { workerBehavior } from "./shared/worker.js"
import type { WorkerCast, WorkerReply } from "./shared/worker.js"

/** A worker's address: the guide's `WorkerRef { id, nodeId }`, which is a `ServerRef`. */
export type WorkerRef = ServerRef

/** The guide throws `new Error('No workers available')`; here it is a typed failure. */
export class NoWorkersAvailableError extends Data.TaggedError("NoWorkersAvailableError") {}

/** The guide's `WorkerPool`, its methods as Effects over the node's services. */
export interface WorkerPool {
  /** Spawns `workersPerNode` workers on every connected node, one after another. */
  readonly initialize: (
    workersPerNode: number
  ) => Effect.Effect<void, RemoteSpawn.SpawnError, Cluster.Cluster | RemoteSpawn.RemoteSpawn>
  /** Casts a task to the next worker in turn. */
  readonly submitTask: (
    taskId: string,
    data: unknown
  ) => Effect.Effect<void, NoWorkersAvailableError, RemoteCall.RemoteCall>
  /** Calls every worker (concurrently) for its stats, in worker order. */
  readonly getStats: Effect.Effect<ReadonlyArray<WorkerReply>, CallError, RemoteCall.RemoteCall>
  /** The workers, in spawn order. */
  readonly workers: Effect.Effect<ReadonlyArray<WorkerRef>>
}

/** Makes an empty pool. */
export const makeWorkerPool: Effect.Effect<WorkerPool> = Effect.gen(function*() {
  const workers = yield* Ref.make<ReadonlyArray<WorkerRef>>([])
  const roundRobin = yield* Ref.make(0)

  const initialize = (workersPerNode: number) =>
    Effect.gen(function*() {
      const nodes = yield* Cluster.getConnectedNodes
      for (const node of nodes) {
        for (let i = 0; i < workersPerNode; i++) {
          const result = yield* RemoteSpawn.spawn("worker", node.id)
          yield* Ref.update(workers, (ws) => [...ws, { id: result.serverId, nodeId: result.nodeId }])
          yield* Console.log(`  spawned worker ${result.serverId} on ${result.nodeId}`)
        }
      }
      yield* Console.log(`Initialized ${(yield* Ref.get(workers)).length} workers`)
    })

  const submitTask = (taskId: string, data: unknown) =>
    Effect.gen(function*() {
      const ws = yield* Ref.get(workers)
      if (ws.length === 0) return yield* new NoWorkersAvailableError()
      const worker = ws[(yield* Ref.getAndUpdate(roundRobin, (n) => n + 1)) % ws.length]!
      const message: WorkerCast = { type: "process_task", taskId, data }
      // A cast never waits. It only fails for a message that cannot be sent at all (over the
      // frame limit, or not encodable) — impossible for this one, so such a failure is a defect.
      yield* Effect.orDie(RemoteCall.cast(worker, message))
    })

  const getStats = Effect.flatMap(
    Ref.get(workers),
    (ws) =>
      Effect.forEach(ws, (worker) => RemoteCall.call<WorkerReply>(worker, { type: "get_stats" }), {
        concurrency: "unbounded"
      })
  )

  return { initialize, submitTask, getStats, workers: Ref.get(workers) }
})

/** The guide's `main()` body, on a node that is already up: wait for peers, spawn, submit, collect. */
export const runWorkerPool = (
  options: { readonly expectNodes: number; readonly workersPerNode: number; readonly tasks: number }
) =>
  Effect.gen(function*() {
    // The guide sleeps two seconds "to wait for nodes to join"; we wait for them instead.
    yield* Cluster.awaitNodes({ count: options.expectNodes, timeout: "15 seconds" })
    const pool = yield* makeWorkerPool
    yield* pool.initialize(options.workersPerNode)
    for (let i = 0; i < options.tasks; i++) {
      yield* pool.submitTask(`task-${i}`, { value: i })
    }
    yield* Console.log(`Submitted ${options.tasks} tasks`)
    const stats = yield* pool.getStats
    return { workers: yield* pool.workers, stats }
  })

// ---- run as a program (the guide's coordinator) ---------------------------------------------

const isEntryPoint = () => {
  try {
    return process.argv[1] !== undefined &&
      fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  const guideMain = Effect.gen(function*() {
    const env = yield* Config.all({
      port: Config.integer("NOEX_PORT").pipe(Config.withDefault(4369)),
      seeds: Config.string("SEEDS").pipe(Config.withDefault("")),
      cookie: Config.option(Config.redacted("NOEX_COOKIE")),
      expectNodes: Config.integer("EXPECT_NODES").pipe(Config.withDefault(1))
    })
    const layer = nodeLayer("coordinator", {
      port: env.port,
      seeds: env.seeds.split(",").filter((s) => s.length > 0),
      cookie: Option.getOrUndefined(env.cookie),
      behaviors: { worker: workerBehavior }
    })
    const { stats } = yield* runWorkerPool({ expectNodes: env.expectNodes, workersPerNode: 3, tasks: 100 }).pipe(
      Effect.provide(layer)
    )
    yield* Console.log("Worker stats:", stats)
  })
  runExample(guideMain)
}
