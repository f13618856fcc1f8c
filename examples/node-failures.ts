/**
 * The guide's "Handle Node Failures": a coordinator keeps a pool of workers on two other
 * nodes and reacts to a node going down —
 *
 *   Cluster.onNodeDown((nodeId, reason) => {
 *     workers = workers.filter((w) => w.nodeId !== nodeId)   // forget the dead node's workers
 *     if (workers.length < minWorkers) spawnMoreWorkers()     // replace them on the survivors
 *   })
 *
 * The coordinator is this process; the two worker nodes are child processes
 * (`worker-pool/worker-node.ts`), so one of them can die for real: it is SIGKILLed, its
 * peers see `connection_closed` at once, and the coordinator spawns replacements on the
 * surviving node (the least loaded one, by `LoadBalancer.spawnOnLeastLoaded`). Then every
 * worker of the pool is called and sent tasks again, to show that the pool works.
 *
 *   npx tsx examples/node-failures.ts
 */
import { Console, Effect, Stream, SynchronizedRef } from "effect"
import { randomBytes } from "node:crypto"
import { Cluster, GenServer, LoadBalancer, RemoteCall, RemoteSpawn } from "noex-effect"
import type { ServerRef } from "noex-effect"
import { describeExit } from "./support/child-node.js"
import { ExampleError, nodeLayer, runExample, short, waitUntil } from "./support/nodes.js"
import { startWorkerNodes } from "./support/worker-nodes.js"
import type { WorkerReply } from "./worker-pool/shared/worker.js"

const MIN_WORKERS = 4
const WORKERS_PER_NODE = 2
const cookie = randomBytes(24).toString("base64url")

const program = Effect.gen(function*() {
  const self = yield* Cluster.getLocalNodeId
  yield* Console.log(`Coordinator: ${self}; the pool keeps at least ${MIN_WORKERS} workers`)
  yield* Effect.forkScoped(
    Stream.runForEach(
      Cluster.nodeEvents,
      (e) =>
        e._tag === "NodeUp"
          ? Console.log(`  + ${e.nodeId} is up`)
          : Console.log(`  - ${e.nodeId} is down (${e.reason})`)
    )
  )
  yield* Effect.yieldNow()

  // Two worker nodes, each its own OS process.
  const { ids, nodes } = yield* startWorkerNodes(cookie)
  const [, worker2] = nodes
  const [worker1Id, worker2Id] = ids

  // The pool: a list of worker refs, updated by effects one at a time.
  const pool = yield* SynchronizedRef.make<ReadonlyArray<ServerRef>>([])
  for (const nodeId of ids) {
    for (let i = 0; i < WORKERS_PER_NODE; i++) {
      const { serverId } = yield* RemoteSpawn.spawn("worker", nodeId)
      yield* SynchronizedRef.update(pool, (ws) => [...ws, { id: serverId, nodeId }])
    }
  }
  const describePool = Effect.map(SynchronizedRef.get(pool), (ws) => {
    const byNode = new Map<string, number>()
    for (const w of ws) byNode.set(short(w.nodeId), (byNode.get(short(w.nodeId)) ?? 0) + 1)
    return `${ws.length} workers (${[...byNode].map(([n, c]) => `${n}: ${c}`).join(", ")})`
  })
  yield* Console.log(`Pool: ${yield* describePool}`)

  // The guide's handler. The callback runs outside this fiber, so it gets the node's services explicitly.
  const services = yield* Effect.context<Cluster.Cluster | RemoteSpawn.RemoteSpawn | GenServer.GenServerRuntime>()
  let killedAt = 0
  yield* Cluster.onNodeDown((nodeId, reason) =>
    SynchronizedRef.updateEffect(pool, (workers) =>
      Effect.gen(function*() {
        const remaining = workers.filter((w) => w.nodeId !== nodeId)
        const since = killedAt > 0 ? `, ${Date.now() - killedAt} ms after the kill` : ""
        yield* Console.log(
          `onNodeDown(${short(nodeId)}, ${reason})${since}: dropped ${
            workers.length - remaining.length
          } workers, ${remaining.length} left`
        )
        const replacements: Array<ServerRef> = []
        while (remaining.length + replacements.length < MIN_WORKERS) {
          const result = yield* LoadBalancer.spawnOnLeastLoaded("worker")
          replacements.push({ id: result.serverId, nodeId: result.nodeId })
          yield* Console.log(
            `  below the minimum of ${MIN_WORKERS}: replacement ${result.serverId} spawned on ${short(result.nodeId)}`
          )
        }
        return [...remaining, ...replacements]
      }).pipe(
        Effect.provide(services),
        // A failed replacement must not lose the dead node's removal: keep the survivors.
        Effect.catchAll((error) =>
          Effect.as(
            Console.log(`  could not spawn a replacement: ${error._tag}`),
            workers.filter((w) => w.nodeId !== nodeId)
          )
        )
      ))
  )

  const submit = (from: number, count: number) =>
    Effect.gen(function*() {
      const ws = yield* SynchronizedRef.get(pool)
      for (let i = from; i < from + count; i++) {
        yield* RemoteCall.cast(ws[i % ws.length]!, { type: "process_task", taskId: `task-${i}`, data: i })
      }
    })
  const stats = Effect.flatMap(
    SynchronizedRef.get(pool),
    (ws) =>
      Effect.forEach(
        ws,
        (w) => Effect.map(RemoteCall.call<WorkerReply>(w, { type: "get_stats" }), (s) => ({ worker: w, ...s })),
        {
          concurrency: "unbounded"
        }
      )
  )

  yield* submit(0, 20)
  yield* Console.log(`Submitted 20 tasks; tasks per worker: ${(yield* stats).map((s) => s.taskCount).join(" ")}`)

  // A node dies abruptly.
  yield* Console.log(`\nSIGKILL ${worker2.name} (pid ${worker2.pid})`)
  killedAt = Date.now()
  yield* worker2.kill("SIGKILL")
  yield* Console.log(`  ${worker2.name} exited: ${describeExit(yield* worker2.exited)}`)
  yield* waitUntil(
    "the pool to replace the lost workers",
    Effect.map(SynchronizedRef.get(pool), (ws) => ws.length >= MIN_WORKERS && ws.every((w) => w.nodeId !== worker2Id))
  )
  yield* Console.log(`Pool: ${yield* describePool}, ${Date.now() - killedAt} ms after the kill`)

  // The pool works: every worker answers a call, and new tasks reach every worker.
  yield* submit(20, 20)
  const after = yield* stats
  const answered = after.length
  yield* Console.log(
    `All ${answered} workers answer get_stats: ${
      after.map((s) => `${short(s.worker.nodeId)}/${s.worker.id}=${s.taskCount}`).join(" ")
    }`
  )
  if (answered < MIN_WORKERS || after.some((s) => s.worker.nodeId !== worker1Id)) {
    return yield* new ExampleError({ message: "the pool did not recover on the surviving node" })
  }
  yield* Console.log(`The pool works again after losing ${short(worker2Id)}; shutting down`)
})

runExample(
  Effect.scoped(program).pipe(Effect.provide(nodeLayer("coordinator", { cookie })))
)
