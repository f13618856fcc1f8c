/**
 * Review reproduction: joining another node's process to a scope that node never used.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { BehaviorRegistry, GenServer, MemoryNetwork, ProcessGroups } from "../src/index.js"
import { settle, simId, startNode } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

const worker = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", n: number) => [n, n] as const,
  handleCast: (_: unknown, n: number) => n
})
const registry = BehaviorRegistry.layer({ worker })

describe("Review: ProcessGroups remote join into a scope the owner never used", () => {
  // KNOWN (open in #16): a remote join needs the scope started on the owner node. Fails until fixed; then drop `.fails`.
  it.scoped.fails("a live process on another node joins scope 'jobs' (first used by the caller)", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const nodes: Array<SimNode> = []
      for (const name of ["a", "b"]) {
        nodes.push(yield* startNode(net, name, { registry, seeds: nodes.length === 0 ? [] : [simId("a")] }))
      }
      yield* settle(300)
      const [a, b] = nodes as [SimNode, SimNode]
      const w = yield* b.run(GenServer.start(worker))
      const joined = yield* Effect.either(a.run(ProcessGroups.join("g", w, { scope: "jobs" })))
      if (joined._tag === "Left") console.log("join failed:", joined.left)
      yield* settle(100)
      expect(joined._tag).toBe("Right")
      expect((yield* a.run(ProcessGroups.members("g", { scope: "jobs" }))).length).toBe(1)
    }))
})
