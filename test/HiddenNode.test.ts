import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, TestClock } from "effect"
import { internalsOf } from "../src/cluster/internal/node.js"
import {
  Cluster,
  GenServer,
  GlobalRegistry,
  LoadBalancer,
  MemoryNetwork,
  RemoteCall,
  RemoteSpawn
} from "../src/index.js"
import { settle, simId, startNode } from "./support/sim.js"
import { counter } from "./support/test-behaviors.js"

const behaviors = { counter }

describe("hidden nodes (simulated)", () => {
  it.scoped("a hidden node is linked to its seeds only and its peers do not count it as a member", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a", { behaviors })
      const b = yield* startNode(net, "b", { behaviors, seeds: [simId("a")] })
      yield* settle()
      const h = yield* startNode(net, "h", { hidden: true, seeds: [simId("a")] })
      yield* settle()
      // The tool sees the node it dialed; the node does not see the tool.
      expect((yield* h.run(Cluster.getConnectedNodes)).map((n) => n.id)).toEqual([a.id])
      expect((yield* a.run(Cluster.getConnectedNodes)).map((n) => n.id)).toEqual([b.id])
      expect(yield* a.run(Cluster.isNodeConnected(h.id))).toBe(false)
      expect(a.events.some((e) => e.nodeId === h.id)).toBe(false)
      // Never gossiped: b does not hear of h, and h does not dial b.
      expect(internalsOf(b.cluster).membership.linkTo(h.id)).toBeUndefined()
      expect(internalsOf(h.cluster).membership.linkTo(b.id)).toBeUndefined()
      // Placement on a never picks the tool.
      const spawner = yield* LoadBalancer.roundRobin()
      for (let i = 0; i < 4; i++) expect((yield* a.run(spawner.spawn("counter"))).nodeId).toBe(b.id)
      expect(yield* a.run(LoadBalancer.leastLoadedNode())).toBe(b.id)

      // It can spawn and call on the node it is linked to.
      const ref = yield* h.run(RemoteSpawn.spawn("counter", a.id, { name: "c1", registration: "global" }))
      const serverRef = { id: ref.serverId, nodeId: a.id }
      yield* h.run(RemoteCall.cast(serverRef, "inc"))
      expect(yield* h.run(RemoteCall.call(serverRef, "get"))).toBe(1)
      // The registry is the members': a's name reached b, not the tool; the tool's own name reaches no member.
      yield* settle(200)
      expect(Option.isSome(yield* b.run(GlobalRegistry.whereis("c1")))).toBe(true)
      expect(Option.isNone(yield* h.run(GlobalRegistry.whereis("c1")))).toBe(true)
      const own = yield* h.run(GenServer.start(counter))
      yield* h.run(GlobalRegistry.register("tool-name", own))
      // A member registers its own process when a tool asks, for every member.
      yield* h.run(GlobalRegistry.register("asked-by-tool", serverRef))
      yield* settle(200)
      expect(Option.isNone(yield* a.run(GlobalRegistry.whereis("tool-name")))).toBe(true)
      expect(Option.isSome(yield* b.run(GlobalRegistry.whereis("asked-by-tool")))).toBe(true)

      // When the tool leaves, nobody reports it and nobody redials it; what it spawned stays.
      yield* h.stop
      yield* settle(3000)
      expect(a.events.some((e) => e.nodeId === h.id)).toBe(false)
      expect(internalsOf(a.cluster).membership.knownPeerCount()).toBe(1)
      expect(yield* a.run(RemoteCall.call(serverRef, "get"))).toBe(1)
    }))
})

describe("Cluster inspection (simulated)", () => {
  it.scoped("describes a node, pages its processes with their behavior and mailbox, and lists the global names", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a", { behaviors })
      const b = yield* startNode(net, "b", { behaviors, seeds: [simId("a")] })
      yield* settle()
      for (let i = 0; i < 5; i++) {
        yield* b.run(RemoteSpawn.spawn("counter", a.id, { name: `n${i}`, registration: i < 2 ? "global" : "local" }))
      }
      yield* settle(200)
      const h = yield* startNode(net, "h", { hidden: true, seeds: [simId("a")] })
      yield* settle()

      const report = yield* h.run(Cluster.describeNode(a.id))
      expect(report.nodeId).toBe(a.id)
      expect(report.incarnation).toBe(a.cluster.incarnation)
      expect(report.processCount).toBe(5)
      expect(report.behaviors).toEqual(["counter"])
      // The tool is not among a's members.
      expect(report.members.map((m) => m.nodeId)).toEqual([b.id])
      expect((yield* h.run(Cluster.describeNode())).nodeId).toBe(h.id)

      const first = yield* h.run(Cluster.listProcesses(a.id, { limit: 3 }))
      expect(first.total).toBe(5)
      // In start order: the two global ones carry no local name.
      expect(first.processes.map((p) => p.name)).toEqual([undefined, undefined, "n2"])
      const rest = yield* h.run(Cluster.listProcesses(a.id, { offset: 3 }))
      const all = [...first.processes, ...rest.processes]
      expect(all.length).toBe(5)
      expect(new Set(all.map((p) => p.serverId)).size).toBe(5)
      expect(all.every((p) => p.behavior === "counter" && p.mailbox === 0 && !p.busy)).toBe(true)
      // Locally registered names show on the process; global ones in the names.
      expect(all.map((p) => p.name).filter((n) => n !== undefined).sort()).toEqual(["n2", "n3", "n4"])
      expect(all.flatMap((p) => p.globalNames ?? []).sort()).toEqual(["n0", "n1"])
      const names = yield* h.run(Cluster.listNames(a.id))
      expect(names.total).toBe(2)
      expect(names.names.map((n) => [n.name, n.nodeId])).toEqual([["n0", a.id], ["n1", a.id]])
      expect(all.map((p) => p.serverId)).toContain(names.names[0]!.serverId)
    }))

  it.scoped("an answer too large for the asker's frames comes in smaller pages that still cover everything", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a", { behaviors })
      const h = yield* startNode(net, "h", { hidden: true, seeds: [simId("a")], maxFrameBytes: 4096 })
      yield* settle()
      const long = "x".repeat(200)
      for (let i = 0; i < 40; i++) {
        yield* h.run(RemoteSpawn.spawn("counter", a.id, { name: `${long}${i}`, registration: "local" }))
      }
      const seen: Array<string> = []
      let offset = 0
      for (;;) {
        const page = yield* h.run(Cluster.listProcesses(a.id, { offset }))
        expect(page.total).toBe(40)
        // 40 entries of ~230 bytes cannot fit 4 KiB: the page was cut.
        expect(page.processes.length).toBeLessThan(40)
        expect(page.processes.length).toBeGreaterThan(0)
        seen.push(...page.processes.map((p) => p.name!))
        offset += page.processes.length
        if (offset >= page.total) break
      }
      expect(new Set(seen).size).toBe(40)
    }))

  it.scoped("fails with NodeNotReachableError for a node not linked, and InspectTimeoutError when no answer comes", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const h = yield* startNode(net, "h", { hidden: true, seeds: [simId("a")] })
      yield* settle()
      const unreachable = yield* Effect.flip(h.run(Cluster.describeNode(simId("nowhere"))))
      expect(unreachable._tag).toBe("NodeNotReachableError")
      // A partition holds the frames: the inspection gives up after its timeout, then the link goes.
      yield* net.partition([a.id], [h.id])
      const asking = yield* Effect.fork(Effect.flip(h.run(Cluster.describeNode(a.id, { timeout: "2 seconds" }))))
      yield* TestClock.adjust("2 seconds")
      const timedOut = yield* Fiber.join(asking)
      expect(timedOut._tag).toBe("InspectTimeoutError")
      expect(timedOut.message).toContain("within 2000 ms")
    }))

  it.scoped("looks up one global name, answers any offset at once, and cuts a node report that does not fit", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      // Many behaviors with long names: the node report is larger than the tool's 4 KiB frames.
      const many = Object.fromEntries(
        Array.from({ length: 200 }, (_, i) => [`behavior-with-a-long-name-${i}`, counter])
      )
      const a = yield* startNode(net, "a", { behaviors: many })
      const h = yield* startNode(net, "h", { hidden: true, seeds: [simId("a")], maxFrameBytes: 4096 })
      yield* settle()
      const ref = yield* a.run(GenServer.start(counter))
      yield* a.run(GlobalRegistry.register("the-one", ref))
      const found = yield* h.run(Cluster.lookupName(a.id, "the-one"))
      expect(Option.getOrThrow(found)).toEqual({ name: "the-one", serverId: ref.id, nodeId: a.id })
      expect(Option.isNone(yield* h.run(Cluster.lookupName(a.id, "nobody")))).toBe(true)
      // Offsets past anything, or not numbers at all, are an empty page, not a dropped frame and a timeout.
      for (const offset of [2 ** 60, Infinity, NaN, -3]) {
        const page = yield* h.run(Cluster.listProcesses(a.id, { offset, limit: NaN }))
        expect(page.total).toBe(1)
      }
      const report = yield* h.run(Cluster.describeNode(a.id))
      expect(report.processCount).toBe(1)
      expect(report.behaviors.length).toBeGreaterThan(0)
      expect(report.behaviors.length).toBeLessThan(200)
      const answer = yield* h.run(
        Effect.flatMap(Cluster.Cluster, (c) => c.inspect(a.id, { section: "node", offset: 0, limit: 0 }))
      )
      expect(answer.truncated).toBe(true)
    }))

  it.scoped("a hidden node redials its seeds only: a member that dialed it and went away is forgotten", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const h = yield* startNode(net, "h", { hidden: true, seeds: [simId("a")] })
      yield* settle()
      // m lists the tool as its seed: it dials h, and h links it (as any node accepts a dial).
      const m = yield* startNode(net, "m", { seeds: [simId("h")] })
      yield* settle()
      expect(internalsOf(h.cluster).membership.linkTo(m.id)).toBeDefined()
      // Gone without a goodbye: a member would redial it; the tool must not.
      yield* net.kill(m.id)
      yield* settle(3000)
      expect(internalsOf(h.cluster).membership.linkTo(m.id)).toBeUndefined()
      expect(internalsOf(h.cluster).membership.knownPeerCount()).toBe(1)
      expect(a.events.some((e) => e.nodeId === h.id)).toBe(false)
    }))
})
