/**
 * The guide's worker pool ("Complete Example: Worker Pool") without its hand-written
 * failure handling: a DistributedSupervisor keeps six workers alive across three nodes
 * (alpha, beta, gamma — in this process, over TCP on 127.0.0.1), and a process group
 * lists them wherever they run, so the pool dispatches over `ProcessGroups.members`.
 *
 * - Every node runs supervisor `pool` (children join the group `workers` where they start).
 * - alpha starts six workers by id (`worker-1` … `worker-6`); the ids hash over the members.
 * - 60 tasks are cast round-robin over the group's members.
 * - gamma leaves gracefully: its workers move to alpha and beta before it goes (a caller
 *   asking `worker-N` by id all along never fails).
 * - 60 more tasks go to the same group, now all on two nodes; every worker is asked for
 *   its stats by id.
 *
 *   npx tsx examples/supervised-pool.ts
 */
import { Console, Effect, Fiber, Option, Stream } from "effect"
import { DistributedSupervisor, GenServer, ProcessGroups } from "noex-effect"
import type { ChildEvent, ServerRef } from "noex-effect"
import { awaitMesh, ExampleError, runExample, short, startNode, waitUntil } from "./support/nodes.js"
import type { LocalNode } from "./support/nodes.js"
import { workerBehavior } from "./worker-pool/shared/worker.js"
import type { WorkerReply } from "./worker-pool/shared/worker.js"

const POOL = "pool"
const GROUP = "workers"
const WORKERS = 6
const TASKS = 60

const describeEvent = (event: ChildEvent) => {
  switch (event._tag) {
    case "ChildStarted":
      return `ChildStarted ${event.id} on ${short(event.ref.nodeId)}`
    case "ChildRestarted":
      return `ChildRestarted ${event.id}: ${short(event.from)} -> ${short(event.to)}`
    case "ChildStopped":
      return `ChildStopped ${event.id} (${event.reason})`
    case "ConflictResolved":
      return `ConflictResolved ${event.id}`
  }
}

/** Casts `count` tasks round-robin over the group's members as `node` sees them; answers how many went to each node. */
const dispatch = (node: LocalNode, from: number, count: number) =>
  node.run(Effect.gen(function*() {
    const members = yield* ProcessGroups.members(GROUP)
    if (members.length === 0) return yield* new ExampleError({ message: "the group is empty" })
    const perNode = new Map<string, number>()
    for (let i = 0; i < count; i++) {
      const worker: ServerRef = members[i % members.length]!
      yield* GenServer.cast(worker, { type: "process_task", taskId: `task-${from + i}`, data: i })
      perNode.set(short(worker.nodeId), (perNode.get(short(worker.nodeId)) ?? 0) + 1)
    }
    return Array.from(perNode).sort().map(([n, c]) => `${n}=${c}`).join(" ")
  }))

const program = Effect.gen(function*() {
  process.env.QUIET = "1"
  const behaviors = { worker: workerBehavior }
  const alpha = yield* startNode("alpha", { behaviors })
  const beta = yield* startNode("beta", { seeds: [alpha.id], behaviors })
  const gamma = yield* startNode("gamma", { seeds: [alpha.id], behaviors })
  const nodes = [alpha, beta, gamma]
  yield* awaitMesh(nodes)
  yield* Console.log(`Cluster: ${nodes.map((n) => n.name).join(", ")}`)

  // gamma's supervisor lives in its own scope, so it can leave while the others stay.
  for (const node of [alpha, beta]) yield* node.run(DistributedSupervisor.start(POOL, { group: GROUP }))
  const gammaLeaves = yield* Effect.forkScoped(
    gamma.run(Effect.scoped(Effect.zipRight(DistributedSupervisor.start(POOL, { group: GROUP }), Effect.never)))
  )
  yield* waitUntil(
    "the supervisor on every node",
    Effect.map(alpha.run(DistributedSupervisor.members(POOL)), (m) => m.length === 3)
  )
  yield* Effect.forkScoped(
    alpha.run(
      Stream.runForEach(DistributedSupervisor.events(POOL), (e) => Console.log(`  [alpha] ${describeEvent(e)}`))
    )
  )
  yield* Effect.yieldNow()

  yield* Console.log(`\nalpha starts ${WORKERS} workers:`)
  for (let i = 1; i <= WORKERS; i++) {
    yield* alpha.run(DistributedSupervisor.startChild(POOL, { id: `worker-${i}`, behavior: "worker" }))
  }
  yield* waitUntil(
    "every worker in the group on every node",
    Effect.map(
      Effect.forEach(nodes, (n) => n.run(ProcessGroups.members(GROUP))),
      (views) => views.every((v) => v.length === WORKERS)
    )
  )
  yield* Console.log(`Pool: ${WORKERS} workers (${yield* spread(alpha)})`)
  yield* Console.log(`Dispatched ${TASKS} tasks: ${yield* dispatch(beta, 0, TASKS)}`)

  yield* Console.log(`\ngamma leaves gracefully while beta keeps calling worker-3 by id:`)
  let calls = 0
  let failures = 0
  let calling = true
  const caller = yield* Effect.fork(
    beta.run(Effect.whileLoop({
      while: () => calling,
      body: () =>
        DistributedSupervisor.call<WorkerReply>(POOL, "worker-3", { type: "get_stats" }).pipe(
          Effect.match({ onFailure: () => void failures++, onSuccess: () => void calls++ }),
          // A local call answers synchronously: a loop of them must let the node's I/O run.
          Effect.zipRight(Effect.sleep("1 millis"))
        ),
      step: () => Effect.void
    }))
  )
  // Interrupting the fiber closes gamma's supervisor scope: the handoff runs, then it returns.
  yield* Fiber.interrupt(gammaLeaves)
  yield* waitUntil(
    "gamma's workers to run elsewhere",
    Effect.map(
      alpha.run(ProcessGroups.members(GROUP)),
      (m) => m.length === WORKERS && m.every((r) => r.nodeId !== gamma.id)
    )
  )
  calling = false
  yield* caller.await
  yield* Console.log(`  calls to worker-3 meanwhile: ${calls}, failed: ${failures}`)
  if (failures > 0) return yield* new ExampleError({ message: "a call by id failed during the handoff" })
  yield* gamma.stop
  yield* Console.log(`Pool: ${WORKERS} workers (${yield* spread(alpha)})`)
  yield* Console.log(`Dispatched ${TASKS} tasks: ${yield* dispatch(beta, TASKS, TASKS)}`)

  let total = 0
  for (let i = 1; i <= WORKERS; i++) {
    const stats = yield* beta.run(DistributedSupervisor.call<WorkerReply>(POOL, `worker-${i}`, { type: "get_stats" }))
    const at = Option.getOrThrow(yield* beta.run(DistributedSupervisor.whereis(POOL, `worker-${i}`)))
    total += stats.taskCount
    yield* Console.log(`  worker-${i} on ${short(at.nodeId)}: ${stats.taskCount} tasks`)
  }
  yield* Console.log(
    `Tasks counted by the workers: ${total} (a moved worker starts afresh: its state is not handed over)`
  )
  yield* Console.log("\nShutting down the two nodes")
})

/** How many workers each node runs, as the group shows it. */
const spread = (node: LocalNode) =>
  Effect.map(node.run(ProcessGroups.members(GROUP)), (members) => {
    const perNode = new Map<string, number>()
    for (const m of members) perNode.set(short(m.nodeId), (perNode.get(short(m.nodeId)) ?? 0) + 1)
    return Array.from(perNode).sort().map(([n, c]) => `${n}: ${c}`).join(", ")
  })

runExample(Effect.scoped(program))
