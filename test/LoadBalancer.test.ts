import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { GenServer, LoadBalancer, MemoryNetwork } from "../src/index.js"
import { settle, simId, startNode } from "./support/sim.js"

const worker = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", s: number) => [s, s] as const,
  handleCast: (_: unknown, s: number) => s
})

/** a, b, c fully connected; "worker" everywhere, "remoteOnly" on b and c only. */
const cluster = Effect.gen(function*() {
  const net = yield* MemoryNetwork.make
  const a = yield* startNode(net, "a", { behaviors: { worker } })
  const b = yield* startNode(net, "b", { behaviors: { worker, remoteOnly: worker }, seeds: [simId("a")] })
  const c = yield* startNode(net, "c", { behaviors: { worker, remoteOnly: worker }, seeds: [simId("a")] })
  yield* settle(300)
  return { a, b, c }
})

describe("LoadBalancer on a 3-node cluster (simulated)", () => {
  it.scoped("round-robin places processes on each connected node in turn", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* cluster
      const spawner = yield* LoadBalancer.roundRobin()
      const placed = yield* a.run(Effect.forEach(Array.from({ length: 6 }), () => spawner.spawn("worker")))
      const order = (yield* a.cluster.getConnectedNodes).map((n) => n.id)
      expect(placed.map((r) => r.nodeId)).toEqual([...order, ...order, ...order])
      expect(yield* b.run(GenServer.processCount)).toBe(3)
      expect(yield* c.run(GenServer.processCount)).toBe(3)
      const withLocal = yield* LoadBalancer.roundRobin({ includeLocal: true })
      const three = yield* a.run(Effect.forEach([1, 2, 3], () => withLocal.spawn("worker")))
      expect(new Set(three.map((r) => r.nodeId))).toEqual(new Set([a.id, b.id, c.id]))
    }))

  it.scoped("least-loaded picks the node with the fewest live processes", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* cluster
      yield* b.run(Effect.forEach([1, 2, 3, 4, 5], () => GenServer.start(worker)))
      yield* c.run(GenServer.start(worker))
      yield* settle(1100) // one heartbeat carries the new counts
      expect(yield* a.run(LoadBalancer.leastLoadedNode())).toBe(c.id)
      const placed = yield* a.run(LoadBalancer.spawnOnLeastLoaded("worker"))
      expect(placed.nodeId).toBe(c.id)
      expect(yield* a.run(LoadBalancer.leastLoadedNode({ includeLocal: true }))).toBe(a.id)
    }))

  it.scoped("least-loaded counts the spawns it placed before any heartbeat shows them: bursts of 10 over 2 nodes land 5/5", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* cluster
      const countOn = (placed: ReadonlyArray<{ nodeId: string }>) =>
        [b.id, c.id].map((id) => placed.filter((r) => r.nodeId === id).length)
      const views = a.cluster.getConnectedNodes.pipe(
        Effect.map((nodes) => [b.id, c.id].map((id) => nodes.find((n) => n.id === id)!.processCount))
      )
      // In a row, with no heartbeat in between: each spawn sees the ones before it.
      const inRow = yield* a.run(
        Effect.forEach(Array.from({ length: 10 }), () => LoadBalancer.spawnOnLeastLoaded("worker"))
      )
      expect(countOn(inRow)).toEqual([5, 5])
      expect(yield* views).toEqual([5, 5])
      // A spawn that fails places nothing.
      yield* Effect.flip(a.run(LoadBalancer.spawnOnLeastLoaded("missing")))
      expect(yield* views).toEqual([5, 5])
      // Once heartbeats carry the processes, they are not counted twice.
      yield* settle(1100)
      expect(yield* views).toEqual([5, 5])
      expect([yield* b.run(GenServer.processCount), yield* c.run(GenServer.processCount)]).toEqual([5, 5])
      // All at once: the spawns still in flight count too.
      const atOnce = yield* a.run(
        Effect.all(Array.from({ length: 10 }, () => LoadBalancer.spawnOnLeastLoaded("worker")), {
          concurrency: "unbounded"
        })
      )
      expect(countOn(atOnce)).toEqual([5, 5])
      yield* settle(1100)
      expect(yield* views).toEqual([10, 10])
    }))

  it.scoped("prefer-local spawns here when it can and falls back to another node when it cannot", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* cluster
      expect((yield* a.run(LoadBalancer.spawnPreferLocal("worker"))).nodeId).toBe(a.id)
      const fallback = yield* a.run(LoadBalancer.spawnPreferLocal("remoteOnly"))
      expect([b.id, c.id]).toContain(fallback.nodeId)
      const nowhere = yield* Effect.flip(a.run(LoadBalancer.spawnPreferLocal("missing")))
      expect(nowhere._tag).toBe("BehaviorNotFoundError")
    }))

  it.scoped("fails with NoNodesAvailableError when no node is connected", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const alone = yield* startNode(net, "alone", { behaviors: { worker } })
      const spawner = yield* LoadBalancer.roundRobin()
      expect((yield* Effect.flip(alone.run(spawner.spawn("worker"))))._tag).toBe("NoNodesAvailableError")
      expect((yield* Effect.flip(alone.run(LoadBalancer.leastLoadedNode())))._tag).toBe("NoNodesAvailableError")
    }))
})
