/**
 * The guide's worker pool, kept whole by monitors instead of `Cluster.onNodeDown`: the
 * coordinator watches every worker with `GenServer.monitor` and replaces each one on its
 * own `Down` (docs/failures.md) —
 *
 *   const m = yield* GenServer.monitor(worker)
 *   yield* Effect.forkScoped(Effect.flatMap(m.down, replace))
 *
 * The coordinator is this process; the two worker nodes are child processes
 * (`worker-pool/worker-node.ts`). First one worker exits with an error (as a crash would):
 * its Down says `{ error }` and one replacement is spawned. Then a worker node is
 * SIGKILLed: each of its workers' Downs says `noconnection` the moment the link goes, and
 * they are replaced on the surviving node. Every worker of the pool answers after each.
 *
 *   npx tsx examples/failures.ts
 */
import { Console, Effect, Scope, SynchronizedRef } from "effect"
import { randomBytes } from "node:crypto"
import { Cluster, GenServer, LoadBalancer, RemoteCall, RemoteSpawn } from "noex-effect"
import type { Down, ServerRef } from "noex-effect"
import { describeExit } from "./support/child-node.js"
import { ExampleError, nodeLayer, runExample, short, waitUntil } from "./support/nodes.js"
import { startWorkerNodes } from "./support/worker-nodes.js"
import type { WorkerReply } from "./worker-pool/shared/worker.js"

const WORKERS_PER_NODE = 2
const cookie = randomBytes(24).toString("base64url")

const describeReason = (reason: Down["reason"]) =>
  typeof reason === "string" ? reason : "error" in reason ? `{ error: ${reason.error.message} }` : "conflict"

const program = Effect.gen(function*() {
  const self = yield* Cluster.getLocalNodeId
  yield* Console.log(`Coordinator: ${self}`)
  const { ids, nodes } = yield* startWorkerNodes(cookie)
  const [, worker2] = nodes
  const [worker1Id, worker2Id] = ids

  const pool = yield* SynchronizedRef.make<ReadonlyArray<ServerRef>>([])
  const scope = yield* Scope.Scope
  // The Downs are handled in fibers of their own: they get the node's services explicitly.
  const services = yield* Effect.context<Cluster.Cluster | GenServer.GenServerRuntime | RemoteSpawn.RemoteSpawn>()
  let killedAt = 0

  // Watches one worker: its Down replaces it (the replacement is watched in turn).
  const watch = (worker: ServerRef): Effect.Effect<void> =>
    Effect.gen(function*() {
      const monitor = yield* Scope.extend(GenServer.monitor(worker), scope)
      yield* Effect.forkIn(Effect.flatMap(monitor.down, replace), scope)
    }).pipe(Effect.provide(services))
  const replace = (down: Down): Effect.Effect<void> =>
    SynchronizedRef.updateEffect(pool, (workers) =>
      Effect.gen(function*() {
        const since = down.reason === "noconnection" && killedAt > 0
          ? `, ${Date.now() - killedAt} ms after the kill`
          : ""
        yield* Console.log(`  Down ${short(down.ref.nodeId)}/${down.ref.id}: ${describeReason(down.reason)}${since}`)
        const spawned = yield* LoadBalancer.spawnOnLeastLoaded("worker")
        const replacement = { id: spawned.serverId, nodeId: spawned.nodeId }
        yield* watch(replacement)
        yield* Console.log(`    replaced by ${short(replacement.nodeId)}/${replacement.id}`)
        return [...workers.filter((w) => w.id !== down.ref.id || w.nodeId !== down.ref.nodeId), replacement]
      }).pipe(
        Effect.catchAll((error) =>
          Effect.as(Console.log(`    no replacement: ${error._tag}`), workers.filter((w) => w.id !== down.ref.id))
        ),
        Effect.provide(services)
      ))

  for (const nodeId of ids) {
    for (let i = 0; i < WORKERS_PER_NODE; i++) {
      const { serverId } = yield* RemoteSpawn.spawn("worker", nodeId)
      const worker = { id: serverId, nodeId }
      yield* SynchronizedRef.update(pool, (ws) => [...ws, worker])
      yield* watch(worker)
    }
  }
  const describePool = Effect.map(SynchronizedRef.get(pool), (ws) => ws.map((w) => short(w.nodeId)).join(" "))
  const answering = Effect.flatMap(
    SynchronizedRef.get(pool),
    (ws) =>
      Effect.forEach(ws, (w) => RemoteCall.call<WorkerReply>(w, { type: "get_stats" }), { concurrency: "unbounded" })
  )
  yield* Console.log(`Pool: ${yield* describePool}`)

  // One worker ends with an error.
  const [first] = yield* SynchronizedRef.get(pool)
  yield* Console.log(`\n${short(first!.nodeId)}/${first!.id} exits with an error`)
  yield* GenServer.stop(first!, { error: new Error("disk full") })
  yield* waitUntil(
    "the crashed worker to be replaced",
    Effect.map(SynchronizedRef.get(pool), (ws) => ws.length === 4 && ws.every((w) => w.id !== first!.id))
  )
  yield* Console.log(`Pool: ${yield* describePool}; all ${(yield* answering).length} workers answer`)

  // A worker node dies.
  yield* Console.log(`\nSIGKILL ${worker2.name} (pid ${worker2.pid})`)
  killedAt = Date.now()
  yield* worker2.kill("SIGKILL")
  yield* Console.log(`  ${worker2.name} exited: ${describeExit(yield* worker2.exited)}`)
  yield* waitUntil(
    "the pool to replace the lost workers",
    Effect.map(SynchronizedRef.get(pool), (ws) => ws.length === 4 && ws.every((w) => w.nodeId !== worker2Id))
  )
  const after = yield* answering
  yield* Console.log(`Pool: ${yield* describePool}; all ${after.length} workers answer`)
  if (after.length !== 4 || (yield* SynchronizedRef.get(pool)).some((w) => w.nodeId !== worker1Id)) {
    return yield* new ExampleError({ message: "the pool did not recover on the surviving node" })
  }
  yield* Console.log(`The pool replaced every dead worker on its Down; shutting down`)
})

runExample(Effect.scoped(program).pipe(Effect.provide(nodeLayer("coordinator", { cookie }))))
