/**
 * User code and user values must cost only what they touched: a schema that throws,
 * a huge error or stop reason, a callback whose Promise comes from another realm, a
 * table of names too large for one frame — none of it may close a link or end the
 * node. Simulated nodes on the in-memory network.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as vm from "node:vm"
import {
  Cluster,
  GenServer,
  GlobalRegistry,
  LoadBalancer,
  MemoryNetwork as Net,
  RemoteCall,
  RemoteSpawn
} from "../src/index.js"
import type { MemoryNetwork } from "../src/index.js"
import { captureLogs } from "./support/logs.js"
import { makeProbe } from "./support/probe.js"
import { settle, simId, startNode, story } from "./support/sim.js"

const picky = GenServer.behavior({
  init: () => 0,
  handleCall: (msg: { readonly n: number }, s: number) => [msg.n, s] as const,
  handleCast: (_: { readonly n: number }, s: number) => s,
  schemas: {
    // A user's filter that throws on some input instead of returning false.
    call: Schema.Struct({ n: Schema.Number }).pipe(
      Schema.filter((m) => {
        if (m.n < 0) throw new RangeError("negative")
        return true
      })
    )
  }
})

const loud = GenServer.behavior({
  init: () => 0,
  handleCall: (msg: "shout" | "get" | "huge", s: number): readonly [number | string, number] => {
    if (msg === "shout") throw new Error("x".repeat(100_000))
    if (msg === "huge") return ["h".repeat(20_000), s]
    return [s, s]
  },
  handleCast: (_: unknown, s: number) => s,
  terminate: () => undefined
})

const probe = makeProbe(() => new Promise<void>(() => {}))

const behaviors = { picky, loud, probe: probe.behavior }

const pair = (net: MemoryNetwork, maxFrameBytes?: number) =>
  Effect.gen(function*() {
    const options = maxFrameBytes === undefined ? { behaviors } : { behaviors, maxFrameBytes }
    const a = yield* startNode(net, "a", options)
    const b = yield* startNode(net, "b", { ...options, seeds: [simId("a")] })
    yield* settle(200, 25)
    return { a, b }
  })

describe("user code and values cost only what they touched (simulated)", () => {
  it.scoped("answers InvalidMessageError when a behavior's schema throws, and the link stays up", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const ref = { id: (yield* a.run(RemoteSpawn.spawn("picky", b.id))).serverId, nodeId: b.id }
      const error = yield* Effect.flip(a.run(RemoteCall.call(ref, { n: -1 })))
      expect(error).toMatchObject({ _tag: "InvalidMessageError", serverId: ref.id })
      expect(error.message).toContain("negative")
      expect(yield* a.run(RemoteCall.call(ref, { n: 2 }))).toBe(2)
      expect(story(a)).toEqual(["up b"])
    }))

  it.scoped("bounds a handler's huge error message, so its answer still fits a small frame limit", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make, 8192)
      const ref = { id: (yield* a.run(RemoteSpawn.spawn("loud", b.id))).serverId, nodeId: b.id }
      const error = yield* Effect.flip(a.run(RemoteCall.call(ref, "shout")))
      expect(error).toMatchObject({ _tag: "RemoteHandlerError", name: "Error" })
      expect(error.message).toMatch(/^x{1024}… \(98976 more characters\)$/)
      expect(yield* a.run(RemoteCall.call(ref, "get"))).toBe(0)
      expect(story(a)).toEqual(["up b"])
    }))

  it.scoped("fails a call whose reply is over the frame limit with MessageTooLargeError on the caller, logged on the server; the link stays up", () =>
    Effect.gen(function*() {
      const { layer: capture, messages: warnings } = captureLogs("Warning")
      const { a, b } = yield* pair(yield* Net.make, 8192).pipe(Effect.provide(capture))
      const ref = { id: (yield* a.run(RemoteSpawn.spawn("loud", b.id))).serverId, nodeId: b.id }
      const error = yield* Effect.flip(a.run(RemoteCall.call(ref, "huge", { timeout: "5 seconds" })))
      expect(error).toMatchObject({ _tag: "MessageTooLargeError", limit: 8192 })
      expect(warnings.some((m) => m.startsWith("a reply is over the frame limit"))).toBe(true)
      expect(yield* a.run(RemoteCall.call(ref, "get"))).toBe(0)
      expect(story(a)).toEqual(["up b"])
    }))

  it.scoped("a node's logLevel quiets the node's own logs, not those of the behaviors it runs for others", () =>
    Effect.gen(function*() {
      const { layer: capture, messages: infos } = captureLogs("Info")
      const chatty = GenServer.behavior({
        init: () => Effect.as(Effect.logInfo("chatty init"), 0),
        handleCall: (_: "get", s: number) => [s, s] as const,
        handleCast: (_: unknown, s: number) => s
      })
      const net = yield* Net.make
      const a = yield* startNode(net, "a", { behaviors })
      const b = yield* startNode(net, "b", { behaviors: { chatty }, seeds: [simId("a")], logLevel: "Warning" }).pipe(
        Effect.provide(capture)
      )
      yield* settle(200, 25)
      yield* a.run(RemoteSpawn.spawn("chatty", b.id))
      expect(infos).toContain("chatty init")
      expect(infos).not.toContain("node started")
      expect(infos).not.toContain("node up")
    }))

  it.scoped("stops a remote process with a stop reason too large for a frame; the link stays up", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make, 8192)
      const ref = { id: (yield* a.run(RemoteSpawn.spawn("loud", b.id))).serverId, nodeId: b.id }
      yield* a.run(GenServer.stop(ref, { error: new Error("y".repeat(50_000)) }))
      expect(yield* b.run(GenServer.processCount)).toBe(0)
      expect(story(a)).toEqual(["up b"])
    }))

  it.scoped("replicates more names than one frame can carry, in several RegistrySync frames", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const a = yield* startNode(net, "a", { behaviors, maxFrameBytes: 4096 })
      const names = Array.from({ length: 60 }, (_, i) => `a-rather-long-global-name-for-process-number-${i}`)
      for (const name of names) yield* a.run(GlobalRegistry.register(name, yield* a.run(GenServer.start(picky))))
      const b = yield* startNode(net, "b", { behaviors, maxFrameBytes: 4096, seeds: [a.id] })
      yield* settle(500, 50)
      expect([...(yield* b.run(GlobalRegistry.getNames))].sort()).toEqual([...names].sort())
      expect(story(b)).toEqual(["up a"])
      // After a reconnect (a new sync in several frames), b holds exactly a's names.
      yield* a.run(GlobalRegistry.unregister(names[0]!))
      yield* net.disconnect(a.id, b.id)
      yield* settle(2000, 50)
      expect((yield* b.run(GlobalRegistry.getNames)).length).toBe(59)
    }))

  it.scoped("refuses a global name too long for the peer's frame limit on the caller instead of losing the link", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const a = yield* startNode(net, "a", { behaviors, maxFrameBytes: 4096 })
      const b = yield* startNode(net, "b", { behaviors, maxFrameBytes: 4096, seeds: [a.id] })
      yield* settle(200, 25)
      const ref = yield* a.run(GenServer.start(picky))
      const refused = yield* Effect.flip(a.run(GlobalRegistry.register("n".repeat(5000), ref)))
      expect(refused._tag).toBe("MessageTooLargeError")
      yield* settle(100, 25)
      expect(story(a)).toEqual(["up b"])
      expect(story(b)).toEqual(["up a"])
    }))

  it.scoped("a call or cast over the limit is the caller's typed error, not also an error in the node's log", () =>
    Effect.gen(function*() {
      const { layer: capture, messages: errors } = captureLogs("Error")
      const net = yield* Net.make
      const a = yield* startNode(net, "a", { behaviors, maxFrameBytes: 4096 }).pipe(Effect.provide(capture))
      const b = yield* startNode(net, "b", { behaviors, maxFrameBytes: 4096, seeds: [a.id] })
      yield* settle(200, 25)
      const ref = yield* b.run(GenServer.start(picky))
      const big = { n: 1, pad: "x".repeat(5000) }
      expect(yield* Effect.flip(a.run(RemoteCall.call(ref, big)))).toMatchObject({ _tag: "MessageTooLargeError" })
      expect(yield* Effect.flip(a.run(RemoteCall.cast(ref, big)))).toMatchObject({ _tag: "MessageTooLargeError" })
      yield* settle(100, 25)
      expect(errors).toEqual([])
    }))

  it.scoped("checks what it sends against the smaller of both nodes' frame limits", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const a = yield* startNode(net, "a", { behaviors, maxFrameBytes: 1024 * 1024 })
      const b = yield* startNode(net, "b", { behaviors, maxFrameBytes: 8192, seeds: [a.id] })
      yield* settle(200, 25)
      const big = "z".repeat(20_000)
      const spawn = yield* Effect.flip(a.run(RemoteSpawn.spawn("loud", b.id, { args: [big] })))
      expect(spawn).toMatchObject({ _tag: "MessageTooLargeError", limit: 8192 })
      const ref = { id: (yield* a.run(RemoteSpawn.spawn("loud", b.id))).serverId, nodeId: b.id }
      expect(yield* Effect.flip(a.run(RemoteCall.call(ref, big)))).toMatchObject({
        _tag: "MessageTooLargeError",
        limit: 8192
      })
      yield* a.run(GenServer.stop(ref, { conflict: big }))
      expect(yield* b.run(GenServer.processCount)).toBe(0)
      expect(story(a)).toEqual(["up b"])
    }))

  it.scoped("handles a rejected Promise from another realm returned by an onNodeUp callback (logged, not unhandled)", () =>
    Effect.gen(function*() {
      const { layer: capture, messages: warnings } = captureLogs("Warning")
      const net = yield* Net.make
      const a = yield* startNode(net, "a", { behaviors })
      const foreign = () => vm.runInNewContext("Promise.reject(new Error('from another realm'))") as Promise<void>
      expect(vm.runInNewContext("Promise.resolve()") instanceof Promise).toBe(false)
      yield* a.run(Cluster.onNodeUp(foreign)).pipe(Effect.provide(capture))
      yield* startNode(net, "b", { behaviors, seeds: [a.id] })
      yield* settle(200, 25)
      expect(warnings).toContain("onNodeUp callback failed")
    }))

  it.scoped("ends spawnPreferLocal at once on a taken global name: no node runs init", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const holder = yield* b.run(GenServer.start(picky))
      yield* b.run(GlobalRegistry.register("the-one", holder))
      yield* settle(50, 25)
      const error = yield* Effect.flip(
        a.run(
          LoadBalancer.spawnPreferLocal("probe", {
            name: "the-one",
            registration: "global",
            args: [{ key: "prefer", kind: "sync", outcome: "ok" }]
          })
        )
      )
      expect(error).toMatchObject({ _tag: "RemoteSpawnRegistrationError", name: "the-one", nodeId: a.id })
      expect(probe.runs.get("prefer")).toBeUndefined()
    }))
})
