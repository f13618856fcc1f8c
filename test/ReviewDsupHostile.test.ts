/**
 * Review reproductions: a member instance that lies (forged info messages to other
 * nodes' instances, sent with GenServer.send from a node that runs the supervisor).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Scope } from "effect"
import { BehaviorRegistry, DistributedSupervisor, GenServer, MemoryNetwork } from "../src/index.js"
import type { NodeId } from "../src/index.js"
import { Admission } from "../src/internal/dsup/admission.js"
import { ChildTable, ownerOf } from "../src/internal/dsup/table.js"
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

const boot = (net: MemoryNetwork, names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const nodes: Array<SimNode> = []
    for (const name of names) {
      nodes.push(
        yield* startNode(net, name, { registry, ...fast, seeds: nodes.length === 0 ? [] : [simId(names[0]!)] })
      )
    }
    yield* settle(300)
    for (const node of nodes) yield* Scope.extend(node.run(DistributedSupervisor.start(SUP)), node.scope)
    yield* settle(100)
    return nodes
  })

const instanceOn = (node: NodeId) => ({ id: `noex.dsup.${SUP}`, nodeId: node })
const whereOn = (node: SimNode, id: string) =>
  Effect.map(node.run(DistributedSupervisor.whereis(SUP, id)), (o) => Option.getOrUndefined(o))

describe("Review: DistributedSupervisor, a lying member", () => {
  it.scoped("ds.hosting for a child the sender does not run: the real child keeps running", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, h] = (yield* boot(net, ["a", "b", "h"])) as [SimNode, SimNode, SimNode]
      let id = ""
      for (let i = 0;; i++) if (ownerOf(id = `w${i}`, [a.id, b.id, h.id]) === a.id) break
      const real = yield* a.run(DistributedSupervisor.startChild(SUP, { id, behavior: "worker", args: [id] }))
      yield* settle(50)
      const spec = { id, behavior: "worker", args: [id], restart: "permanent" }
      for (const to of [a.id, b.id]) {
        yield* h.run(GenServer.send(instanceOn(to), { _tag: "ds.hosting", spec, serverId: "nothing-here", gen: 2 }))
      }
      yield* settle(100)
      expect({ runsOnA: yield* a.run(GenServer.processCount), whereOnB: yield* whereOn(b, id) })
        .toEqual({ runsOnA: 1, whereOnB: real })
    }))

  it.scoped("the same lie from the member next in rank for the child, and later its real process: still not believed", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, h] = (yield* boot(net, ["a", "b", "h"])) as [SimNode, SimNode, SimNode]
      let id = ""
      for (let i = 0;; i++) {
        id = `w${i}`
        // h would be the one to restart it if a went: its claim looks like a failover.
        if (ownerOf(id, [a.id, b.id, h.id]) === a.id && ownerOf(id, [b.id, h.id]) === h.id) break
      }
      const real = yield* a.run(DistributedSupervisor.startChild(SUP, { id, behavior: "worker", args: [id] }))
      yield* settle(50)
      const spec = { id, behavior: "worker", args: [id], restart: "permanent" }
      const decoy = yield* h.run(GenServer.start(worker, { args: ["decoy"] }))
      for (const serverId of ["nothing-here", decoy.id]) {
        for (const to of [a.id, b.id]) {
          yield* h.run(GenServer.send(instanceOn(to), { _tag: "ds.hosting", spec, serverId, gen: 2 }))
        }
      }
      yield* settle(100)
      expect({ runsOnA: yield* a.run(GenServer.processCount), whereOnB: yield* whereOn(b, id) })
        .toEqual({ runsOnA: 1, whereOnB: real })
    }))

  it.scoped("a huge generation from one member: afterwards the honest members still agree (no undecodable gens)", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c, h] = (yield* boot(net, ["a", "b", "c", "h"])) as [SimNode, SimNode, SimNode, SimNode]
      let id = ""
      for (let i = 0;; i++) if (ownerOf(id = `w${i}`, [a.id, b.id, c.id, h.id]) === a.id) break
      yield* a.run(DistributedSupervisor.startChild(SUP, { id, behavior: "worker", args: [id] }))
      yield* settle(50)
      const spec = { id, behavior: "worker", args: [id], restart: "permanent" }
      const gen = Number.MAX_SAFE_INTEGER
      for (const to of [a.id, b.id, c.id]) {
        yield* h.run(GenServer.send(instanceOn(to), { _tag: "ds.hosting", spec, serverId: "x", gen }))
      }
      yield* settle(50)
      for (const to of [a.id, b.id, c.id]) {
        yield* h.run(GenServer.send(instanceOn(to), { _tag: "ds.released", id, gen }))
      }
      // h goes away; the honest members restart the child (gen 2^53, which no peer decodes).
      yield* net.kill(h.id)
      yield* settle(8000, 100)
      const views = yield* Effect.forEach([a, b, c], (n) => Effect.map(whereOn(n, id), (r) => r?.nodeId))
      expect(views[0]).toBeDefined()
      expect(views).toEqual([views[0], views[0], views[0]])
    }))
})

describe("Review: DistributedSupervisor, claims that contest a live member's child", () => {
  const spec = { id: "w", behavior: "worker", args: [], restart: "permanent" as const }
  const [x, y, self] = [simId("x"), simId("y"), simId("self")]
  const setup = () => {
    const table = new ChildTable(() => {})
    const active = new Set([x, y, self])
    const watched: Array<{ id: string; nodeId: string }> = []
    const admission = new Admission({
      table,
      active: () => active,
      watch: (ref) => watched.push(ref),
      annotate: (effect) => effect
    })
    table.claim(spec, { host: y, serverId: "real", gen: 1 })
    return { table, active, watched, admission }
  }

  it.effect("held while its live host stands; applied (and watched) once that host is gone", () =>
    Effect.gen(function*() {
      const { active, admission, table, watched } = setup()
      // x restarted it after seeing y go (a failover this node has not seen yet).
      yield* admission.claim(spec, { host: x, serverId: "restarted", gen: 2 }, false)
      expect(table.location("w")?.serverId).toBe("real")
      active.delete(y)
      admission.memberGone(y)
      admission.retry()
      expect({ at: table.location("w")?.serverId, watched }).toEqual({
        at: "restarted",
        watched: [{ id: "restarted", nodeId: x }]
      })
    }))

  it.effect("applied at once in a heal sync: the generation rule keeps one copy", () =>
    Effect.gen(function*() {
      const { admission, table } = setup()
      yield* admission.claim(spec, { host: x, serverId: "apart", gen: 2 }, true)
      expect(table.location("w")?.serverId).toBe("apart")
    }))

  it.effect("withdrawn by its sender: nothing is applied when the host goes", () =>
    Effect.gen(function*() {
      const { active, admission, table } = setup()
      yield* admission.claim(spec, { host: x, serverId: "lie", gen: 2 }, false)
      admission.released(x, "w", 2)
      active.delete(y)
      admission.memberGone(y)
      admission.retry()
      expect(table.location("w")).toBeUndefined()
    }))

  it.effect("applied after its host went, then found to name no process (noproc): dropped, the child is homeless", () =>
    Effect.gen(function*() {
      const { active, admission, table } = setup()
      yield* admission.claim(spec, { host: x, serverId: "nothing", gen: 2 }, false)
      active.delete(y)
      admission.memberGone(y)
      admission.retry()
      expect(table.location("w")?.serverId).toBe("nothing")
      yield* admission.down({ _tag: "Down", monitorId: 1, ref: { id: "nothing", nodeId: x }, reason: "noproc" })
      expect({ at: table.location("w"), homeless: table.homeless(active).map((s) => s.id) })
        .toEqual({ at: undefined, homeless: ["w"] })
    }))
})
