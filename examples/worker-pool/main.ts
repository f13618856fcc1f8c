/**
 * The worker-pool demo (`npm run demo`): the guide's "Complete Example: Worker Pool" on a
 * real three-node cluster on 127.0.0.1, in one command.
 *
 * - This process is the coordinator node (`coordinator.ts` holds the guide's WorkerPool).
 * - Two worker nodes run as child processes (`worker-node.ts`), each on a free port, seeded
 *   with the coordinator's NodeId. A random cookie, made here, is shared with them through
 *   `NOEX_COOKIE`: every connection proves it.
 * - The pool spawns 3 workers on each connected node (6), casts 100 tasks round-robin,
 *   calls every worker for its stats, and prints a summary.
 * - Then the worker nodes are stopped (SIGTERM: they leave gracefully) and the coordinator
 *   leaves. Ctrl-C at any moment does the same and exits 130; no process is left behind.
 *
 *   npx tsx examples/worker-pool/main.ts [--verbose]
 *
 * `--verbose` (or `VERBOSE=1`) also shows the workers' "Processing task ..." lines.
 */
import { Console, Effect, Exit, Stream } from "effect"
import { randomBytes } from "node:crypto"
import { Cluster } from "noex-effect"
import type { NodeId } from "noex-effect"
import { describeExit, spawnChildNode } from "../support/child-node.js"
import type { ChildNode } from "../support/child-node.js"
import { ExampleError, nodeLayer, runExample } from "../support/nodes.js"
import { makeWorkerPool } from "./coordinator.js"
import { workerBehavior } from "./shared/worker.js"

const WORKER_NODES = ["worker1", "worker2"] as const
const WORKERS_PER_NODE = 3
const TASKS = 100

const verbose = process.argv.includes("--verbose") || process.env["VERBOSE"] === "1"
/** The cluster's shared secret, fresh for every run. */
const cookie = randomBytes(24).toString("base64url")

const children: Array<ChildNode> = []

const demo = Effect.gen(function*() {
  const startedAt = Date.now()
  const elapsed = () => `${((Date.now() - startedAt) / 1000).toFixed(1)} s`
  const self = yield* Cluster.getLocalNodeId
  yield* Console.log(`Worker pool demo: ${WORKER_NODES.length + 1} nodes on 127.0.0.1, one random cookie shared by all`)
  yield* Console.log(`[1/5] coordinator node is up: ${self}`)

  // The coordinator's view of the cluster, as it changes.
  yield* Effect.forkScoped(
    Stream.runForEach(Cluster.nodeEvents, (event) =>
      event._tag === "NodeUp"
        ? Console.log(`  + ${event.nodeId} joined`)
        : Console.log(`  - ${event.nodeId} left (${event.reason})`))
  )
  yield* Effect.yieldNow()

  yield* Effect.scoped(
    Effect.gen(function*() {
      for (const name of WORKER_NODES) {
        children.push(
          yield* spawnChildNode({
            name,
            script: "examples/worker-pool/worker-node.ts",
            args: [name, self],
            env: { NOEX_COOKIE: cookie, EXIT_ON_STDIN_END: "1", ...(verbose ? {} : { QUIET: "1" }) },
            onOutput: (line) => console.log(`    ${name} | ${line}`)
          })
        )
      }
      yield* Effect.addFinalizer((exit) =>
        Exit.isInterrupted(exit)
          ? Console.log("\nInterrupted: stopping the worker nodes, then leaving the cluster")
          : Effect.void
      )
      yield* Console.log(
        `[2/5] started worker node processes: ${children.map((c) => `${c.name} (pid ${c.pid})`).join(", ")}`
      )
      yield* Console.log(`child pids: ${children.map((c) => c.pid).join(" ")}`)

      const ids: ReadonlyArray<NodeId> = yield* Effect.forEach(children, (c) => c.ready, { concurrency: "unbounded" })
      yield* Cluster.awaitNodes({ ids, timeout: "20 seconds" })
      yield* Console.log(
        `[3/5] cluster of ${
          ids.length + 1
        } nodes is up (${elapsed()}); spawning ${WORKERS_PER_NODE} workers on each worker node`
      )

      const pool = yield* makeWorkerPool
      yield* pool.initialize(WORKERS_PER_NODE)

      yield* Console.log(`[4/5] submitting ${TASKS} tasks round-robin (casts)`)
      for (let i = 0; i < TASKS; i++) {
        yield* pool.submitTask(`task-${i}`, { value: i })
        if ((i + 1) % 25 === 0) yield* Console.log(`  submitted ${i + 1}/${TASKS}`)
      }

      yield* Console.log("[5/5] collecting stats from every worker (calls)")
      const stats = yield* pool.getStats
      const workers = yield* pool.workers
      yield* Console.log(`Worker stats: ${JSON.stringify(stats)}`)

      const total = stats.reduce((sum, s) => sum + s.taskCount, 0)
      const byNode = new Map<NodeId, Array<number>>()
      workers.forEach((w, i) => byNode.set(w.nodeId, [...(byNode.get(w.nodeId) ?? []), stats[i]!.taskCount]))
      yield* Console.log("\nSummary")
      yield* Console.log(`  nodes:            ${ids.length + 1} (${[self, ...ids].join(", ")})`)
      for (const [nodeId, counts] of byNode) {
        yield* Console.log(
          `  ${nodeId}: ${counts.length} workers, tasks per worker ${counts.join(" ")} (${
            counts.reduce((a, b) => a + b, 0)
          })`
        )
      }
      yield* Console.log(`  total = ${total} tasks processed by ${workers.length} workers`)
      if (total !== TASKS || workers.length !== WORKER_NODES.length * WORKERS_PER_NODE) {
        return yield* new ExampleError({
          message: `expected ${TASKS} tasks on ${WORKER_NODES.length * WORKERS_PER_NODE} workers`
        })
      }
      yield* Console.log("\nShutting down: the worker nodes get SIGTERM and leave gracefully")
    })
  )
  // The worker nodes have exited (the scope above awaited them); the coordinator leaves next.
  for (const child of children) {
    yield* Console.log(`  ${child.name} (pid ${child.pid}) exited: ${describeExit(yield* child.exited)}`)
  }
  yield* Console.log(`Done in ${elapsed()}`)
})

const program = Effect.scoped(demo).pipe(
  Effect.provide(nodeLayer("coordinator", { cookie, behaviors: { worker: workerBehavior } })),
  Effect.onInterrupt(() =>
    Effect.forEach(
      children,
      (child) =>
        Effect.flatMap(child.exited, (exit) =>
          Console.log(`  ${child.name} (pid ${child.pid}) exited: ${describeExit(exit)}`))
    )
  )
)

runExample(program)
