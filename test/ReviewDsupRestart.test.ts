/**
 * Review check: a node killed and restarted with the same NodeId before the others'
 * stableAfter ran out: every child runs exactly once and the members agree.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Scope } from "effect"
import { BehaviorRegistry, DistributedSupervisor, GenServer, MemoryNetwork } from "../src/index.js"
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

describe("Review: node restart with the same NodeId", () => {
  for (const gap of [200, 3000]) {
    it.scoped(`restarted ${gap} ms after the kill: each child once, views agree`, () =>
      Effect.gen(function*() {
        const net = yield* MemoryNetwork.make
        const nodes: Array<SimNode> = []
        for (const name of ["a", "b", "c"]) {
          nodes.push(yield* startNode(net, name, { registry, ...fast, seeds: nodes.length === 0 ? [] : [simId("a")] }))
        }
        yield* settle(300)
        for (const node of nodes) yield* Scope.extend(node.run(DistributedSupervisor.start(SUP)), node.scope)
        yield* settle(100)
        const [a, b, c] = nodes as [SimNode, SimNode, SimNode]
        for (let i = 0; i < 30; i++) {
          yield* a.run(DistributedSupervisor.startChild(SUP, { id: `w${i}`, behavior: "worker", args: [`w${i}`] }))
        }
        yield* settle(100)
        yield* net.kill(c.id)
        yield* settle(gap, 50)
        yield* c.stop
        yield* net.revive(c.id)
        const c2 = yield* startNode(net, "c", { registry, ...fast, seeds: [a.id] })
        yield* settle(500, 50)
        yield* Scope.extend(c2.run(DistributedSupervisor.start(SUP)), c2.scope)
        yield* settle(8000, 100)
        const views = yield* Effect.forEach([a, b, c2], (n) =>
          Effect.map(n.run(DistributedSupervisor.whichChildren(SUP)), (chs) =>
            chs.map((ch) =>
              `${ch.id}@${Option.getOrUndefined(ch.ref)?.nodeId}`
            ).join(",")))
        expect(views[1]).toBe(views[0])
        expect(views[2]).toBe(views[0])
        expect(views[0]!.includes("undefined")).toBe(false)
        const running = (yield* a.run(GenServer.processCount)) + (yield* b.run(GenServer.processCount)) +
          (yield* c2.run(GenServer.processCount))
        expect(running).toBe(30)
      }))
  }
})
