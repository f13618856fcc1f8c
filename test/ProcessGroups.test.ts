import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Layer, Stream } from "effect"
import { BehaviorRegistry, GenServer, MemoryNetwork, ProcessGroups } from "../src/index.js"
import type { ServerRef } from "../src/index.js"
import { flush, settle, simId, startNode } from "./support/sim.js"
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

const startWorker = (node: SimNode) => node.run(GenServer.start(worker))
const membersOn = (node: SimNode, group: string, scope?: string) =>
  node.run(ProcessGroups.members(group, { scope })).pipe(Effect.map((refs) => refs.map(key).sort()))
const key = (ref: ServerRef) => `${ref.nodeId.split("@")[0]}/${ref.id}`

describe("ProcessGroups", () => {
  it.scoped("members joined on any node are seen on every node; local members only here", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c] = yield* cluster(net, ["a", "b", "c"])
      const wa = yield* startWorker(a!)
      const wb = yield* startWorker(b!)
      yield* a!.run(ProcessGroups.join("workers", wa))
      yield* b!.run(ProcessGroups.join("workers", [wb, wb]))
      yield* settle(50)
      const all = [key(wa), key(wb), key(wb)].sort()
      for (const node of [a!, b!, c!]) expect(yield* membersOn(node, "workers")).toEqual(all)
      expect((yield* b!.run(ProcessGroups.localMembers("workers"))).length).toBe(2)
      expect(yield* c!.run(ProcessGroups.whichGroups())).toEqual(["workers"])
      // Joined twice, left once: still a member.
      yield* b!.run(ProcessGroups.leave("workers", wb))
      yield* settle(50)
      expect(yield* membersOn(c!, "workers")).toEqual([key(wa), key(wb)].sort())
    }))

  it.scoped("a member leaves every group when it exits, and when its node goes down", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c] = yield* cluster(net, ["a", "b", "c"])
      const wa = yield* startWorker(a!)
      const wb = yield* startWorker(b!)
      yield* a!.run(ProcessGroups.join("g1", wa))
      yield* a!.run(ProcessGroups.join("g2", wa))
      yield* b!.run(ProcessGroups.join("g1", wb))
      yield* settle(50)
      yield* a!.run(GenServer.stop(wa))
      yield* settle(50)
      expect(yield* membersOn(c!, "g1")).toEqual([key(wb)])
      expect(yield* membersOn(c!, "g2")).toEqual([])
      yield* net.kill(b!.id)
      yield* settle(8000, 50)
      expect(yield* membersOn(a!, "g1")).toEqual([])
      expect(yield* membersOn(c!, "g1")).toEqual([])
    }))

  it.scoped("a ref on another node is joined by its node; a dead ref fails with RemoteServerNotRunningError", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = yield* cluster(net, ["a", "b"])
      const wb = yield* startWorker(b!)
      yield* a!.run(ProcessGroups.join("g", wb))
      expect(yield* b!.run(ProcessGroups.localMembers("g"))).toEqual([wb])
      yield* settle(20)
      expect(yield* membersOn(a!, "g")).toEqual([key(wb)])
      yield* b!.run(GenServer.stop(wb))
      const local = yield* a!.run(GenServer.start(worker))
      yield* a!.run(GenServer.stop(local))
      for (const dead of [wb, local]) {
        const exit = yield* Effect.exit(a!.run(ProcessGroups.join("g", dead)))
        expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("RemoteServerNotRunningError")
      }
    }))

  it.scoped("scopes keep two libraries' groups apart", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = yield* cluster(net, ["a", "b"])
      const wa = yield* startWorker(a!)
      yield* a!.run(ProcessGroups.join("g", wa, { scope: "lib1" }))
      // b touches the scope after the join: it learns the members from a.
      yield* settle(20)
      expect(yield* membersOn(b!, "g", "lib1")).toEqual([])
      yield* settle(20)
      expect(yield* membersOn(b!, "g", "lib1")).toEqual([key(wa)])
      expect(yield* membersOn(b!, "g")).toEqual([])
      expect(yield* membersOn(b!, "g", "lib2")).toEqual([])
    }))

  it.scoped("the views converge after a partition heals", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c] = yield* cluster(net, ["a", "b", "c"])
      const wa = yield* startWorker(a!)
      const wc = yield* startWorker(c!)
      yield* a!.run(ProcessGroups.join("g", wa))
      yield* settle(50)
      yield* net.partition([a!.id], [b!.id, c!.id])
      yield* settle(8000, 50)
      expect(yield* membersOn(c!, "g")).toEqual([])
      // Both sides change the group while apart.
      yield* c!.run(ProcessGroups.join("g", wc))
      yield* a!.run(ProcessGroups.leave("g", wa))
      const wa2 = yield* startWorker(a!)
      yield* a!.run(ProcessGroups.join("g", wa2))
      yield* net.heal
      yield* settle(15000, 50)
      const expected = [key(wa2), key(wc)].sort()
      for (const node of [a!, b!, c!]) expect(yield* membersOn(node, "g")).toEqual(expected)
    }))

  it.scoped("changes streams Joined and Left events for the scope", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = yield* cluster(net, ["a", "b"])
      const fiber = yield* b!.run(
        Stream.runCollect(Stream.take(ProcessGroups.changes(), 2))
      ).pipe(Effect.fork)
      yield* flush
      const wa = yield* startWorker(a!)
      yield* a!.run(ProcessGroups.join("g", wa))
      yield* settle(20)
      yield* a!.run(GenServer.stop(wa))
      yield* settle(20)
      const events = Chunk.toArray(yield* Fiber.join(fiber))
      expect(events.map((e) => `${e._tag} ${e.group} ${e.refs.map(key).join(",")}`)).toEqual([
        `Joined g ${key(wa)}`,
        `Left g ${key(wa)}`
      ])
    }))

  it.scoped("works without a cluster (ProcessGroups.layer over GenServer.layer)", () =>
    Effect.gen(function*() {
      const w = yield* GenServer.start(worker)
      yield* ProcessGroups.join("g", w)
      expect(yield* ProcessGroups.members("g")).toEqual([w])
      yield* GenServer.stop(w)
      expect(yield* ProcessGroups.members("g")).toEqual([])
    }).pipe(Effect.provide(ProcessGroups.layer.pipe(Layer.provideMerge(GenServer.layer)))))
})
