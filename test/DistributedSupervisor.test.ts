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
  handleCall: (_: "where", s: { id: string; calls: number }) => [s.id, { ...s, calls: s.calls + 1 }] as const,
  handleCast: (_: unknown, s: { id: string; calls: number }) => s
})

const registry = BehaviorRegistry.layer({ worker })

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
})
