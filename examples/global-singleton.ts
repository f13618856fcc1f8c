/**
 * The guide's singleton pattern ("Use GlobalRegistry for Singletons"): a `cluster:leader`
 * registered cluster-wide, with three contenders — alpha, beta and gamma, in this process
 * over TCP on 127.0.0.1 — running the guide's code at the same moment:
 *
 *   if (!GlobalRegistry.isRegistered(LEADER_NAME)) spawn('leader', localNodeId, { name, registration: 'global' })
 *   else whereis(LEADER_NAME)
 *
 * Each contender checks its own replica, so in a race several of them register. A race is
 * decided after the fact, the same way on every node (first registered in causal order, then
 * the lower NodeId): the losers' processes are stopped with reason `{ conflict: name }` and every
 * node publishes `ConflictResolved`. The example shows the race, the events, that every node's
 * `whereis` agrees, and that exactly one leader process is alive.
 *
 *   npx tsx examples/global-singleton.ts
 */
import { Console, Deferred, Effect, Option, Stream } from "effect"
import { Cluster, GenServer, GlobalRegistry, RemoteCall, RemoteSpawn } from "noex-effect"
import type { ExitReason, RegistryEvent, ServerRef } from "noex-effect"
import { awaitMesh, ExampleError, runExample, short, startNode, waitUntil } from "./support/nodes.js"
import type { LocalNode } from "./support/nodes.js"

const LEADER_NAME = "cluster:leader"

interface LeaderState {
  readonly nodeId: string
}

const leaderBehavior = GenServer.behavior({
  init: (nodeId: string): LeaderState => ({ nodeId }),
  handleCall: (_: "whoami", state: LeaderState) => [state.nodeId, state] as const,
  handleCast: (_: unknown, state: LeaderState) => state,
  terminate: (reason: ExitReason, state: LeaderState) =>
    Console.log(`  the leader process on ${short(state.nodeId)} terminated with reason ${JSON.stringify(reason)}`)
})

const show = (ref: ServerRef) => `${short(ref.nodeId)}/${ref.id}`

const describe = (event: RegistryEvent) =>
  event._tag === "ConflictResolved"
    ? `ConflictResolved ${event.name}: winner ${show(event.winner)}, loser ${show(event.loser)}`
    : `${event._tag} ${event.name} -> ${show(event.ref)}`

/** The guide's code, on one node. */
const contend = (node: LocalNode) =>
  node.run(
    Effect.gen(function*() {
      const localNodeId = yield* Cluster.getLocalNodeId
      if (!(yield* GlobalRegistry.isRegistered(LEADER_NAME))) {
        const result = yield* RemoteSpawn.spawn("leader", localNodeId, {
          name: LEADER_NAME,
          registration: "global",
          args: [localNodeId]
        })
        return `${node.name}: Became cluster leader (process ${result.serverId})`
      }
      const leader = yield* GlobalRegistry.whereis(LEADER_NAME)
      return `${node.name}: Leader is on ${Option.match(leader, { onNone: () => "?", onSome: (l) => l.nodeId })}`
    }).pipe(
      // A contender that already sees the other registration when it registers is refused at once.
      Effect.catchTag("RemoteSpawnRegistrationError", (e) =>
        Effect.succeed(`${node.name}: lost at registration (${e.message})`))
    )
  )

const program = Effect.gen(function*() {
  const alpha = yield* startNode("alpha", { behaviors: { leader: leaderBehavior } })
  const beta = yield* startNode("beta", { seeds: [alpha.id], behaviors: { leader: leaderBehavior } })
  const gamma = yield* startNode("gamma", { seeds: [alpha.id], behaviors: { leader: leaderBehavior } })
  const nodes = [alpha, beta, gamma]
  yield* awaitMesh(nodes)
  yield* Console.log(`Cluster: ${nodes.map((n) => n.id).join(", ")}`)

  // Every node's registry events, printed as they happen.
  const events: Array<{ node: string; event: RegistryEvent }> = []
  for (const node of nodes) {
    yield* Effect.forkScoped(
      node.run(
        Stream.runForEach(
          GlobalRegistry.events,
          (event) =>
            Effect.sync(() => events.push({ node: node.name, event })).pipe(
              Effect.zipRight(
                event._tag === "ConflictResolved" ? Console.log(`  [${node.name}] ${describe(event)}`) : Effect.void
              )
            )
        )
      )
    )
  }
  // Let the subscriber fibers start (they subscribe when they first run).
  yield* Effect.repeatN(Effect.yieldNow(), 20)

  yield* Console.log(`\nThree contenders for '${LEADER_NAME}', released at the same moment:`)
  const go = yield* Deferred.make<void>()
  const racing = Effect.forEach(nodes, (node) => Effect.zipRight(Deferred.await(go), contend(node)), {
    concurrency: "unbounded"
  })
  const fiber = yield* Effect.fork(racing)
  yield* Deferred.succeed(go, undefined)
  for (const line of yield* fiber.await.pipe(Effect.flatten)) yield* Console.log(`  ${line}`)

  // Converged: every replica names the same live process, and only one leader process runs.
  const views = Effect.forEach(nodes, (n) => n.run(GlobalRegistry.whereis(LEADER_NAME)))
  const liveLeaders = Effect.map(
    Effect.forEach(nodes, (n) => n.run(GenServer.processCount)),
    (c) => c.reduce((a, b) => a + b, 0)
  )
  yield* waitUntil(
    "the registry to converge",
    Effect.gen(function*() {
      const seen = yield* views
      const first = seen[0]!
      return (
        Option.isSome(first) &&
        seen.every((o) => Option.isSome(o) && o.value.id === first.value.id && o.value.nodeId === first.value.nodeId) &&
        (yield* liveLeaders) === 1
      )
    })
  )

  const seen = yield* views
  const leader = Option.getOrThrow(seen[0]!)
  yield* Console.log(`\nOutcome`)
  yield* Console.log(`  leader: ${leader.nodeId} (process ${leader.id})`)
  for (const [i, node] of nodes.entries()) {
    yield* Console.log(
      `  ${node.name}: whereis('${LEADER_NAME}') -> ${Option.match(seen[i]!, { onNone: () => "none", onSome: show })}`
    )
  }
  yield* Console.log(
    `  every node agrees: ${seen.every((o) => Option.isSome(o) && o.value.id === leader.id) ? "yes" : "no"}`
  )
  const perNode = yield* Effect.forEach(
    nodes,
    (n) => Effect.map(n.run(GenServer.processCount), (c) => `${n.name}=${c}`)
  )
  yield* Console.log(`  live leader processes: ${yield* liveLeaders} (${perNode.join(" ")})`)
  const conflicts = events.filter((e) => e.event._tag === "ConflictResolved")
  yield* Console.log(
    conflicts.length === 0
      ? "  no race this time: the later contenders already saw the first registration"
      : `  ConflictResolved events: ${conflicts.length} (on ${[...new Set(conflicts.map((c) => c.node))].join(", ")})`
  )
  for (const node of nodes) {
    const answer = yield* node.run(
      Effect.flatMap(GlobalRegistry.lookup(LEADER_NAME), (ref) => RemoteCall.call<string>(ref, "whoami"))
    )
    yield* Console.log(`  ${node.name} calls the leader by name: it answers from ${answer}`)
    if (answer !== leader.nodeId) return yield* new ExampleError({ message: "the leader answered from another node" })
  }

  yield* Console.log(`\nA latecomer on gamma runs the guide's code again:`)
  yield* Console.log(`  ${yield* contend(gamma)}`)
  yield* Console.log("\nShutting down the three nodes")
})

runExample(Effect.scoped(program))
