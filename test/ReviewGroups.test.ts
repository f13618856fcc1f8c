/**
 * Review reproductions for ProcessGroups, the cluster lock, and the `noex.` prefix.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { LOCK_PROCESS, MAX_LOCKS_PER_PEER } from "../src/cluster/internal/globalLock.js"
import { BehaviorRegistry, GenServer, GlobalRegistry, MemoryNetwork, ProcessGroups, RemoteSpawn } from "../src/index.js"
import type { ServerRef } from "../src/index.js"
import { stopSystem, tableOf } from "../src/internal/runtime.js"
import { settle, simId, startNode } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

const worker = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", n: number) => [n, n] as const,
  handleCast: (_: unknown, n: number) => n
})
const registry = BehaviorRegistry.layer({ worker })

const cluster = (net: MemoryNetwork, names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const nodes: Array<SimNode> = []
    for (const name of names) {
      nodes.push(yield* startNode(net, name, { registry, seeds: nodes.length === 0 ? [] : [simId(names[0]!)] }))
    }
    yield* settle(300)
    return nodes
  })

/** The state of a system process on `node` (a scope's GroupScope, the GlobalLock). */
const stateOf = (node: SimNode, name: string) =>
  Effect.map(node.run(GenServer.GenServerRuntime), (rt) => (tableOf(rt)!.resolve(name) as any)?.state)
/** The runtime's own stop of one of its processes (a user's or a peer's is refused). */
const stopOwn = (node: SimNode, name: string) =>
  node.run(
    Effect.flatMap(GenServer.GenServerRuntime, (rt) => stopSystem(rt, { id: name, nodeId: node.id }, "shutdown"))
  )
const key = (ref: ServerRef) => `${ref.nodeId.split("@")[0]}/${ref.id}`

describe("Review: ProcessGroups", () => {
  it.scoped("a peer's pg.sync frames with more: true forever: what it buffers stays bounded", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, h] = (yield* cluster(net, ["a", "h"])) as [SimNode, SimNode]
      const to = { id: "noex.pg.default", nodeId: a.id }
      for (let f = 0; f < 60; f++) {
        const ids = Array.from({ length: 2000 }, (_, i) => `p${f}-${i}`)
        yield* h.run(GenServer.send(to, { _tag: "pg.sync", groups: [["g", ids]], more: true }))
      }
      yield* settle(100)
      const scope = yield* stateOf(a, "noex.pg.default")
      let buffered = 0
      for (const groups of scope.syncing.values()) for (const counts of groups.values()) buffered += counts.size
      expect(buffered).toBeLessThanOrEqual(ProcessGroups.MAX_MEMBERS_PER_PEER)
    }))

  it.scoped("a peer's (or a user's) stop of the scope process is refused, typed: the node's groups still converge", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = (yield* cluster(net, ["a", "b"])) as [SimNode, SimNode]
      const scope = { id: "noex.pg.default", nodeId: a.id }
      const byPeer = yield* Effect.either(b.run(GenServer.stop(scope, "shutdown")))
      const byUser = yield* Effect.either(a.run(GenServer.stop(scope, "shutdown")))
      expect([byPeer, byUser].map((e) => e._tag === "Left" && e.left._tag)).toEqual([
        "RemoteServerNotRunningError",
        "RemoteServerNotRunningError"
      ])
      const w = yield* b.run(GenServer.start(worker))
      yield* b.run(ProcessGroups.join("g", w))
      yield* settle(2000, 50)
      expect((yield* a.run(ProcessGroups.members("g"))).map(key)).toEqual([key(w)])
    }))

  it.scoped("a process linked to the scope process exits: the scope does not go with it", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = (yield* cluster(net, ["a", "b"])) as [SimNode, SimNode]
      const scope = { id: "noex.pg.default", nodeId: a.id }
      const bait = yield* b.run(GenServer.start(worker, { link: scope }))
      yield* b.run(GenServer.stop(bait, { error: "boom" }))
      yield* settle(100)
      const w = yield* b.run(GenServer.start(worker))
      yield* b.run(ProcessGroups.join("g", w))
      yield* settle(2000, 50)
      expect((yield* a.run(ProcessGroups.members("g"))).map(key)).toEqual([key(w)])
      expect(yield* stateOf(a, "noex.pg.default")).toBeDefined()
    }))

  it.scoped("a join of [live, dead] on another node fails as a local one does: without joining the live one", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = (yield* cluster(net, ["a", "b"])) as [SimNode, SimNode]
      const live = yield* a.run(GenServer.start(worker))
      const dead = yield* a.run(GenServer.start(worker))
      yield* a.run(GenServer.stop(dead))
      const local = yield* Effect.either(a.run(ProcessGroups.join("local", [live, dead])))
      const remote = yield* Effect.either(b.run(ProcessGroups.join("remote", [live, dead])))
      yield* settle(50)
      expect({
        local: [local._tag, (yield* a.run(ProcessGroups.members("local"))).length],
        remote: [remote._tag, (yield* a.run(ProcessGroups.members("remote"))).length]
      }).toEqual({ local: ["Left", 0], remote: ["Left", 0] })
    }))

  it.scoped("members() of groups nobody joined does not grow the scope's memory", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a] = (yield* cluster(net, ["a"])) as [SimNode]
      for (let i = 0; i < 10_000; i++) yield* a.run(ProcessGroups.members(`request-${i}`))
      const scope = yield* stateOf(a, "noex.pg.default")
      expect(scope.cache.size).toBeLessThan(1000)
    }))
})

describe("Review: the noex. prefix", () => {
  it.scoped("a user process cannot take a name under noex.: the start fails, typed, and nothing is started", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a] = (yield* cluster(net, ["a"])) as [SimNode]
      const started = yield* Effect.either(a.run(GenServer.start(worker, { name: "noex.my-cache" })))
      expect(started._tag === "Left" && started.left._tag).toBe("NameAlreadyRegisteredError")
      expect(started._tag === "Left" && started.left.message).toContain("reserved")
      expect(yield* a.run(GenServer.processCount)).toBe(0)
    }))

  it.scoped("a squatter on a scope's name (noex.pg.jobs), local or spawned by a peer, is refused: the scope works", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = (yield* cluster(net, ["a", "b"])) as [SimNode, SimNode]
      const local = yield* Effect.either(a.run(GenServer.start(worker, { name: "noex.pg.jobs" })))
      const spawned = yield* Effect.either(
        b.run(RemoteSpawn.spawn("worker", a.id, { name: "noex.pg.jobs", registration: "local" }))
      )
      expect([local._tag, spawned._tag]).toEqual(["Left", "Left"])
      const w = yield* b.run(GenServer.start(worker))
      yield* b.run(ProcessGroups.join("g", w, { scope: "jobs" }))
      // a's first use starts its scope, which then learns b's members.
      yield* a.run(ProcessGroups.members("g", { scope: "jobs" }))
      yield* settle(1000, 50)
      expect((yield* a.run(ProcessGroups.members("g", { scope: "jobs" }))).map(key)).toEqual([key(w)])
    }))
})

describe("Review: the cluster lock", () => {
  it.scoped("a peer's lock.acquire for many names: the arbiter's table stays bounded", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, h] = (yield* cluster(net, ["a", "h"])) as [SimNode, SimNode]
      // h acts as a raw peer would: its own lock process (which would give the grants back) is gone.
      yield* stopOwn(h, LOCK_PROCESS)
      const to = { id: LOCK_PROCESS, nodeId: a.id }
      for (let i = 0; i < 30_000; i++) yield* h.run(GenServer.send(to, { _tag: "lock.acquire", name: `n${i}`, req: i }))
      yield* settle(100)
      const lock = yield* stateOf(a, LOCK_PROCESS)
      expect(lock.held.size).toBeLessThanOrEqual(MAX_LOCKS_PER_PEER)
    }))

  it.scoped("a peer that takes a name's lock and never releases it: registerOrWhereis still ends", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, h] = (yield* cluster(net, ["a", "h"])) as [SimNode, SimNode]
      yield* stopOwn(h, LOCK_PROCESS)
      yield* h.run(GenServer.send({ id: LOCK_PROCESS, nodeId: a.id }, { _tag: "lock.acquire", name: "single", req: 1 }))
      yield* settle(50)
      const fiber = yield* Effect.fork(a.run(GlobalRegistry.registerOrWhereis("single", GenServer.start(worker))))
      yield* settle(60_000, 1000)
      expect(fiber.unsafePoll()).not.toBeNull()
      yield* Fiber.interrupt(fiber)
    }))

  it.scoped("a peer's stop of the arbiter's lock process is refused: registerOrWhereis still ends", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = (yield* cluster(net, ["a", "b"])) as [SimNode, SimNode]
      const stopped = yield* Effect.either(b.run(GenServer.stop({ id: LOCK_PROCESS, nodeId: a.id }, "shutdown")))
      expect(stopped._tag === "Left" && stopped.left._tag).toBe("RemoteServerNotRunningError")
      const fiber = yield* Effect.fork(b.run(GlobalRegistry.registerOrWhereis("single", GenServer.start(worker))))
      yield* settle(60_000, 1000)
      expect(fiber.unsafePoll()).not.toBeNull()
      yield* Fiber.interrupt(fiber)
    }))
})
