/**
 * Review reproductions for DistributedSupervisor, part 2: children lost or poisoned views.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Scope } from "effect"
import { BehaviorRegistry, DistributedSupervisor, GenServer, MemoryNetwork } from "../src/index.js"
import type { NodeId } from "../src/index.js"
import { Admission } from "../src/internal/dsup/admission.js"
import { syncParts } from "../src/internal/dsup/sync.js"
import type { SyncPart } from "../src/internal/dsup/sync.js"
import { ChildTable, ownerOf } from "../src/internal/dsup/table.js"
import { makeCodec } from "../src/wire/Codec.js"
import { settle, simId, startNode } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

const worker = GenServer.behavior({
  init: (id: string) => id,
  handleCall: (_: "where", id: string) => [id, id] as const,
  handleCast: (_: unknown, id: string) => id
})
const registry = BehaviorRegistry.layer({ worker })
const SUP = "pool"
const fast = { heartbeatInterval: 1000, heartbeatMissThreshold: 2 } as const

const boot = (net: MemoryNetwork, names: ReadonlyArray<string>, extra: object = {}) =>
  Effect.gen(function*() {
    const nodes: Array<SimNode> = []
    for (const name of names) {
      nodes.push(
        yield* startNode(net, name, {
          registry,
          ...fast,
          ...extra,
          seeds: nodes.length === 0 ? [] : [simId(names[0]!)]
        })
      )
    }
    yield* settle(300)
    for (const node of nodes) yield* Scope.extend(node.run(DistributedSupervisor.start(SUP)), node.scope)
    yield* settle(100)
    return nodes
  })

const live = (node: SimNode) => node.run(GenServer.processCount)
const whereOn = (node: SimNode, id: string) =>
  Effect.map(node.run(DistributedSupervisor.whereis(SUP, id)), (o) => Option.getOrUndefined(o)?.nodeId)

/** An id with `host` first among `all`, and `heir` first among `all` without `host`. */
const idFor = (all: ReadonlyArray<NodeId>, host: NodeId, heir: NodeId, prefix = "w") => {
  for (let i = 0;; i++) {
    const id = `${prefix}${i}`
    if (ownerOf(id, all) === host && ownerOf(id, all.filter((n) => n !== host)) === heir) return id
  }
}

describe("Review: DistributedSupervisor, lost children", () => {
  it.scoped("the host dies before its ds.hosting reached the heir: the child is restarted (another member knew it)", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c] = (yield* boot(net, ["a", "b", "c"])) as [SimNode, SimNode, SimNode]
      const id = idFor([a.id, b.id, c.id], c.id, b.id)
      // c's frames to b are held (not yet noticed by the failure detector): b misses c's claim.
      yield* net.partition([c.id], [b.id])
      const ref = yield* a.run(DistributedSupervisor.startChild(SUP, { id, behavior: "worker", args: [id] }))
      expect(ref.nodeId).toBe(c.id)
      expect(yield* whereOn(a, id)).toBe(c.id)
      yield* net.kill(c.id)
      yield* net.heal
      yield* settle(8000, 100)
      // a knew of it, b (its decider now) did not: nobody restarts it.
      expect({ a: yield* whereOn(a, id), b: yield* whereOn(b, id), running: (yield* live(a)) + (yield* live(b)) })
        .toEqual({ a: b.id, b: b.id, running: 1 })
    }))

  it.scoped("startChild with an id over MAX_CHILD_ID_CHARS placed on this node: every member learns it, or it is refused", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c] = (yield* boot(net, ["a", "b", "c"])) as [SimNode, SimNode, SimNode]
      const all = [a.id, b.id, c.id]
      const short = idFor(all, a.id, b.id, "s")
      yield* a.run(DistributedSupervisor.startChild(SUP, { id: short, behavior: "worker", args: [short] }))
      let long = ""
      for (let i = 0;; i++) {
        long = `${"x".repeat(DistributedSupervisor.MAX_CHILD_ID_CHARS + 10)}${i}`
        if (ownerOf(long, all) === a.id) break
      }
      const result = yield* Effect.either(
        a.run(DistributedSupervisor.startChild(SUP, { id: long, behavior: "worker", args: ["long"] }))
      )
      yield* settle(100)
      // Accepted (it was): then b must know it as a does.
      const accepted = result._tag === "Right"
      const onB = yield* whereOn(b, long)
      // Whatever happened to the long one, a new member must still learn a's other children.
      const d = yield* startNode(net, "d", { registry, ...fast, seeds: [a.id] })
      yield* settle(1000, 50)
      yield* Scope.extend(d.run(DistributedSupervisor.start(SUP)), d.scope)
      yield* settle(1000, 50)
      // Refused (a typed ChildStartError) is the fix; accepted would need every member to know it.
      expect({ accepted, onB, shortOnD: yield* whereOn(d, short) }).toEqual({
        accepted: false,
        onB: undefined,
        shortOnD: a.id
      })
    }))

  it.scoped("a sync bigger than the link's frame limit: a new member still learns every child", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const limit = { maxFrameBytes: 64 * 1024 }
      const [a, b] = (yield* boot(net, ["a", "b"], limit)) as [SimNode, SimNode]
      // 1,000 children with 40-character ids: about 100 KB of claims in one ds.sync.
      yield* Effect.forEach(
        Array.from({ length: 1000 }, (_, i) => `child-${String(i).padStart(34, "0")}`),
        (id) => a.run(DistributedSupervisor.startChild(SUP, { id, behavior: "worker", args: [id] })),
        { discard: true }
      )
      yield* settle(100)
      expect((yield* b.run(DistributedSupervisor.countChildren(SUP))).specs).toBe(1000)
      const c = yield* startNode(net, "c", { registry, ...fast, ...limit, seeds: [a.id] })
      yield* settle(1000, 50)
      yield* Scope.extend(c.run(DistributedSupervisor.start(SUP)), c.scope)
      yield* settle(1000, 50)
      expect((yield* c.run(DistributedSupervisor.countChildren(SUP))).specs).toBe(1000)
    }))

  it.scoped("a supervisor restarted on the same node (scope closed, started again) is a full member again", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const nodes: Array<SimNode> = []
      for (const name of ["a", "b", "c"]) {
        nodes.push(yield* startNode(net, name, { registry, ...fast, seeds: nodes.length === 0 ? [] : [simId("a")] }))
      }
      yield* settle(300)
      const [a, b, c] = nodes as [SimNode, SimNode, SimNode]
      for (const node of [a, b]) yield* Scope.extend(node.run(DistributedSupervisor.start(SUP)), node.scope)
      const first = yield* Scope.make()
      yield* Scope.extend(c.run(DistributedSupervisor.start(SUP)), first)
      yield* settle(200)
      yield* Scope.close(first, { _tag: "Success", value: undefined } as any)
      yield* Scope.extend(c.run(DistributedSupervisor.start(SUP)), c.scope)
      yield* settle(2000, 50)
      const views = {
        a: yield* a.run(DistributedSupervisor.members(SUP)),
        b: yield* b.run(DistributedSupervisor.members(SUP)),
        c: yield* c.run(DistributedSupervisor.members(SUP))
      }
      expect(views).toEqual({ a: [a.id, b.id, c.id], b: [a.id, b.id, c.id], c: [a.id, b.id, c.id] })
    }))
})

describe("Review: DistributedSupervisor, a sync in parts", () => {
  const spec = (i: number) => ({ id: `child-${i}`, behavior: "worker", args: [i], restart: "permanent" as const })
  const x = simId("x")

  it("the parts fit the budget, list each item once in order, and only the first and last say so", () => {
    const budget = 16 * 1024
    const { parts, unencodable } = syncParts({
      claims: Array.from(
        { length: 1000 },
        (_, i) => ({ spec: spec(i), claim: { host: x, serverId: `p${i}`, gen: 1 } })
      ),
      orphans: [{ spec: spec(1000), gen: 3 }],
      tombstones: Array.from({ length: 500 }, (_, i) => [`gone-${i}`, 2] as const),
      leaving: false,
      ask: true
    }, budget)
    const codec = makeCodec()
    expect(parts.length).toBeGreaterThan(3)
    for (const part of parts) expect(codec.encode(part).length).toBeLessThanOrEqual(budget)
    expect(parts.map((p) => [p.first, p.last])).toEqual(parts.map((_, i) => [i === 0, i === parts.length - 1]))
    expect(parts.flatMap((p) => p.claims.map((c) => c.spec.id))).toEqual(
      Array.from({ length: 1000 }, (_, i) => `child-${i}`)
    )
    expect(parts.flatMap((p) => p.orphans.map((o) => o.spec.id))).toEqual(["child-1000"])
    expect(parts.flatMap((p) => p.tombstones).length).toBe(500)
    expect(unencodable).toBe(0)
  })

  it("a child whose spec cannot be encoded is left out and counted, and the rest still goes", () => {
    const { parts, unencodable } = syncParts({
      claims: [
        { spec: { ...spec(0), args: [() => 0] }, claim: { host: x, serverId: "p0", gen: 1 } },
        { spec: spec(1), claim: { host: x, serverId: "p1", gen: 1 } }
      ],
      orphans: [],
      tombstones: [],
      leaving: false,
      ask: false
    }, 4096)
    expect({ unencodable, ids: parts.flatMap((p) => p.claims.map((c) => c.spec.id)) })
      .toEqual({ unencodable: 1, ids: ["child-1"] })
  })

  it.effect("a partial sync forgets nothing; its last part releases what no part listed; a last part alone releases nothing", () =>
    Effect.gen(function*() {
      const table = new ChildTable(() => {})
      const admission = new Admission({
        table,
        active: () => new Set([x]),
        watch: () => undefined,
        annotate: (effect) => effect
      })
      const part = (ids: ReadonlyArray<number>, first: boolean, last: boolean): SyncPart => ({
        _tag: "ds.sync",
        claims: ids.map((i) => ({ spec: spec(i), serverId: `p${i}`, gen: 1 })),
        orphans: [],
        tombstones: [],
        leaving: false,
        ask: false,
        first,
        last
      })
      const claimed = () => table.claimsOf(x).map((c) => c.spec.id).sort()
      const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)
      yield* admission.syncPart(x, part(ids(0, 10), true, true), true)
      expect(claimed().length).toBe(10)
      yield* admission.syncPart(x, part(ids(0, 3), true, false), false)
      yield* admission.syncPart(x, part(ids(3, 6), false, false), false)
      expect(claimed().length).toBe(10)
      yield* admission.syncPart(x, part([6], false, true), false)
      expect(claimed()).toEqual(ids(0, 7).map((i) => `child-${i}`).sort())
      yield* admission.syncPart(x, part([], false, true), false)
      expect(claimed().length).toBe(7)
    }))
})
