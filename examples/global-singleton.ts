/**
 * A cluster singleton ("Use GlobalRegistry for Singletons" in the guide): a `cluster:leader`
 * registered cluster-wide, with three contenders — alpha, beta and gamma, in this process over
 * TCP on 127.0.0.1 — released at the same moment.
 *
 * 1. Each contender runs `GlobalRegistry.registerOrWhereis(LEADER_NAME, start)`. A cluster lock
 *    (its arbiter is the lowest NodeId a contender sees: alpha here) lets one contender at a
 *    time look and start, so exactly one runs `start` and prints "Became cluster leader"; the
 *    others are answered the registered ref and print "Leader is on ...". Every node's
 *    `whereis` agrees, one leader process is alive, and no conflict ever happens.
 *
 * 2. For contrast, the guide's own code, under another name:
 *
 *      if (!GlobalRegistry.isRegistered(name)) spawn('leader', localNodeId, { name, registration: 'global' })
 *
 *    It races: each contender checks its own replica, and a registration reaches the other
 *    replicas one message later, so contenders that check in that window all see no leader and
 *    all spawn one. The registry decides after the fact, the same way on every node (first
 *    registered in causal order, then the lower NodeId): the losers are stopped with reason
 *    `{ conflict: name }` and every node publishes `ConflictResolved` — but each loser's caller
 *    had already been told it was the leader.
 *
 * Under a partition even `registerOrWhereis` lets each side start one (each side has its own
 * arbiter); the heal then resolves them as in section 2 (docs/global-registry.md).
 *
 *   npx tsx examples/global-singleton.ts
 */
import { Console, Deferred, Effect, Option, Stream } from "effect"
import { Cluster, GenServer, GlobalRegistry, RemoteCall, RemoteSpawn } from "noex-effect"
import type { ExitReason, RegistryEvent, ServerRef } from "noex-effect"
import { awaitMesh, ExampleError, runExample, short, startNode, waitUntil } from "./support/nodes.js"
import type { LocalNode } from "./support/nodes.js"

const LEADER_NAME = "cluster:leader"
/** The name section 2 races for with the guide's check-then-spawn code. */
const RACY_NAME = "cluster:leader:racy"

interface LeaderState {
  readonly nodeId: string
}

const leaderBehavior = GenServer.behavior({
  init: (nodeId: string): LeaderState => ({ nodeId }),
  handleCall: (_: "whoami", state: LeaderState) => [state.nodeId, state] as const,
  handleCast: (_: unknown, state: LeaderState) => state,
  terminate: (reason: ExitReason, state: LeaderState) =>
    typeof reason === "object" && "conflict" in reason
      ? Console.log(`  the leader process on ${short(state.nodeId)} terminated with reason ${JSON.stringify(reason)}`)
      : Effect.void
})

const show = (ref: ServerRef) => `${short(ref.nodeId)}/${ref.id}`

const describe = (event: RegistryEvent) =>
  event._tag === "ConflictResolved"
    ? `ConflictResolved ${event.name}: winner ${show(event.winner)}, loser ${show(event.loser)}`
    : `${event._tag} ${event.name} -> ${show(event.ref)}`

/** Section 1, on one node: the registered leader, or the one this node starts under the lock. */
const contend = (node: LocalNode) =>
  node.run(
    Effect.gen(function*() {
      const localNodeId = yield* Cluster.getLocalNodeId
      let started = false
      // `start` runs only in the contender holding the lock, and only when no leader is registered.
      const start = Effect.gen(function*() {
        started = true
        const result = yield* RemoteSpawn.spawn("leader", localNodeId, { args: [localNodeId] })
        return { id: result.serverId, nodeId: result.nodeId } satisfies ServerRef
      })
      const leader = yield* GlobalRegistry.registerOrWhereis(LEADER_NAME, start)
      return started
        ? `${node.name}: Became cluster leader (process ${leader.id})`
        : `${node.name}: Leader is on ${leader.nodeId}`
    })
  )

/** Section 2, on one node: the guide's check-then-spawn, which races. */
const contendRacy = (node: LocalNode) =>
  node.run(
    Effect.gen(function*() {
      const localNodeId = yield* Cluster.getLocalNodeId
      if (!(yield* GlobalRegistry.isRegistered(RACY_NAME))) {
        yield* RemoteSpawn.spawn("leader", localNodeId, {
          name: RACY_NAME,
          registration: "global",
          args: [localNodeId]
        })
        return `${node.name}: registered a leader of its own (and believes it leads)`
      }
      const leader = yield* GlobalRegistry.whereis(RACY_NAME)
      return `${node.name}: saw the leader on ${
        Option.match(leader, { onNone: () => "?", onSome: (l) => short(l.nodeId) })
      }`
    }).pipe(
      // A contender that already sees the other registration when it registers is refused at once.
      Effect.catchTag(
        "RemoteSpawnRegistrationError",
        () => Effect.succeed(`${node.name}: refused at registration (another leader was registered first)`)
      )
    )
  )

/** Runs `contend` on every node at the same moment; its lines in node order. */
const race = (nodes: ReadonlyArray<LocalNode>, f: (node: LocalNode) => Effect.Effect<string, unknown>) =>
  Effect.gen(function*() {
    const go = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(
      Effect.forEach(nodes, (node) => Effect.zipRight(Deferred.await(go), f(node)), { concurrency: "unbounded" })
    )
    yield* Deferred.succeed(go, undefined)
    return yield* fiber.await.pipe(Effect.flatten)
  })

const program = Effect.gen(function*() {
  const alpha = yield* startNode("alpha", { behaviors: { leader: leaderBehavior } })
  const beta = yield* startNode("beta", { seeds: [alpha.id], behaviors: { leader: leaderBehavior } })
  const gamma = yield* startNode("gamma", { seeds: [alpha.id], behaviors: { leader: leaderBehavior } })
  const nodes = [alpha, beta, gamma]
  yield* awaitMesh(nodes)
  yield* Console.log(`Cluster: ${nodes.map((n) => n.id).join(", ")}`)

  // Every node's registry events; conflicts are printed as they happen.
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
  const conflictsOn = (name: string) =>
    events.filter((e) => e.event._tag === "ConflictResolved" && e.event.name === name)
  const liveLeaders = Effect.map(
    Effect.forEach(nodes, (n) => n.run(GenServer.processCount)),
    (c) => c.reduce((a, b) => a + b, 0)
  )

  yield* Console.log(`\n1. registerOrWhereis: three contenders for '${LEADER_NAME}', released at the same moment`)
  for (const line of yield* race(nodes, contend)) yield* Console.log(`  ${line}`)

  // Every replica already names the leader: its registration reached every node before the lock moved on.
  const seen = yield* Effect.forEach(nodes, (n) => n.run(GlobalRegistry.whereis(LEADER_NAME)))
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
  yield* Console.log(`  ConflictResolved events: ${conflictsOn(LEADER_NAME).length}`)
  for (const node of nodes) {
    const answer = yield* node.run(
      Effect.flatMap(GlobalRegistry.lookup(LEADER_NAME), (ref) => RemoteCall.call<string>(ref, "whoami"))
    )
    yield* Console.log(`  ${node.name} calls the leader by name: it answers from ${answer}`)
    if (answer !== leader.nodeId) return yield* new ExampleError({ message: "the leader answered from another node" })
  }
  yield* Console.log(`\nA latecomer on gamma asks again:`)
  yield* Console.log(`  ${yield* contend(gamma)}`)

  yield* Console.log(`\n2. The guide's check-then-spawn, three contenders for '${RACY_NAME}' at the same moment`)
  for (const line of yield* race(nodes, contendRacy)) yield* Console.log(`  ${line}`)
  // The race is decided after the fact: wait until one leader per name is left and every replica agrees.
  yield* waitUntil(
    "the racy registrations to converge",
    Effect.gen(function*() {
      const views = yield* Effect.forEach(nodes, (n) => n.run(GlobalRegistry.whereis(RACY_NAME)))
      const first = views[0]!
      return Option.isSome(first) &&
        views.every((o) => Option.isSome(o) && o.value.id === first.value.id) &&
        (yield* liveLeaders) === 2
    })
  )
  const racy = Option.getOrThrow(yield* alpha.run(GlobalRegistry.whereis(RACY_NAME)))
  const conflicts = conflictsOn(RACY_NAME)
  yield* Console.log(`  one racy leader left, on ${short(racy.nodeId)}; every node agrees`)
  yield* Console.log(
    conflicts.length === 0
      ? "  no race this time: the later contenders already saw the first registration"
      : `  ConflictResolved events: ${conflicts.length} (on ${[...new Set(conflicts.map((c) => c.node))].join(", ")})`
  )
  yield* Console.log("\nShutting down the three nodes")
})

runExample(Effect.scoped(program))
