/**
 * Review reproduction: a scope's multi-frame sync races joins/leaves made from callers'
 * fibers (they mutate the scope and broadcast outside its process); the last sync frame
 * replaces what the peer holds, undoing a leave that arrived between frames.
 * NOTE: this one passes on MemoryTransport, whose sink never congests (the race needs the
 * scope process to wait on `writable` between sync frames, as it does on a slow TCP link);
 * it stays as a guard. The second test: a join too big for one frame reaches the peers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { BehaviorRegistry, GenServer, MemoryNetwork, ProcessGroups } from "../src/index.js"
import { flush, settle, simId, startNode } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

const worker = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", n: number) => [n, n] as const,
  handleCast: (_: unknown, n: number) => n
})
const registry = BehaviorRegistry.layer({ worker })

describe("Review: ProcessGroups sync vs concurrent leave", () => {
  it.scoped("leaves made while a sync is being sent are not undone by its last frame", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const nodes: Array<SimNode> = []
      for (const name of ["a", "b"]) {
        nodes.push(
          yield* startNode(net, name, { registry, maxFrameBytes: 4096, seeds: nodes.length === 0 ? [] : [simId("a")] })
        )
      }
      yield* settle(300)
      const [a, b] = nodes as [SimNode, SimNode]
      const w = yield* a.run(GenServer.start(worker))
      for (let i = 0; i < 400; i++) yield* a.run(ProcessGroups.join("g", Array.from({ length: 50 }, () => w)))
      yield* settle(100)
      expect((yield* b.run(ProcessGroups.members("g"))).length).toBe(20_000)
      // b asks a for its share again (what b's node does when the link comes back up)...
      yield* b.run(GenServer.send({ id: "noex.pg.default", nodeId: a.id }, { _tag: "pg.discover" }))
      // ...while a's code leaves, one membership at a time.
      const leaving = yield* Effect.fork(
        a.run(Effect.forEach(Array.from({ length: 200 }), () => Effect.zipRight(ProcessGroups.leave("g", w), flush), {
          discard: true
        }))
      )
      yield* Fiber.join(leaving)
      yield* settle(1000, 10)
      const onA = (yield* a.run(ProcessGroups.members("g"))).length
      const onB = (yield* b.run(ProcessGroups.members("g"))).length
      expect({ onA, onB }).toEqual({ onA: 19_800, onB: 19_800 })
    }))
})

describe("Review: ProcessGroups join broadcast size", () => {
  it.scoped("a join of many refs at once reaches the peers (it is split to fit the link's frame limit)", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const nodes: Array<SimNode> = []
      for (const name of ["a", "b"]) {
        nodes.push(
          yield* startNode(net, name, { registry, maxFrameBytes: 4096, seeds: nodes.length === 0 ? [] : [simId("a")] })
        )
      }
      yield* settle(300)
      const [a, b] = nodes as [SimNode, SimNode]
      const ws = yield* Effect.forEach(Array.from({ length: 300 }), () => a.run(GenServer.start(worker)))
      yield* a.run(ProcessGroups.join("g", ws))
      yield* settle(100)
      expect((yield* b.run(ProcessGroups.members("g"))).length).toBe(300)
    }))
})
