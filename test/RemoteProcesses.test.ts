/**
 * Remote processes and the global registry across real OS processes on 127.0.0.1:
 * this test process runs one node in-process over TCP; the others are child processes.
 */
import { Effect, Fiber } from "effect"
import * as net from "node:net"
import { describe, expect, it } from "vitest"
import { GenServer, RemoteCall, RemoteSpawn } from "../src/index.js"
import type { NodeId, ServerRef } from "../src/index.js"
import { eventually, startNodeProcess, useNodeProcesses } from "./support/processes.js"
import type { NodeProcess } from "./support/processes.js"
import { asNode, refOf } from "./support/tester.js"

useNodeProcesses()

const node = (name: string, extra: Record<string, unknown> = {}) =>
  startNodeProcess({ nodeName: name, port: 0, heartbeatInterval: 200, ...extra })

describe("remote processes across OS processes", () => {
  it("spawns, calls and casts end to end", async () => {
    const b = await node("b")
    await asNode(
      [b.id],
      Effect.gen(function*() {
        const spawned = yield* RemoteSpawn.spawn("counter", b.id as NodeId, { args: [40] })
        const ref = refOf(spawned)
        yield* RemoteCall.cast(ref, "tick")
        yield* GenServer.cast(ref, "tick")
        expect(yield* RemoteCall.call(ref, "get")).toBe(42)
        const missing = yield* Effect.flip(RemoteSpawn.spawn("nope", b.id as NodeId))
        expect(missing._tag).toBe("BehaviorNotFoundError")
        yield* GenServer.stop(ref)
        expect((yield* Effect.flip(RemoteCall.call(ref, "get")))._tag).toBe("RemoteServerNotRunningError")
      })
    )
  })

  it("delivers 1,000 casts in order, all observed by the call that follows", async () => {
    const b = await node("b")
    await asNode(
      [b.id],
      Effect.gen(function*() {
        const ref = refOf(yield* RemoteSpawn.spawn("list", b.id as NodeId))
        for (let i = 0; i < 1000; i++) yield* RemoteCall.cast(ref, i)
        const items = yield* RemoteCall.call<Array<number>>(ref, "get")
        expect(items).toEqual(Array.from({ length: 1000 }, (_, i) => i))
      })
    )
  })

  it("fails an in-flight 10 s call with NodeNotReachableError within 1 s of SIGKILL of its node", async () => {
    const b = await node("b")
    await asNode(
      [b.id],
      Effect.gen(function*() {
        const ref = refOf(yield* RemoteSpawn.spawn("slow", b.id as NodeId))
        const call = yield* Effect.fork(Effect.flip(RemoteCall.call(ref, { sleep: 10_000 }, { timeout: "10 seconds" })))
        yield* Effect.sleep("100 millis")
        const killedAt = performance.now()
        b.kill("SIGKILL")
        const error = yield* Fiber.join(call)
        const elapsed = performance.now() - killedAt
        expect(error).toMatchObject({ _tag: "NodeNotReachableError", nodeId: b.id })
        expect(elapsed).toBeLessThan(1000)
      })
    )
  })

  it("keeps payloads intact across processes: Date, Map, Set, BigInt, Buffer, nested undefined, Error", async () => {
    const b = await node("b")
    const shared = { tag: "shared" }
    const payload = {
      when: new Date("2026-11-29T12:34:56.789Z"),
      map: new Map<unknown, unknown>([["k", 1], [2, { deep: new Set(["x", "y"]) }]]),
      set: new Set([1, 2, 3]),
      big: 2n ** 70n,
      buffer: Buffer.from("cafe", "hex"),
      nested: { missing: undefined, list: [1, undefined, 3] },
      error: new TypeError("bad input", { cause: new Error("root cause") }),
      numbers: [NaN, Infinity, -Infinity, -0],
      twice: [shared, shared]
    }
    await asNode(
      [b.id],
      Effect.gen(function*() {
        // What b decoded, described by b itself.
        const inspect = refOf(yield* RemoteSpawn.spawn("inspect", b.id as NodeId))
        const seen = (yield* RemoteCall.call(inspect, payload)) as Record<string, unknown>
        expect(seen.when).toBe("Date:2026-11-29T12:34:56.789Z")
        expect(seen.map).toEqual({
          Map: [["string:k", "number:1"], ["number:2", { deep: { Set: ["string:x", "string:y"] } }]]
        })
        expect(seen.set).toEqual({ Set: ["number:1", "number:2", "number:3"] })
        expect(seen.big).toBe(`bigint:${2n ** 70n}`)
        expect(seen.buffer).toBe("Buffer:cafe")
        expect(seen.nested).toEqual({ missing: "undefined", list: ["number:1", "undefined", "number:3"] })
        expect(seen.error).toEqual({
          error: "TypeError",
          message: "bad input",
          cause: { error: "Error", message: "root cause", cause: "undefined" }
        })
        expect(seen.numbers).toEqual(["number:NaN", "number:Infinity", "number:-Infinity", "number:-0"])
        expect(seen.twice).toEqual([{ tag: "string:shared" }, "(shared)"])
        // And the way back: b echoes it, we decode it.
        const echo = refOf(yield* RemoteSpawn.spawn("echo", b.id as NodeId))
        const back = (yield* RemoteCall.call(echo, payload)) as typeof payload
        expect(back.when).toEqual(payload.when)
        expect(back.map).toEqual(payload.map)
        expect(back.set).toEqual(payload.set)
        expect(back.big).toBe(payload.big)
        expect(Buffer.isBuffer(back.buffer) && back.buffer.equals(payload.buffer)).toBe(true)
        expect("missing" in back.nested && back.nested.missing === undefined).toBe(true)
        expect(back.nested.list).toEqual([1, undefined, 3])
        expect(back.error).toBeInstanceOf(TypeError)
        expect(back.error.message).toBe("bad input")
        expect((back.error.cause as Error).message).toBe("root cause")
        expect(Object.is(back.numbers[3], -0) && Number.isNaN(back.numbers[0])).toBe(true)
        expect(back.twice[0]).toBe(back.twice[1])
      })
    )
  })
})

/** Reserves free ports by binding and releasing them (so three nodes can seed each other from the start). */
const freePorts = (n: number) =>
  Promise.all(
    Array.from({ length: n }, () =>
      new Promise<number>((resolve) => {
        const server = net.createServer()
        server.listen(0, "127.0.0.1", () => {
          const port = (server.address() as net.AddressInfo).port
          server.close(() => resolve(port))
        })
      }))
  )

const whereis = async (n: NodeProcess, name: string) =>
  (await n.command({ cmd: "whereis", name })).ref as ServerRef | null

describe("global registry across OS processes", () => {
  it("makes a registration visible on B and C, on a late joiner D, and clears it everywhere when its owner is killed", async () => {
    const a = await node("a")
    const b = await node("b", { seeds: [a.id] })
    const c = await node("c", { seeds: [a.id] })
    await eventually(async () => ((await c.command({ cmd: "connected" })).nodes as Array<string>).length === 2)
    const { ref } = (await a.command({ cmd: "register", name: "cache:primary" })) as unknown as { ref: ServerRef }
    await eventually(async () => (await whereis(b, "cache:primary"))?.id === ref.id, 2000, "visible on b")
    await eventually(async () => (await whereis(c, "cache:primary"))?.id === ref.id, 2000, "visible on c")
    const d = await node("d", { seeds: [c.id] })
    await eventually(
      async () => (await whereis(d, "cache:primary"))?.id === ref.id,
      5000,
      "visible on the late joiner d"
    )
    // Owned by b this time, then b dies.
    const owned = (await b.command({ cmd: "register", name: "owned-by-b" })) as unknown as { ref: ServerRef }
    await eventually(async () => (await whereis(d, "owned-by-b"))?.id === owned.ref.id, 2000, "visible on d")
    b.kill("SIGKILL")
    for (const n of [a, c, d]) {
      await eventually(async () => (await whereis(n, "owned-by-b")) === null, 3000, `cleared on ${n.name}`)
    }
    expect(await whereis(a, "cache:primary")).toEqual(ref)
  })

  it("runs the guide's singleton pattern: three nodes started at the same moment, exactly one cluster:leader", async () => {
    const ports = await freePorts(3)
    const ids = ["x", "y", "z"].map((name, i) => `${name}@127.0.0.1:${ports[i]}`)
    const nodes = await Promise.all(
      ["x", "y", "z"].map((name, i) => node(name, { port: ports[i], seeds: ids.filter((_, j) => j !== i) }))
    )
    await Promise.all(nodes.map((n) => n.command({ cmd: "contend", name: "cluster:leader" })))
    await eventually(
      async () => {
        const views = await Promise.all(nodes.map((n) => whereis(n, "cluster:leader")))
        return views.every((v) => v !== null && JSON.stringify(v) === JSON.stringify(views[0]))
      },
      10_000,
      "every node agrees on one leader"
    )
    await eventually(
      async () => {
        const counts = await Promise.all(
          nodes.map(async (n) => (await n.command({ cmd: "processCount" })).count as number)
        )
        return counts.reduce((x, y) => x + y, 0) === 1
      },
      10_000,
      "exactly one leader process alive"
    )
  })
})
