import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import { Cluster, MemoryNetwork } from "../src/index.js"
import { simId, startNode } from "./support/sim.js"

describe("Cluster.awaitNodes (simulated)", () => {
  it.scoped("waits for a count or for named nodes, wakes when they connect, and answers the connected nodes", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      // Started before any peer exists: it must wake on the node events, not on a first look.
      const two = yield* Effect.fork(a.run(Cluster.awaitNodes({ count: 2, timeout: "10 seconds" })))
      const named = yield* Effect.fork(a.run(Cluster.awaitNodes({ ids: [simId("c"), simId("a")] })))
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      yield* TestClock.adjust("500 millis")
      expect(two.unsafePoll()).toBeNull()
      expect(named.unsafePoll()).toBeNull()
      yield* startNode(net, "c", { seeds: [simId("a")] })
      yield* TestClock.adjust("500 millis")
      const nodes = yield* Fiber.join(two)
      expect(nodes.map((n) => n.id).sort()).toEqual([b.id, simId("c")].sort())
      expect((yield* Fiber.join(named)).some((n) => n.id === simId("c"))).toBe(true)
      // Already satisfied: answers at once. The default is one node.
      expect((yield* a.run(Cluster.awaitNodes())).length).toBe(2)
    }))

  it.scoped("fails after its timeout with AwaitNodesTimeoutError naming what is missing and what is connected", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      yield* TestClock.adjust("500 millis")
      const waiting = yield* Effect.fork(
        Effect.flip(a.run(Cluster.awaitNodes({ ids: [b.id, simId("nowhere")], count: 1, timeout: "2 seconds" })))
      )
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(waiting)
      expect(error._tag).toBe("AwaitNodesTimeoutError")
      expect(error.missing).toEqual([simId("nowhere")])
      expect(error.connected).toEqual([b.id])
      expect(error.timeoutMs).toBe(2000)
      expect(error.message).toContain("missing nowhere@sim:1")
    }))
})
