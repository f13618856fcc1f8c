/**
 * Review reproductions: registerOrWhereis with names the registry refuses.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { BehaviorRegistry, GenServer, GlobalRegistry, MemoryNetwork } from "../src/index.js"
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

describe("Review: registerOrWhereis and long names", () => {
  it.scoped("a name the registry refuses (over MAX_ENTRY_BYTES): the error, and no process left running", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a] = (yield* cluster(net, ["a", "b"])) as [SimNode, SimNode]
      const result = yield* Effect.either(
        a.run(GlobalRegistry.registerOrWhereis("n".repeat(3000), GenServer.start(worker)))
      )
      expect({ failed: result._tag, running: yield* a.run(GenServer.processCount) }).toEqual({
        failed: "Left",
        running: 0
      })
    }))

  it.scoped("a name over the lock's 4096 characters, asked of another node's arbiter: the call still ends", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [, b] = (yield* cluster(net, ["a", "b"])) as [SimNode, SimNode]
      // a has the lowest NodeId: it arbitrates b's request, and drops it as undecodable.
      const fiber = yield* Effect.fork(
        b.run(GlobalRegistry.registerOrWhereis("n".repeat(5000), GenServer.start(worker)))
      )
      yield* settle(60_000, 1000)
      expect(fiber.unsafePoll()).not.toBeNull()
      yield* Fiber.interrupt(fiber)
    }))
})
