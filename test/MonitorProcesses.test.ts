/**
 * Monitors and links across real OS processes on 127.0.0.1: this test process is one
 * node over TCP (`asNode`), the others are child processes.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { internalsOf } from "../src/cluster/internal/node.js"
import { Cluster, GenServer, RemoteCall, RemoteSpawn } from "../src/index.js"
import type { Down, ExitReason, NodeId } from "../src/index.js"
import { eventually, startNodeProcess, useNodeProcesses } from "./support/processes.js"
import { asNode, refOf } from "./support/tester.js"

useNodeProcesses()

const node = (name: string) => startNodeProcess({ nodeName: name, port: 0, heartbeatInterval: 200 })

const emptyTables = { held: 0, watching: 0, monitors: 0, links: 0 }

describe("monitors and links across OS processes", () => {
  it("a monitor of a process on B answers noconnection within 1 s of SIGKILL of B", async () => {
    const b = await node("b")
    await asNode(
      [b.id],
      Effect.gen(function*() {
        const ref = refOf(yield* RemoteSpawn.spawn("counter", b.id as NodeId))
        const monitor = yield* GenServer.monitor(ref)
        // The Monitor frame is on its way; once B holds it, the kill is what the Down answers.
        yield* Effect.promise(() =>
          eventually(
            async () => (await b.command({ cmd: "failureTables" })).held === 1,
            10_000,
            "B to hold the monitor"
          )
        )
        const killedAt = performance.now()
        b.kill("SIGKILL")
        const down = yield* monitor.down
        const elapsed = performance.now() - killedAt
        expect(down).toMatchObject({ _tag: "Down", ref, reason: "noconnection" })
        expect(elapsed).toBeLessThan(1000)
      }).pipe(Effect.scoped)
    )
  })

  it("GenServer.stop on B answers Down normal on A, and a crash on B takes its linked partner on A down", async () => {
    const b = await node("b")
    await asNode(
      [b.id],
      Effect.gen(function*() {
        const ref = refOf(yield* RemoteSpawn.spawn("counter", b.id as NodeId))
        const monitor = yield* GenServer.monitor(ref)
        yield* Effect.promise(() =>
          eventually(
            async () => (await b.command({ cmd: "failureTables" })).held === 1,
            10_000,
            "B to hold the monitor"
          )
        )
        yield* GenServer.stop(ref)
        expect((yield* monitor.down).reason).toBe("normal")

        // A partner here, linked with an onError: "crash" child there.
        const exits: Array<ExitReason> = []
        const partner = yield* GenServer.start(GenServer.behavior({
          init: () => null,
          handleCall: (_: "get", s: null) => [s, s] as const,
          handleCast: (_: unknown, s: null) => s,
          terminate: (reason: ExitReason) => void exits.push(reason)
        }))
        const child = refOf(yield* RemoteSpawn.spawn("crasher", b.id as NodeId))
        const partnerDown = yield* GenServer.monitor(partner)
        yield* GenServer.link(partner, child)
        yield* Effect.promise(() =>
          eventually(async () => (await b.command({ cmd: "failureTables" })).links === 1, 10_000, "B to hold the link")
        )
        const failed = yield* Effect.flip(RemoteCall.call(child, "boom"))
        expect(failed).toMatchObject({ _tag: "RemoteHandlerError", name: "RangeError" })
        const down: Down = yield* partnerDown.down
        expect(down.reason).toEqual({ error: { name: "RangeError", message: "crasher exploded" } })
        expect(exits).toEqual([{ error: { name: "RangeError", message: "crasher exploded" } }])
        expect(yield* Effect.promise(() => b.command({ cmd: "failureTables" }))).toMatchObject(emptyTables)
      }).pipe(Effect.scoped)
    )
  })

  it("10,000 monitors of one remote process all fire once when it stops; both sides' tables are empty after", async () => {
    const b = await node("b")
    await asNode(
      [b.id],
      Effect.gen(function*() {
        const ref = refOf(yield* RemoteSpawn.spawn("counter", b.id as NodeId))
        const rt = yield* GenServer.GenServerRuntime
        let fired = 0
        const reasons = new Set<unknown>()
        for (let i = 0; i < 10_000; i++) {
          rt.watch(ref, (d) => {
            fired++
            reasons.add(d.reason)
          })
        }
        yield* Effect.promise(() =>
          eventually(
            async () => (await b.command({ cmd: "failureTables" })).held === 10_000,
            10_000,
            "B to hold 10,000"
          )
        )
        yield* GenServer.stop(ref)
        yield* Effect.promise(() => eventually(async () => fired === 10_000, 10_000, "every Down to arrive"))
        expect([...reasons]).toEqual(["normal"])
        expect(yield* Effect.promise(() => b.command({ cmd: "failureTables" }))).toMatchObject(emptyTables)
        const { signals, table } = internalsOf(yield* Cluster.Cluster)
        expect({ ...signals.size, monitors: table.monitors.size, links: table.links.size }).toEqual(emptyTables)
      })
    )
  })
})
