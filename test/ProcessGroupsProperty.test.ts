/**
 * ProcessGroups converge: a fast-check property over random sequences of join, leave,
 * process exit, node kill, partition, a wait long enough for failure detectors to fire,
 * and heal, on 3–5 simulated nodes. After the last heal and quiescence every live node
 * lists the same members for every group, exactly the model's: the live joined processes
 * of live nodes, each as often as it joined and did not leave.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck } from "effect"
import { Cluster, GenServer, MemoryNetwork, ProcessGroups } from "../src/index.js"
import type { ServerRef } from "../src/index.js"
import { settle, simId, startNode } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

const worker = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", n: number) => [n, n] as const,
  handleCast: (_: unknown, n: number) => n
})

type Op =
  | {
    readonly op: "join"
    readonly node: number
    readonly slot: number
    readonly group: number
    readonly scope: number
    /**
     * The node that asks (the process's own node does the join, starting the scope if it has
     * not used it yet): only while no partition is up and the two are linked.
     */
    readonly via: number | undefined
  }
  | {
    readonly op: "leave"
    readonly node: number
    /** Which of the node's memberships leaves (so that most leaves take one away); `undefined`: any slot, maybe not in. */
    readonly pick: number | undefined
    readonly slot: number
    readonly group: number
    readonly scope: number
  }
  | { readonly op: "exit"; readonly node: number; readonly slot: number }
  | { readonly op: "kill"; readonly node: number }
  | { readonly op: "partition"; readonly split: number; readonly detect: boolean }
  | { readonly op: "wait" }
  | { readonly op: "heal" }

const GROUPS = ["g0", "g1"]
/** The default scope and a named one: a named scope starts on a node at its first use. */
const SCOPES: ReadonlyArray<string | undefined> = [undefined, "lib"]
const SLOTS = 3

const node = FastCheck.integer({ min: 0, max: 4 })
const slot = FastCheck.integer({ min: 0, max: SLOTS - 1 })
const group = FastCheck.integer({ min: 0, max: GROUPS.length - 1 })
const scope = FastCheck.integer({ min: 0, max: SCOPES.length - 1 })
const op: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  {
    weight: 6,
    arbitrary: FastCheck.record({
      op: FastCheck.constant("join" as const),
      node,
      slot,
      group,
      scope,
      via: FastCheck.option(node, { nil: undefined, freq: 3 })
    })
  },
  {
    weight: 4,
    arbitrary: FastCheck.record({
      op: FastCheck.constant("leave" as const),
      node,
      pick: FastCheck.option(FastCheck.nat(), { nil: undefined, freq: 4 }),
      slot,
      group,
      scope
    })
  },
  { weight: 2, arbitrary: FastCheck.record({ op: FastCheck.constant("exit" as const), node, slot }) },
  { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("kill" as const), node }) },
  {
    weight: 3,
    arbitrary: FastCheck.record({
      op: FastCheck.constant("partition" as const),
      split: FastCheck.integer({ min: 1, max: 4 }),
      // Held long enough for the failure detectors to fire (each side sees the other down), or not.
      detect: FastCheck.boolean()
    })
  },
  { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("wait" as const) }) },
  { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("heal" as const) }) }
)

const key = (ref: ServerRef) => `${ref.nodeId.split("@")[0]}/${ref.id}`

/** What every node should list: per process, per scope and group, how many times it is in. */
class Model {
  readonly slots: Array<Array<ServerRef | undefined>>
  private readonly counts = new Map<string, Map<string, number>>()
  constructor(readonly size: number) {
    this.slots = Array.from({ length: size }, () => Array.from({ length: SLOTS }, () => undefined))
  }
  private where(scope: number, group: number) {
    return `${scope}/${group}`
  }
  join(ref: ServerRef, scope: number, group: number) {
    let of = this.counts.get(key(ref))
    if (of === undefined) this.counts.set(key(ref), of = new Map())
    const at = this.where(scope, group)
    of.set(at, (of.get(at) ?? 0) + 1)
  }
  /** Whether `ref` is in the group (a leave then takes one membership away). */
  leave(ref: ServerRef, scope: number, group: number): boolean {
    const of = this.counts.get(key(ref))
    const at = this.where(scope, group)
    const n = of?.get(at) ?? 0
    if (n === 0) return false
    of!.set(at, n - 1)
    return true
  }
  /** The memberships of node `i`'s processes, one entry per (slot, scope, group) it is in. */
  membershipsOf(i: number): Array<{ readonly slot: number; readonly scope: number; readonly group: number }> {
    const out: Array<{ slot: number; scope: number; group: number }> = []
    for (const [slot, ref] of this.slots[i]!.entries()) {
      if (ref === undefined) continue
      for (const [at, n] of this.counts.get(key(ref)) ?? []) {
        const [scope, group] = at.split("/").map(Number) as [number, number]
        if (n > 0) out.push({ slot, scope, group })
      }
    }
    return out
  }
  gone(ref: ServerRef) {
    this.counts.delete(key(ref))
  }
  /** The sorted keys every live node should list for a group. */
  members(scope: number, group: number): Array<string> {
    const at = this.where(scope, group)
    const out: Array<string> = []
    for (const [ref, of] of this.counts) for (let i = 0; i < (of.get(at) ?? 0); i++) out.push(ref)
    return out.sort()
  }
}

describe("ProcessGroups convergence property (simulated)", () => {
  it.effect.prop(
    "after heal and quiescence every live node lists exactly the live joined processes of live nodes, with multiplicity",
    [FastCheck.integer({ min: 3, max: 5 }), FastCheck.array(op, { minLength: 4, maxLength: 12 })],
    ([size, ops]) =>
      Effect.scoped(
        Effect.gen(function*() {
          const net = yield* MemoryNetwork.make
          const nodes: Array<SimNode> = []
          for (let i = 0; i < size; i++) {
            nodes.push(
              yield* startNode(net, `n${i}`, { behaviors: { worker }, seeds: i === 0 ? [] : [simId("n0")] })
            )
          }
          yield* settle(300)
          const model = new Model(size)
          const alive = new Set(nodes.map((_, i) => i))
          let partitioned = false
          for (const step of ops) {
            if (step.op === "heal") {
              yield* net.heal
              partitioned = false
            } else if (step.op === "wait") yield* settle(6000, 200)
            else if (step.op === "partition") {
              const live = nodes.filter((_, i) => alive.has(i)).map((n) => n.id)
              yield* net.partition(live.slice(0, step.split), live.slice(step.split))
              partitioned = true
              if (step.detect) yield* settle(6000, 200)
            } else if (step.op === "kill") {
              const i = step.node % size
              if (!alive.has(i) || alive.size <= 1) continue
              alive.delete(i)
              yield* net.kill(nodes[i]!.id)
              yield* nodes[i]!.stop
              for (const ref of model.slots[i]!) if (ref !== undefined) model.gone(ref)
              model.slots[i]!.fill(undefined)
            } else {
              const i = step.node % size
              if (!alive.has(i)) continue
              const n = nodes[i]!
              const slots = model.slots[i]!
              if (step.op === "exit") {
                const ref = slots[step.slot]
                if (ref === undefined) continue
                yield* n.run(GenServer.stop(ref))
                model.gone(ref)
                slots[step.slot] = undefined
              } else if (step.op === "join") {
                const ref = slots[step.slot] ?? (slots[step.slot] = yield* n.run(GenServer.start(worker)))
                const v = step.via === undefined ? i : step.via % size
                // Only over a live link: a heal is followed by reconnects, which take a while.
                const linked = v !== i && !partitioned && alive.has(v) &&
                  (yield* nodes[v]!.run(Cluster.isNodeConnected(n.id)))
                const via = linked ? v : i
                yield* nodes[via]!.run(ProcessGroups.join(GROUPS[step.group]!, ref, { scope: SCOPES[step.scope] }))
                model.join(ref, step.scope, step.group)
              } else {
                const mine = model.membershipsOf(i)
                const which = step.pick === undefined || mine.length === 0 ? step : mine[step.pick % mine.length]!
                const ref = slots[which.slot]
                if (ref === undefined) continue
                yield* n.run(ProcessGroups.leave(GROUPS[which.group]!, ref, { scope: SCOPES[which.scope] }))
                model.leave(ref, which.scope, which.group)
              }
            }
            yield* settle(200, 50)
          }
          yield* net.heal
          const live = nodes.filter((_, i) => alive.has(i))
          // A named scope lives on the nodes that used it: touch it everywhere, then let them learn.
          for (const n of live) for (const s of SCOPES) yield* n.run(ProcessGroups.whichGroups({ scope: s }))
          yield* settle(20_000, 400)
          for (const [s, scopeName] of SCOPES.entries()) {
            for (const [g, groupName] of GROUPS.entries()) {
              const expected = model.members(s, g)
              for (const n of live) {
                const seen = yield* n.run(ProcessGroups.members(groupName, { scope: scopeName }))
                expect({ node: n.id, scope: scopeName, group: groupName, members: seen.map(key).sort() })
                  .toEqual({ node: n.id, scope: scopeName, group: groupName, members: expected })
                const local = yield* n.run(ProcessGroups.localMembers(groupName, { scope: scopeName }))
                expect(local.map(key).sort()).toEqual(expected.filter((k) => k.startsWith(`${n.id.split("@")[0]}/`)))
              }
            }
          }
        })
      ),
    { fastCheck: { numRuns: 10 } }
  )

  // Found by the property above: the owner's node does a remote ref's join, and starts the
  // scope for it when it has not used that scope yet.
  it.scoped("joins a live process of another node in a scope that node has not used yet", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a", { behaviors: { worker } })
      const b = yield* startNode(net, "b", { behaviors: { worker }, seeds: [a.id] })
      yield* settle(300)
      const wb = yield* b.run(GenServer.start(worker))
      yield* a.run(ProcessGroups.join("g", wb, { scope: "lib" }))
      yield* settle(50)
      expect(yield* b.run(ProcessGroups.members("g", { scope: "lib" }))).toEqual([wb])
    }))
})
