/**
 * Review reproduction: joining another node's process to a scope that node never used.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { BehaviorRegistry, GenServer, MemoryNetwork, ProcessGroups } from "../src/index.js"
import { tableOf } from "../src/internal/runtime.js"
import { settle, simId, startNode } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

const worker = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", n: number) => [n, n] as const,
  handleCast: (_: unknown, n: number) => n
})
const registry = BehaviorRegistry.layer({ worker })

describe("Review: ProcessGroups remote join into a scope the owner never used", () => {
  it.scoped("a live process on another node joins scope 'jobs' (first used by the caller)", () =>
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
      yield* settle(100)
      expect(joined._tag).toBe("Right")
      expect((yield* a.run(ProcessGroups.members("g", { scope: "jobs" }))).length).toBe(1)
      expect((yield* b.run(ProcessGroups.members("g", { scope: "jobs" }))).length).toBe(1)
      // The scope b started for the join learned a's members too.
      const wa = yield* a.run(GenServer.start(worker))
      yield* a.run(ProcessGroups.join("g", wa, { scope: "jobs" }))
      yield* settle(100)
      expect((yield* b.run(ProcessGroups.members("g", { scope: "jobs" }))).length).toBe(2)
    }))

  it.scoped("a peer cannot make a node start more than MAX_SCOPES scopes; the node's own code still can", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const nodes: Array<SimNode> = []
      for (const name of ["a", "b"]) {
        nodes.push(yield* startNode(net, name, { registry, seeds: nodes.length === 0 ? [] : [simId("a")] }))
      }
      yield* settle(300)
      const [a, b] = nodes as [SimNode, SimNode]
      const w = yield* a.run(GenServer.start(worker))
      const over = 5
      const outcomes: Array<string> = []
      for (let i = 0; i < ProcessGroups.MAX_SCOPES + over; i++) {
        const joined = yield* Effect.either(b.run(ProcessGroups.join("g", w, { scope: `s${i}` })))
        const failed = joined._tag === "Left" ? joined.left : undefined
        outcomes.push(
          failed === undefined
            ? "joined"
            : failed._tag === "RemoteServerNotRunningError"
            ? `${failed._tag} ${failed.serverId}`
            : failed._tag
        )
      }
      // a runs the default scope, so a peer may start MAX_SCOPES - 1 more there.
      const accepted = ProcessGroups.MAX_SCOPES - 1
      expect(outcomes.slice(0, accepted).every((o) => o === "joined")).toBe(true)
      expect(outcomes.slice(accepted)).toEqual(
        Array.from({ length: over + 1 }, (_, k) => `RemoteServerNotRunningError noex.pg.s${accepted + k}`)
      )
      const table = yield* Effect.map(a.run(GenServer.GenServerRuntime), (rt) => tableOf(rt)!)
      const running = Array.from({ length: ProcessGroups.MAX_SCOPES + over }, (_, i) => `noex.pg.s${i}`)
        .filter((name) => table.resolve(name) !== undefined)
      expect(running.length).toBe(accepted)
      // A refused join joined nothing; the node's own use of a new scope is not refused.
      expect(yield* a.run(ProcessGroups.localMembers("g", { scope: `s${accepted}` }))).toEqual([])
      yield* a.run(ProcessGroups.join("mine", w, { scope: "own" }))
      expect(yield* a.run(ProcessGroups.localMembers("mine", { scope: "own" }))).toEqual([w])
    }))

  it.scoped("a scope name over MAX_SCOPE_NAME_CHARS: a defect here, and a peer's request with one is refused typed", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const nodes: Array<SimNode> = []
      for (const name of ["a", "b"]) {
        nodes.push(yield* startNode(net, name, { registry, seeds: nodes.length === 0 ? [] : [simId("a")] }))
      }
      yield* settle(300)
      const [a, b] = nodes as [SimNode, SimNode]
      const w = yield* a.run(GenServer.start(worker))
      const long = "x".repeat(ProcessGroups.MAX_SCOPE_NAME_CHARS + 1)
      const local = yield* Effect.exit(a.run(ProcessGroups.members("g", { scope: long })))
      expect(Exit.isFailure(local) && Cause.isDie(local.cause)).toBe(true)
      const raw = yield* Effect.either(
        b.run(GenServer.call({ id: "noex.pg.default", nodeId: a.id }, {
          _tag: "pg.request",
          scope: long,
          op: "join",
          group: "g",
          ids: [w.id]
        }))
      )
      expect(raw._tag === "Left" && raw.left._tag).toBe("InvalidMessageError")
      expect(yield* a.run(GenServer.processCount)).toBe(1)
    }))
})
