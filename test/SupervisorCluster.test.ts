import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schedule } from "effect"
import { GenServer, MemoryNetwork } from "../src/index.js"
import type { ExitReason, ServerRef } from "../src/index.js"
import * as Supervisor from "../src/Supervisor.js"
import { settle, simId, startNode } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

/** Starts and stops of the workers of these tests, by label. */
const log: Array<string> = []

const worker = GenServer.behavior({
  init: (label: string) => {
    log.push(`start ${label}`)
    return label
  },
  handleCall: (msg: "get" | "boom", label: string) => {
    if (msg === "boom") throw new Error(`${label} exploded`)
    return [label, label] as const
  },
  handleCast: (_: unknown, label: string) => label,
  onError: "crash" as const,
  terminate: (reason: ExitReason, label: string) => void log.push(`stop ${label} ${JSON.stringify(reason)}`)
})

const behaviors = { worker }

/** Nodes a (the supervisor's) and b (its remote child's). */
const pair = Effect.gen(function*() {
  const net = yield* MemoryNetwork.make
  const a = yield* startNode(net, "a", { behaviors })
  const b = yield* startNode(net, "b", { behaviors, seeds: [simId("a")] })
  yield* settle(200)
  return { net, a, b }
})

const childOf = (node: SimNode, sup: ServerRef, id: string) =>
  Effect.map(node.run(Supervisor.whichChildren(sup)), (children) => children.find((c) => c.id === id)!)

const processesOn = (node: SimNode) => node.run(GenServer.processCount)

describe("Supervisor (simulated cluster)", () => {
  it.scoped("a child on another node is spawned there by name and linked: its crash is restarted there", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const base = yield* processesOn(b)
      const sup = yield* a.run(Supervisor.start({
        strategy: "one_for_one",
        children: [{ id: "far", start: "worker", node: b.id, args: ["far1"] }]
      }))
      const first = Option.getOrThrow((yield* childOf(a, sup, "far")).ref)
      expect(first.nodeId).toBe(b.id)
      expect(yield* a.run(GenServer.call(first, "get"))).toBe("far1")
      yield* Effect.flip(a.run(GenServer.call(first, "boom")))
      yield* settle(50)
      const second = yield* childOf(a, sup, "far")
      expect(second.status).toBe("running")
      const ref = Option.getOrThrow(second.ref)
      expect(ref.nodeId).toBe(b.id)
      expect(ref.id).not.toBe(first.id)
      expect(yield* processesOn(b)).toBe(base + 1)
      // Stopping the supervisor stops its remote child too.
      yield* a.run(GenServer.stop(sup))
      yield* settle(50)
      expect(yield* processesOn(b)).toBe(base)
    }))

  it.scoped("the child's node partitioned, no backoff: the failing restarts count toward the intensity and the supervisor exits", () =>
    Effect.gen(function*() {
      const { a, b, net } = yield* pair
      const base = yield* processesOn(b)
      const sup = yield* a.run(Supervisor.start({
        strategy: "one_for_one",
        children: [{ id: "far", start: "worker", node: b.id, args: ["far2"] }]
      }))
      const watch = yield* a.run(GenServer.monitor(sup))
      yield* net.partition([a.id], [b.id])
      yield* settle(7000, 50)
      const down = yield* watch.down
      expect(down.reason).toMatchObject({ error: { name: "MaxRestartIntensityError" } })
      // The child's own side saw the link go too: no orphan is left on b.
      expect(yield* processesOn(b)).toBe(base)
      expect(log).toContain(`stop far2 "noconnection"`)
    }))

  it.scoped("with backoff, a child whose node was partitioned away is restarted there once the partition heals", () =>
    Effect.gen(function*() {
      const { a, b, net } = yield* pair
      const base = yield* processesOn(b)
      const sup = yield* a.run(Supervisor.start({
        strategy: "one_for_one",
        maxRestarts: 100,
        period: "1 minute",
        backoff: Schedule.spaced("1 second"),
        children: [{ id: "far", start: "worker", node: b.id, args: ["far3"] }]
      }))
      const first = Option.getOrThrow((yield* childOf(a, sup, "far")).ref)
      yield* net.partition([a.id], [b.id])
      yield* settle(7000, 50)
      expect((yield* childOf(a, sup, "far")).status).toBe("restarting")
      yield* net.heal
      yield* settle(15_000, 50)
      const back = yield* childOf(a, sup, "far")
      expect(back.status).toBe("running")
      const ref = Option.getOrThrow(back.ref)
      expect(ref.nodeId).toBe(b.id)
      expect(ref.id).not.toBe(first.id)
      expect(yield* processesOn(b)).toBe(base + 1)
      expect(yield* a.run(GenServer.call(ref, "get"))).toBe("far3")
    }))

  it.scoped("an Exit sent by a process of another node is no exit signal: nothing is restarted", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const sup = yield* a.run(Supervisor.start({
        strategy: "one_for_one",
        children: [{ id: "near", start: "worker", args: ["near1"] }]
      }))
      const child = Option.getOrThrow((yield* childOf(a, sup, "near")).ref)
      yield* b.run(GenServer.send(sup, { _tag: "Exit", from: child, reason: "noconnection" }))
      yield* settle(50)
      expect(Option.getOrThrow((yield* childOf(a, sup, "near")).ref)).toEqual(child)
      expect(yield* a.run(GenServer.call(child, "get"))).toBe("near1")
    }))

  it.scoped("the management calls work on a supervisor of another node; their errors arrive as themselves", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const sup = yield* a.run(Supervisor.start({ strategy: "one_for_one", name: "sup" }))
      const byName: ServerRef = { id: "sup", nodeId: a.id }
      const started = yield* b.run(Supervisor.startChild(byName, { id: "x", start: "worker", args: ["x1"] }))
      expect(started.nodeId).toBe(a.id)
      expect(yield* b.run(GenServer.call(started, "get"))).toBe("x1")
      const children = yield* b.run(Supervisor.whichChildren(sup))
      expect(children).toEqual([
        { id: "x", ref: Option.some(started), restart: "permanent", status: "running", type: "worker" }
      ])
      expect(yield* b.run(Supervisor.countChildren(sup))).toEqual({ specs: 1, active: 1, supervisors: 0, workers: 1 })
      const twice = yield* Effect.flip(b.run(Supervisor.startChild(sup, { id: "x", start: "worker", args: ["x1"] })))
      expect(twice).toBeInstanceOf(Supervisor.ChildAlreadyExistsError)
      const missing = yield* Effect.flip(b.run(Supervisor.terminateChild(sup, "nope")))
      expect(missing).toBeInstanceOf(Supervisor.ChildNotFoundError)
      expect(missing).toMatchObject({ id: "nope" })
      yield* b.run(Supervisor.terminateChild(sup, "x"))
      expect((yield* childOf(b, sup, "x")).status).toBe("stopped")
      const again = yield* b.run(Supervisor.restartChild(sup, "x"))
      expect(again.id).not.toBe(started.id)
      // A behavior value cannot be sent to another node: the call says so, the supervisor goes on.
      const value = yield* Effect.flip(b.run(Supervisor.startChild(sup, { id: "y", start: worker, args: ["y"] })))
      expect(value._tag).toBe("InvalidMessageError")
      expect((yield* b.run(Supervisor.countChildren(sup))).active).toBe(1)
    }))
})
