import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Scope } from "effect"
import { Stream } from "effect"
import { BehaviorRegistry, DistributedSupervisor, GenServer, MemoryNetwork } from "../src/index.js"
import type { ChildEvent } from "../src/index.js"
import { settle, simId, startNode } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

/** A child that answers where it runs and how many calls it took. */
const worker = GenServer.behavior({
  init: (id: string) => ({ id, calls: 0 }),
  handleCall: (msg: "where" | "crash", s: { id: string; calls: number }) => {
    if (msg === "crash") throw new Error("crashed on purpose")
    return [s.id, { ...s, calls: s.calls + 1 }] as const
  },
  handleCast: (_: unknown, s: { id: string; calls: number }) => s,
  onError: "crash"
})

const registry = BehaviorRegistry.layer({ worker })

/** Advances the clock until every node is connected to every other. */
const awaitMesh = (nodes: ReadonlyArray<SimNode>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      const counts = yield* Effect.forEach(nodes, (n) => Effect.map(n.cluster.getConnectedNodes, (c) => c.length))
      if (counts.every((c) => c === nodes.length - 1)) return yield* settle(300, 50)
      yield* settle(250, 250)
    }
    throw new Error("no full mesh")
  })

/** Where each child runs as `node` sees it: id → node name ("-" for nowhere). */
const placement = (node: SimNode) =>
  Effect.map(
    node.run(DistributedSupervisor.whichChildren(SUP)),
    (children) =>
      Object.fromEntries(
        children.map((c) => [c.id, Option.match(c.ref, { onNone: () => "-", onSome: (r) => r.nodeId })])
      )
  )

const startChildren = (node: SimNode, n: number) =>
  Effect.forEach(
    Array.from({ length: n }, (_, i) => `w${i}`),
    (id) => node.run(DistributedSupervisor.startChild(SUP, { id, behavior: "worker", args: [id] })),
    { discard: true }
  )

const SUP = "pool"

/** Nodes running the supervisor, each recording its child events. */
const supervised = (net: MemoryNetwork, names: ReadonlyArray<string>, options?: DistributedSupervisor.Options) =>
  Effect.gen(function*() {
    const nodes: Array<SimNode> = []
    const events = new Map<string, Array<ChildEvent>>()
    for (const name of names) {
      const node = yield* startNode(net, name, { registry, seeds: nodes.length === 0 ? [] : [simId(names[0]!)] })
      nodes.push(node)
    }
    yield* settle(300)
    for (const node of nodes) {
      yield* Scope.extend(node.run(DistributedSupervisor.start(SUP, options)), node.scope)
      const seen: Array<ChildEvent> = []
      events.set(node.id, seen)
      yield* Effect.forkIn(
        node.run(Stream.runForEach(DistributedSupervisor.events(SUP), (e) => Effect.sync(() => seen.push(e)))),
        node.scope
      )
    }
    yield* settle(100)
    return { nodes, events }
  })

const live = (node: SimNode) => node.run(GenServer.processCount)

describe("DistributedSupervisor (simulated)", () => {
  it.scoped("spreads children over the members; each is found and called by id from any node", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const { nodes } = yield* supervised(net, ["a", "b", "c"])
      const [a, b, c] = nodes as [SimNode, SimNode, SimNode]
      for (let i = 0; i < 30; i++) {
        yield* a.run(DistributedSupervisor.startChild(SUP, { id: `w${i}`, behavior: "worker", args: [`w${i}`] }))
      }
      yield* settle(50)
      const counts = yield* Effect.forEach(nodes, live)
      expect(counts.reduce((x, y) => x + y, 0)).toBe(30)
      for (const n of counts) expect(n).toBeGreaterThan(0)
      for (const node of nodes) {
        const children = yield* node.run(DistributedSupervisor.whichChildren(SUP))
        expect(children.length).toBe(30)
        expect(children.every((ch) => Option.isSome(ch.ref))).toBe(true)
      }
      expect(yield* c.run(DistributedSupervisor.call(SUP, "w7", "where"))).toBe("w7")
      const dup = yield* Effect.flip(b.run(DistributedSupervisor.startChild(SUP, { id: "w7", behavior: "worker" })))
      expect(dup._tag).toBe("ChildAlreadyStartedError")
    }))

  it.scoped("a killed node's children are restarted on the survivors, each exactly once", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const { events, nodes } = yield* supervised(net, ["a", "b", "c"])
      const [a, b, c] = nodes as [SimNode, SimNode, SimNode]
      for (let i = 0; i < 100; i++) {
        yield* a.run(DistributedSupervisor.startChild(SUP, { id: `w${i}`, behavior: "worker", args: [`w${i}`] }))
      }
      yield* settle(50)
      const onC = (yield* c.run(DistributedSupervisor.whichChildren(SUP))).filter((ch) =>
        Option.getOrThrow(ch.ref).nodeId === c.id
      ).map((ch) => ch.id)
      expect(onC.length).toBeGreaterThan(10)
      yield* net.kill(c.id)
      yield* settle(8000, 50)
      for (const node of [a, b]) {
        const children = yield* node.run(DistributedSupervisor.whichChildren(SUP))
        expect(children.length).toBe(100)
        for (const ch of children) expect(Option.getOrThrow(ch.ref).nodeId).not.toBe(c.id)
        const restarted = events.get(node.id)!.filter((e) => e._tag === "ChildRestarted")
        expect(restarted.map((e) => e.id).sort()).toEqual([...onC].sort())
        for (const e of restarted) if (e._tag === "ChildRestarted") expect(e.from).toBe(c.id)
      }
      expect((yield* live(a)) + (yield* live(b))).toBe(100)
      for (const id of onC) expect(yield* b.run(DistributedSupervisor.call(SUP, id, "where"))).toBe(id)
    }))

  it.scoped("a 2|3 partition: only the majority restarts; after the heal one instance of each, the extra stopped with an event", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const { events, nodes } = yield* supervised(net, ["a", "b", "c", "d", "e"])
      const [a, b, c, d, e] = nodes as [SimNode, SimNode, SimNode, SimNode, SimNode]
      yield* startChildren(a, 50)
      yield* settle(50)
      const before = yield* placement(a)
      const minority = new Set<string>([a.id, b.id])
      const stranded = Object.keys(before).filter((id) => minority.has(before[id]!))
      expect(stranded.length).toBeGreaterThan(5)
      yield* net.partition([a.id, b.id], [c.id, d.id, e.id])
      yield* settle(8000, 100)
      // The majority runs every child; the minority restarted nothing of the majority's.
      for (const node of [c, d, e]) {
        const view = yield* placement(node)
        for (const id of Object.keys(before)) expect(minority.has(view[id]!) || view[id] === "-").toBe(false)
      }
      for (const node of [a, b]) {
        const view = yield* placement(node)
        for (const id of Object.keys(before)) {
          expect(view[id]).toBe(minority.has(before[id]!) ? before[id] : "-")
        }
      }
      yield* net.heal
      yield* awaitMesh(nodes)
      const views = yield* Effect.forEach(nodes, placement)
      for (const view of views) expect(view).toEqual(views[0])
      for (const id of stranded) expect(minority.has(views[0]![id]!)).toBe(false)
      let running = 0
      for (const node of nodes) running += yield* live(node)
      expect(running).toBe(50)
      const conflicts = [...events.get(a.id)!, ...events.get(b.id)!].filter((ev) => ev._tag === "ConflictResolved")
      expect(conflicts.map((ev) => ev.id).sort()).toEqual([...stranded].sort())
    }))

  it.scoped("availability mode: both sides restart; the heal keeps one of each", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const { nodes } = yield* supervised(net, ["a", "b", "c"], { partition: "availability" })
      const [a, b, c] = nodes as [SimNode, SimNode, SimNode]
      yield* startChildren(a, 30)
      yield* settle(50)
      yield* net.partition([a.id], [b.id, c.id])
      yield* settle(8000, 100)
      // Each side runs all 30.
      expect(yield* live(a)).toBe(30)
      expect((yield* live(b)) + (yield* live(c))).toBe(30)
      yield* net.heal
      yield* awaitMesh(nodes)
      const views = yield* Effect.forEach(nodes, placement)
      for (const view of views) expect(view).toEqual(views[0])
      expect((yield* live(a)) + (yield* live(b)) + (yield* live(c))).toBe(30)
    }))

  it.scoped("a graceful leave hands its children over first: a caller by id sees no failure", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const { events, nodes } = yield* supervised(net, ["a", "b", "c"])
      const [a, b, c] = nodes as [SimNode, SimNode, SimNode]
      yield* startChildren(a, 30)
      yield* settle(50)
      const view = yield* placement(a)
      const onC = Object.keys(view).filter((id) => view[id] === c.id)
      expect(onC.length).toBeGreaterThan(3)
      const target = onC[0]!
      let failures = 0
      let answered = 0
      let leaving = true
      const caller = yield* Effect.fork(
        Effect.whileLoop({
          while: () => leaving,
          step: () => Effect.void,
          body: () =>
            a.run(DistributedSupervisor.call(SUP, target, "where")).pipe(
              Effect.match({ onFailure: () => void failures++, onSuccess: () => void answered++ }),
              Effect.zipRight(Effect.sleep(5))
            )
        })
      )
      const stopping = yield* Effect.fork(c.stop)
      yield* settle(3000, 10)
      leaving = false
      yield* settle(20)
      yield* caller.await
      yield* stopping.await
      expect(failures).toBe(0)
      expect(answered).toBeGreaterThan(50)
      const after = yield* placement(b)
      for (const id of Object.keys(view)) expect([a.id, b.id]).toContain(after[id])
      const moved = events.get(a.id)!.filter((ev) => ev._tag === "ChildRestarted" && ev.from === c.id)
      expect(moved.map((ev) => ev.id).sort()).toEqual([...onC].sort())
      expect((yield* live(a)) + (yield* live(b))).toBe(30)
    }))

  it.scoped("a crash restarts a permanent child where it ran; temporary and transient-normal children are gone", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const { events, nodes } = yield* supervised(net, ["a", "b"])
      const [a, b] = nodes as [SimNode, SimNode]
      const p = yield* a.run(DistributedSupervisor.startChild(SUP, { id: "p", behavior: "worker", args: ["p"] }))
      const t = yield* a.run(
        DistributedSupervisor.startChild(SUP, { id: "t", behavior: "worker", args: ["t"], restart: "temporary" })
      )
      const tr = yield* a.run(
        DistributedSupervisor.startChild(SUP, { id: "tr", behavior: "worker", args: ["tr"], restart: "transient" })
      )
      yield* settle(20)
      yield* Effect.ignore(b.run(GenServer.call(p, "crash")))
      yield* Effect.ignore(b.run(GenServer.call(t, "crash")))
      yield* b.run(GenServer.stop(tr))
      yield* settle(50)
      const again = Option.getOrThrow(yield* b.run(DistributedSupervisor.whereis(SUP, "p")))
      expect(again.nodeId).toBe(p.nodeId)
      expect(again.id).not.toBe(p.id)
      expect(yield* b.run(DistributedSupervisor.call(SUP, "p", "where"))).toBe("p")
      expect(Option.isNone(yield* b.run(DistributedSupervisor.whereis(SUP, "t")))).toBe(true)
      expect(Option.isNone(yield* a.run(DistributedSupervisor.whereis(SUP, "tr")))).toBe(true)
      expect(yield* a.run(DistributedSupervisor.countChildren(SUP))).toEqual({ specs: 1, active: 1 })
      const seen = events.get(b.id)!.map((ev) => `${ev._tag} ${ev.id}`)
      expect(seen).toContain("ChildRestarted p")
      expect(seen).toContain("ChildStopped t")
      expect(seen).toContain("ChildStopped tr")
    }))

  it.scoped("terminateChild stops a child wherever it runs and forgets it on every member", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const { nodes } = yield* supervised(net, ["a", "b", "c"])
      const [a, b, c] = nodes as [SimNode, SimNode, SimNode]
      yield* startChildren(a, 10)
      yield* settle(20)
      for (let i = 0; i < 10; i++) yield* b.run(DistributedSupervisor.terminateChild(SUP, `w${i}`))
      yield* settle(20)
      for (const node of nodes) expect(yield* node.run(DistributedSupervisor.whichChildren(SUP))).toEqual([])
      expect((yield* live(a)) + (yield* live(b)) + (yield* live(c))).toBe(0)
      const missing = yield* Effect.flip(c.run(DistributedSupervisor.terminateChild(SUP, "w0")))
      expect(missing._tag).toBe("ChildNotFoundError")
      const none = yield* Effect.flip(c.run(DistributedSupervisor.call(SUP, "w0", "where")))
      expect(none._tag).toBe("ChildNotFoundError")
    }))
})
