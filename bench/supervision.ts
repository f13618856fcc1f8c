/**
 * Distributed supervision on 3 nodes (this process and two OS processes over
 * TcpTransport). Failover: SIGKILL one far node running a share of 10, 100 or 1,000
 * children, and time until this node (a survivor) sees every child of the dead node
 * running on a survivor, beside the time a raw `node:net` socket to the killed process
 * takes to notice its death, measured on the same kill. The failover includes the
 * supervisor's `stableAfter` wait (default 1.5 s: the members must stay unchanged before
 * orphans restart, so a partition is not taken for a death); a second table runs with
 * `stableAfter: 0` to show what detection and restart alone cost. Then
 * `ProcessGroups.members` lookups per second on a 100-member group spread over the 3
 * nodes (the read is local), beside a `Map.get` + copy of the same array and a raw
 * `node:net` round trip measured in the same run.
 */
import { Effect, Exit, Layer, Logger, LogLevel, Option, Scope, Stream } from "effect"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import {
  BehaviorRegistry,
  Cluster,
  DistributedSupervisor,
  GenServer,
  ProcessGroups,
  TcpTransport
} from "../src/node.js"
import type { NodeId, ServerRef } from "../src/node.js"
import { fmt, percentile, rawPingPong, report } from "./internal/baseline.js"
import { startChild } from "./internal/child.js"

/** Children per supervisor (all three nodes' shares together; about a third are on the killed node). */
const SIZES = [10, 100, 1000]
/** Kills per size and setting, each on fresh far nodes and a fresh supervisor. */
const ROUNDS = 3
/** A failover that takes longer is reported as a failure of the bench. */
const FAILOVER_LIMIT_MS = 30_000

const GROUP = "bench.group"
const GROUP_SIZE = 100
const LOOKUP_MS = 1500

/** The children's behavior, registered under the same name on every node: idle. */
const worker = GenServer.behavior({
  init: () => null,
  handleCall: (_: unknown, s: null) => [s, s] as const,
  handleCast: (_: unknown, s: null) => s
})

/** What `supervision-node.ts` prints once it serves. */
interface FarNode {
  readonly nodeId: NodeId
  readonly rawPort: number
  readonly pid: number
}

// Every far node started adds an exit hook (bench/internal/child.ts): more than the default 10 here.
process.setMaxListeners(64)

const script = fileURLToPath(new URL("./internal/supervision-node.ts", import.meta.url))

const spawnFar = (options: {
  readonly seed: NodeId
  readonly name: string
  readonly supervisor?: string
  readonly stableAfter?: number
  readonly groupMembers?: number
}) => Effect.promise(() => startChild<FarNode>(script, [JSON.stringify(options)]))

const waitUntil = <E, R>(condition: Effect.Effect<boolean, E, R>, what: string, limitMs = FAILOVER_LIMIT_MS) =>
  Effect.gen(function*() {
    const deadline = performance.now() + limitMs
    while (!(yield* condition)) {
      if (performance.now() > deadline) return yield* Effect.dieMessage(`${what} did not happen within ${limitMs} ms`)
      yield* Effect.sleep("1 millis")
    }
  })

/** Resolves with the ms from `t0` until a raw socket to `port` notices its peer is gone. */
const rawDeathWatch = (port: number) =>
  new Promise<{ readonly noticed: (t0: number) => Promise<number> }>((resolve, reject) => {
    const socket = net.createConnection({ port, host: "127.0.0.1" })
    socket.once("error", reject)
    socket.once("connect", () => {
      const gone = new Promise<number>((done) => {
        const at = () => done(performance.now())
        socket.once("end", at)
        socket.once("close", at)
        socket.on("error", at)
      })
      resolve({ noticed: (t0) => gone.then((at) => (socket.destroy(), at - t0)) })
    })
  })

interface Round {
  readonly moved: number
  readonly failoverMs: number
  readonly rawMs: number
  readonly downMs: number
}

let rounds = 0

/** One kill: fresh far nodes and supervisor, `n` children started here, one far node SIGKILLed. */
const failoverRound = (n: number, stableAfter: number | undefined) =>
  Effect.gen(function*() {
    const self = yield* Cluster.getLocalNodeId
    const cluster = yield* Cluster.Cluster
    const k = rounds++
    const supervisor = `bench-${k}`
    const options = stableAfter === undefined ? {} : { stableAfter }
    const [victim, survivor] = yield* Effect.all([
      spawnFar({ seed: self, name: `v${k}`, supervisor, ...options }),
      spawnFar({ seed: self, name: `s${k}`, supervisor, ...options })
    ], { concurrency: 2 })
    const dead = victim.info.nodeId
    return yield* Effect.gen(function*() {
      yield* waitUntil(
        Effect.map(cluster.getConnectedNodes, (nodes) => nodes.length === 2),
        "connecting to the far nodes"
      )
      const scope = yield* Scope.make()
      yield* Scope.extend(DistributedSupervisor.start(supervisor, options), scope)
      const restartedAt = new Map<string, number>()
      let downAt = 0
      yield* Effect.forkIn(
        Stream.runForEach(DistributedSupervisor.events(supervisor), (e) =>
          Effect.sync(() => {
            if (e._tag === "ChildRestarted" && e.from === dead) restartedAt.set(e.id, performance.now())
          })),
        scope
      )
      yield* Effect.forkIn(
        Stream.runForEach(cluster.nodeEvents, (e) =>
          Effect.sync(() => {
            if (e._tag === "NodeDown" && e.nodeId === dead) downAt = performance.now()
          })),
        scope
      )
      yield* Effect.yieldNow()
      yield* waitUntil(
        Effect.map(Effect.orDie(DistributedSupervisor.members(supervisor)), (m) => m.length === 3),
        "three members"
      )
      for (let i = 0; i < n; i++) {
        yield* Effect.orDie(DistributedSupervisor.startChild(supervisor, { id: `c${i}`, behavior: "worker" }))
      }
      // Every node hears each child's host (the far ones by a broadcast after the start's answer).
      yield* Effect.sleep("300 millis")
      const children = yield* Effect.orDie(DistributedSupervisor.whichChildren(supervisor))
      const orphans = children.filter((c) => Option.getOrUndefined(c.ref)?.nodeId === dead).map((c) => c.id)
      const raw = yield* Effect.promise(() => rawDeathWatch(victim.info.rawPort))

      const t0 = performance.now()
      victim.child.kill("SIGKILL")
      const rawMs = yield* Effect.promise(() => raw.noticed(t0))
      yield* waitUntil(Effect.sync(() => restartedAt.size === orphans.length), "the failover")
      const failoverMs = Math.max(...orphans.map((id) => restartedAt.get(id)!)) - t0
      // Each orphan runs on a survivor now, as this node sees it.
      const after = yield* Effect.orDie(DistributedSupervisor.whichChildren(supervisor))
      const survivors = new Set<string>([self, survivor.info.nodeId])
      if (!after.every((c) => Option.isSome(c.ref) && survivors.has(c.ref.value.nodeId))) {
        return yield* Effect.dieMessage("a child does not run on a survivor after the failover")
      }

      // Tear down without a handoff: the other far node goes first, then this node's instance.
      survivor.child.kill("SIGKILL")
      yield* waitUntil(Effect.map(cluster.getConnectedNodes, (nodes) => nodes.length === 0), "the far nodes gone")
      yield* Scope.close(scope, Exit.void)
      return { moved: orphans.length, failoverMs, rawMs, downMs: downAt - t0 } satisfies Round
    }).pipe(
      Effect.ensuring(Effect.sync(() => {
        victim.child.kill("SIGKILL")
        survivor.child.kill("SIGKILL")
      }))
    )
  })

const failover = (stableAfter: number | undefined, title: string) =>
  Effect.gen(function*() {
    console.log(`\n== DistributedSupervisor failover after SIGKILL, 3 nodes (this + 2 OS processes), ${title} ==`)
    console.log(
      `${"children (moved, median)".padEnd(26)} ${"failover p50 (min..max)".padEnd(28)} ${
        "raw net reset noticed p50".padEnd(27)
      } ratio    NodeDown seen p50`
    )
    for (const n of SIZES) {
      const results: Array<Round> = []
      for (let r = 0; r < ROUNDS; r++) results.push(yield* failoverRound(n, stableAfter))
      const fo = results.map((r) => r.failoverMs)
      const raw = percentile(results.map((r) => r.rawMs), 50)
      const p50 = percentile(fo, 50)
      console.log(
        `${`${fmt(n)} (${percentile(results.map((r) => r.moved), 50)})`.padEnd(26)} ${
          `${p50.toFixed(1)} ms (${Math.min(...fo).toFixed(1)}..${Math.max(...fo).toFixed(1)})`.padEnd(28)
        } ${`${raw.toFixed(2)} ms`.padEnd(27)} ${`${(p50 / raw).toFixed(0)}x`.padEnd(8)} ${
          percentile(results.map((r) => r.downMs), 50).toFixed(2)
        } ms`
      )
    }
  })

/** Something the lookup loops write to, so no copy is optimized away. */
let sink: ReadonlyArray<ServerRef> = []

const groupLookups = Effect.gen(function*() {
  const self = yield* Cluster.getLocalNodeId
  const cluster = yield* Cluster.Cluster
  const share = Math.floor(GROUP_SIZE / 3)
  const far = yield* Effect.all([
    spawnFar({ seed: self, name: "g1", groupMembers: share }),
    spawnFar({ seed: self, name: "g2", groupMembers: share })
  ], { concurrency: 2 })
  yield* Effect.gen(function*() {
    yield* waitUntil(Effect.map(cluster.getConnectedNodes, (nodes) => nodes.length === 2), "connecting")
    for (let i = 0; i < GROUP_SIZE - 2 * share; i++) yield* ProcessGroups.join(GROUP, yield* GenServer.start(worker))
    yield* waitUntil(
      Effect.map(ProcessGroups.members(GROUP), (m) => m.length === GROUP_SIZE),
      `${GROUP_SIZE} members seen`
    )
    const members = yield* ProcessGroups.members(GROUP)
    const nodes = new Set(members.map((m) => m.nodeId)).size

    const lookups = Effect.gen(function*() {
      let n = 0
      const t0 = performance.now()
      const deadline = t0 + LOOKUP_MS
      while (performance.now() < deadline) {
        for (let i = 0; i < 10_000; i++) sink = yield* ProcessGroups.members(GROUP)
        n += 10_000
      }
      return n / ((performance.now() - t0) / 1000)
    })
    const byGroup = new Map<string, ReadonlyArray<ServerRef>>([[GROUP, Array.from(members)]])
    const copies = () => {
      let n = 0
      const t0 = performance.now()
      const deadline = t0 + LOOKUP_MS
      while (performance.now() < deadline) {
        for (let i = 0; i < 10_000; i++) sink = byGroup.get(GROUP)!.slice()
        n += 10_000
      }
      return n / ((performance.now() - t0) / 1000)
    }
    // The same copy as one Effect step in the same kind of loop: what any effectful read costs at least.
    const effectCopies = Effect.gen(function*() {
      let n = 0
      const t0 = performance.now()
      const deadline = t0 + LOOKUP_MS
      const read = Effect.sync(() => byGroup.get(GROUP)!.slice())
      while (performance.now() < deadline) {
        for (let i = 0; i < 10_000; i++) sink = yield* read
        n += 10_000
      }
      return n / ((performance.now() - t0) / 1000)
    })
    yield* lookups // warm-up
    copies()
    yield* effectCopies
    const rates: Array<number> = []
    const bases: Array<number> = []
    const effectBases: Array<number> = []
    for (let r = 0; r < 3; r++) {
      rates.push(yield* lookups)
      bases.push(copies())
      effectBases.push(yield* effectCopies)
    }
    const raw = yield* Effect.promise(() => rawPingPong({ bytes: 16, outstanding: 1, durationMs: 1500 }))
    console.log(`\n== ProcessGroups.members, ${GROUP_SIZE} members on ${nodes} nodes (lookups on this node) ==`)
    report("members(group) lookups", percentile(rates, 50), "Map.get + copy", percentile(bases, 50))
    report("members(group) lookups", percentile(rates, 50), "Effect.sync(get+copy)", percentile(effectBases, 50))
    report("members(group) lookups", percentile(rates, 50), "raw net seq rt", raw.perSecond)
    if (sink.length !== GROUP_SIZE) return yield* Effect.dieMessage("a lookup did not see the group")
  }).pipe(Effect.ensuring(Effect.sync(() => far.forEach((f) => f.child.kill("SIGKILL")))))
})

const main = async () => {
  const layer = Cluster.layer({ nodeName: "bench", port: 0 }).pipe(
    Layer.provide(BehaviorRegistry.layer({ worker })),
    Layer.provide(TcpTransport.layer)
  )
  await Effect.runPromise(
    Effect.gen(function*() {
      yield* groupLookups
      yield* failover(undefined, "default stableAfter (1.5 s)")
      yield* failover(0, "stableAfter 0 (detection + restart alone)")
    }).pipe(Effect.provide(layer), Logger.withMinimumLogLevel(LogLevel.Warning))
  )
}

main().then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
