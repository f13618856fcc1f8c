/**
 * Review reproductions for DistributedSupervisor (each test asserts what the docs promise;
 * a failing test is a finding).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Scope } from "effect"
import { BehaviorRegistry, DistributedSupervisor, GenServer, MemoryNetwork } from "../src/index.js"
import { settle, simId, startNode } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

const worker = GenServer.behavior({
  init: (id: string) => id,
  handleCall: (_: "where", id: string) => [id, id] as const,
  handleCast: (_: unknown, id: string) => id
})
/** A child whose terminate never ends. */
const stuck = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "ping", s: number) => ["pong", s] as const,
  handleCast: (_: unknown, s: number) => s,
  terminate: () => Effect.never
})
const registry = BehaviorRegistry.layer({ worker, stuck })
const SUP = "pool"

const awaitMesh = (nodes: ReadonlyArray<SimNode>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      const counts = yield* Effect.forEach(nodes, (n) => Effect.map(n.cluster.getConnectedNodes, (c) => c.length))
      if (counts.every((c) => c === nodes.length - 1)) return yield* settle(300, 50)
      yield* settle(250, 250)
    }
    throw new Error("no full mesh")
  })

const boot = (net: MemoryNetwork, names: ReadonlyArray<string>, options?: DistributedSupervisor.Options, extra = {}) =>
  Effect.gen(function*() {
    const nodes: Array<SimNode> = []
    for (const name of names) {
      nodes.push(
        yield* startNode(net, name, { registry, ...extra, seeds: nodes.length === 0 ? [] : [simId(names[0]!)] })
      )
    }
    yield* settle(300)
    for (const node of nodes) yield* Scope.extend(node.run(DistributedSupervisor.start(SUP, options)), node.scope)
    yield* settle(100)
    return nodes
  })

const live = (node: SimNode) => node.run(GenServer.processCount)

describe("Review: DistributedSupervisor", () => {
  it.scoped("terminateChild then startChild with the same id: the new child is known and callable", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = (yield* boot(net, ["a", "b"])) as [SimNode, SimNode]
      yield* a.run(DistributedSupervisor.startChild(SUP, { id: "w", behavior: "worker", args: ["w"] }))
      yield* settle(50)
      yield* a.run(DistributedSupervisor.terminateChild(SUP, "w"))
      yield* settle(50)
      const ref = yield* a.run(DistributedSupervisor.startChild(SUP, { id: "w", behavior: "worker", args: ["w"] }))
      yield* settle(50)
      // It runs...
      expect((yield* live(a)) + (yield* live(b))).toBe(1)
      // ...but no member knows it.
      expect(Option.getOrUndefined(yield* a.run(DistributedSupervisor.whereis(SUP, "w")))).toEqual(ref)
      expect(yield* b.run(DistributedSupervisor.call(SUP, "w", "where"))).toBe("w")
    }))

  it.scoped("placement: least-loaded spreads children over the members", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const nodes = yield* boot(net, ["a", "b", "c"], { placement: "least-loaded" })
      for (let i = 0; i < 30; i++) {
        yield* nodes[0]!.run(
          DistributedSupervisor.startChild(SUP, { id: `w${i}`, behavior: "worker", args: [`w${i}`] })
        )
      }
      yield* settle(50)
      const counts = yield* Effect.forEach(nodes, live)
      expect(counts).not.toEqual([30, 0, 0])
      for (const n of counts) expect(n).toBeGreaterThan(0)
    }))

  it.scoped("a child whose terminate never ends does not wedge the supervisor on its node", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a] = (yield* boot(net, ["a", "b"])) as [SimNode, SimNode]
      // Find an id that hashes to a.
      let id = ""
      for (let i = 0;; i++) {
        const ref = yield* a.run(DistributedSupervisor.startChild(SUP, { id: `s${i}`, behavior: "stuck" }))
        if (ref.nodeId === a.id) {
          id = `s${i}`
          break
        }
      }
      yield* settle(50)
      const term = yield* Effect.fork(a.run(DistributedSupervisor.terminateChild(SUP, id)))
      yield* settle(12_000, 100)
      const termExit = yield* Fiber.await(term)
      // Whatever terminateChild answered, the supervisor on a must still take requests.
      const next = yield* Effect.fork(
        a.run(DistributedSupervisor.startChild(SUP, { id: "after", behavior: "worker", args: ["after"] }))
      )
      yield* settle(12_000, 100)
      const nextExit = yield* Fiber.await(next)
      if (process.env.REVIEW_DEBUG) console.log(termExit, nextExit)
      expect({ term: Exit.isSuccess(termExit), next: Exit.isSuccess(nextExit) }).toEqual({ term: true, next: true })
    }))

  it.scoped("quorum after churn: a replaced node is not counted forever (3 live members, 1 killed, failover happens)", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const fast = { heartbeatInterval: 1000, heartbeatMissThreshold: 2 }
      const nodes = yield* boot(net, ["a", "b", "c"], undefined, fast)
      const [a, b, c] = nodes as [SimNode, SimNode, SimNode]
      // c dies for good; d replaces it (a new NodeId, as a rescheduled pod gets).
      yield* net.kill(c.id)
      yield* settle(6000, 100)
      const d = yield* startNode(net, "d", { registry, ...fast, seeds: [a.id] })
      yield* awaitMesh([a, b, d])
      yield* Scope.extend(d.run(DistributedSupervisor.start(SUP)), d.scope)
      yield* settle(500, 50)
      for (let i = 0; i < 30; i++) {
        yield* a.run(DistributedSupervisor.startChild(SUP, { id: `w${i}`, behavior: "worker", args: [`w${i}`] }))
      }
      yield* settle(100)
      const onD = (yield* a.run(DistributedSupervisor.whichChildren(SUP))).filter((ch) =>
        Option.getOrUndefined(ch.ref)?.nodeId === d.id
      ).length
      expect(onD).toBeGreaterThan(0)
      // Three live members; one dies: two of three is a majority.
      yield* net.kill(d.id)
      yield* settle(8000, 100)
      expect((yield* live(a)) + (yield* live(b))).toBe(30)
    }))

  it.scoped("control for the churn test: the same sequence in availability mode fails over (passes)", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const fast = { heartbeatInterval: 1000, heartbeatMissThreshold: 2 }
      const nodes = yield* boot(net, ["a", "b", "c"], { partition: "availability" }, fast)
      const [a, b, c] = nodes as [SimNode, SimNode, SimNode]
      // c dies for good; d replaces it (a new NodeId, as a rescheduled pod gets).
      yield* net.kill(c.id)
      yield* settle(6000, 100)
      const d = yield* startNode(net, "d", { registry, ...fast, seeds: [a.id] })
      yield* awaitMesh([a, b, d])
      yield* Scope.extend(d.run(DistributedSupervisor.start(SUP, { partition: "availability" })), d.scope)
      yield* settle(500, 50)
      for (let i = 0; i < 30; i++) {
        yield* a.run(DistributedSupervisor.startChild(SUP, { id: `w${i}`, behavior: "worker", args: [`w${i}`] }))
      }
      yield* settle(100)
      const onD = (yield* a.run(DistributedSupervisor.whichChildren(SUP))).filter((ch) =>
        Option.getOrUndefined(ch.ref)?.nodeId === d.id
      ).length
      expect(onD).toBeGreaterThan(0)
      // Three live members; one dies: two of three is a majority.
      yield* net.kill(d.id)
      yield* settle(8000, 100)
      expect((yield* live(a)) + (yield* live(b))).toBe(30)
    }))
})
