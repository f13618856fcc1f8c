import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Schema } from "effect"
import { internalsOf } from "../src/cluster/internal/node.js"
import { GenServer, GlobalRegistry, RemoteCall, RemoteSpawn } from "../src/index.js"
import type { ExitReason, NodeId, ServerRef } from "../src/index.js"
import type { MemoryNetwork } from "../src/index.js"
import { MemoryNetwork as Net } from "../src/index.js"
import { mailboxDrops } from "../src/internal/mailbox.js"
import { flush, settle, simId, startNode } from "./support/sim.js"

const terminated: Array<[string, ExitReason]> = []

const counter = GenServer.behavior({
  init: (start: number = 0) => start,
  handleCall: (msg: { type: "get" } | { type: "boom" } | { type: "slow"; ms: number }, n: number) => {
    if (msg.type === "boom") throw new RangeError("exploded")
    if (msg.type === "slow") return Effect.as(Effect.sleep(msg.ms), [n, n] as const)
    return [n, n] as const
  },
  handleCast: (msg: { type: "add"; by: number }, n: number) => n + msg.by,
  terminate: (reason: ExitReason, n: number) => void terminated.push([String(n), reason])
})

const list = GenServer.behavior({
  init: () => [] as Array<number>,
  handleCall: (_: "get", s: Array<number>) => [s, s] as const,
  handleCast: (n: number, s: Array<number>) => [...s, n]
})

const failingInit = GenServer.behavior({
  init: () => Effect.fail("no database"),
  handleCall: (_: unknown, s: number) => [s, s] as const,
  handleCast: (_: unknown, s: number) => s
})

const slowInit = GenServer.behavior({
  init: () => Effect.as(Effect.sleep("3 seconds"), 0),
  handleCall: (_: "get", s: number) => [s, s] as const,
  handleCast: (_: unknown, s: number) => s
})

const typed = GenServer.behavior({
  init: () => 0,
  handleCall: (msg: { readonly add: number }, n: number) => [n + msg.add, n + msg.add] as const,
  handleCast: (msg: { readonly add: number }, n: number) => n + msg.add,
  schemas: {
    call: Schema.Struct({ add: Schema.Number }),
    cast: Schema.Struct({ add: Schema.Number })
  }
})

const behaviors = { counter, list, failingInit, slowInit, typed }

/** Two connected simulated nodes, `a` and `b`, both knowing every behavior. */
const pair = (net: MemoryNetwork, options: { maxFrameBytes?: number } = {}) =>
  Effect.gen(function*() {
    const a = yield* startNode(net, "a", { behaviors, ...options })
    const b = yield* startNode(net, "b", { behaviors, seeds: [simId("a")], ...options })
    yield* settle(200)
    return { a, b }
  })

describe("RemoteSpawn (simulated)", () => {
  it.scoped("spawns on another node, then calls and casts to the process there", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const result = yield* a.run(RemoteSpawn.spawn("counter", b.id, { args: [10] }))
      expect(result.nodeId).toBe(b.id)
      const ref = { id: result.serverId, nodeId: result.nodeId }
      yield* a.run(RemoteCall.cast(ref, { type: "add", by: 5 }))
      expect(yield* a.run(RemoteCall.call(ref, { type: "get" }))).toBe(15)
      // GenServer.call takes the same remote ref: location transparency.
      expect(yield* a.run(GenServer.call(ref, { type: "get" }))).toBe(15)
      expect(yield* b.run(GenServer.processCount)).toBe(1)
    }))

  it.scoped("registers locally on the target with registration 'local', and nothing with 'none'", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      yield* a.run(RemoteSpawn.spawn("counter", b.id, { name: "worker-1", registration: "local", args: [7] }))
      expect(yield* a.run(RemoteCall.call({ id: "worker-1", nodeId: b.id }, { type: "get" }))).toBe(7)
      yield* a.run(RemoteSpawn.spawn("counter", b.id, { name: "anon", registration: "none" }))
      expect((yield* b.run(GenServer.whereis("anon")))._tag).toBe("None")
      yield* a.run(RemoteSpawn.spawn("counter", b.id, { name: "anon" }))
      expect((yield* b.run(GenServer.whereis("anon")))._tag).toBe("None")
    }))

  it.scoped("fails each way with its own error", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const { a, b } = yield* pair(net)
      const notConnected = yield* Effect.flip(a.run(RemoteSpawn.spawn("counter", simId("zed"))))
      expect(notConnected).toMatchObject({ _tag: "NodeNotReachableError", nodeId: simId("zed") })
      const unknown = yield* Effect.flip(a.run(RemoteSpawn.spawn("nope", b.id)))
      expect(unknown).toMatchObject({ _tag: "BehaviorNotFoundError", behaviorName: "nope", nodeId: b.id })
      const initFailed = yield* Effect.flip(a.run(RemoteSpawn.spawn("failingInit", b.id)))
      expect(initFailed).toMatchObject({ _tag: "RemoteSpawnInitError", behaviorName: "failingInit", nodeId: b.id })
      expect(initFailed.message).toContain("no database")
      const initSlow = yield* Effect.fork(
        Effect.flip(a.run(RemoteSpawn.spawn("slowInit", b.id, { initTimeout: "1 second" })))
      )
      yield* settle(1100)
      const slow = yield* Fiber.join(initSlow)
      expect(slow._tag).toBe("RemoteSpawnInitError")
      expect(slow.message).toContain("1000ms")
      yield* a.run(RemoteSpawn.spawn("counter", b.id, { name: "taken", registration: "local" }))
      const before = yield* b.run(GenServer.processCount)
      const clash = yield* Effect.flip(
        a.run(RemoteSpawn.spawn("counter", b.id, { name: "taken", registration: "local" }))
      )
      expect(clash).toMatchObject({ _tag: "RemoteSpawnRegistrationError", name: "taken", nodeId: b.id })
      expect(yield* b.run(GenServer.processCount)).toBe(before)
    }))

  it.scoped("times out with RemoteSpawnTimeoutError and leaves no process behind on the target", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const spawning = yield* Effect.fork(
        Effect.flip(a.run(RemoteSpawn.spawn("slowInit", b.id, { timeout: "1 second", initTimeout: "10 seconds" })))
      )
      yield* settle(1000)
      expect(yield* Fiber.join(spawning)).toMatchObject({
        _tag: "RemoteSpawnTimeoutError",
        behaviorName: "slowInit",
        timeoutMs: 1000
      })
      yield* settle(3000)
      // init completed on b after the caller gave up: b stopped it.
      expect(yield* b.run(GenServer.processCount)).toBe(0)
    }))

  it.scoped("fails a spawn in flight with NodeNotReachableError when the target dies", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const { a, b } = yield* pair(net)
      const spawning = yield* Effect.fork(Effect.flip(a.run(RemoteSpawn.spawn("slowInit", b.id))))
      yield* settle(100)
      yield* net.kill(b.id)
      yield* flush
      expect(yield* Fiber.join(spawning)).toMatchObject({ _tag: "NodeNotReachableError", nodeId: b.id })
    }))

  it.scoped("spawns on the local node through the same API", () =>
    Effect.gen(function*() {
      const { a } = yield* pair(yield* Net.make)
      const result = yield* a.run(RemoteSpawn.spawn("counter", a.id, { args: [3] }))
      expect(result.nodeId).toBe(a.id)
      expect(yield* a.run(RemoteCall.call({ id: result.serverId, nodeId: a.id }, { type: "get" }))).toBe(3)
    }))
})

describe("RemoteCall (simulated)", () => {
  it.scoped("fails at once with NodeNotReachableError for a node that is not connected", () =>
    Effect.gen(function*() {
      const { a } = yield* pair(yield* Net.make)
      const error = yield* Effect.flip(a.run(RemoteCall.call({ id: "x", nodeId: simId("zed") }, "hi")))
      expect(error).toMatchObject({ _tag: "NodeNotReachableError", nodeId: simId("zed") })
    }))

  it.scoped("times out, drops the late reply and cleans its pending entry", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const { serverId } = yield* a.run(RemoteSpawn.spawn("counter", b.id, { args: [1] }))
      const ref = { id: serverId, nodeId: b.id }
      const call = yield* Effect.fork(
        Effect.flip(a.run(RemoteCall.call(ref, { type: "slow", ms: 2000 }, { timeout: 500 })))
      )
      yield* settle(500)
      expect(yield* Fiber.join(call)).toMatchObject({
        _tag: "RemoteCallTimeoutError",
        serverId,
        nodeId: b.id,
        timeoutMs: 500
      })
      yield* settle(2000)
      expect(yield* a.run(RemoteCall.call(ref, { type: "get" }))).toBe(1)
      expect(internalsOf(a.cluster).remoting.pendingCount()).toBe(0)
    }))

  it.scoped("an interrupted call ends at once; its reply, when it comes, is dropped and leaves nothing pending", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const { serverId } = yield* a.run(RemoteSpawn.spawn("counter", b.id, { args: [7] }))
      const ref = { id: serverId, nodeId: b.id }
      const call = yield* Effect.fork(a.run(RemoteCall.call(ref, { type: "slow", ms: 1000 }, { timeout: 60_000 })))
      yield* settle(100)
      yield* Fiber.interrupt(call)
      // Served anyway (the server does not know the caller gave up); its reply finds no one.
      yield* settle(1500)
      expect(internalsOf(a.cluster).remoting.pendingCount()).toBe(0)
      expect(yield* a.run(RemoteCall.call(ref, { type: "get" }))).toBe(7)
      // A call with no deadline, or a long one, has nothing to end its entry soon but the interruption itself.
      for (const timeout of [Infinity, "2 minutes"] as const) {
        const long = yield* Effect.fork(a.run(RemoteCall.call(ref, { type: "slow", ms: 1000 }, { timeout })))
        yield* settle(100)
        yield* Fiber.interrupt(long)
        expect(internalsOf(a.cluster).remoting.pendingCount()).toBe(0)
      }
    }))

  it.scoped("answers RemoteServerNotRunningError for an unknown id, a stopped process and a ref of a previous incarnation", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const { a, b } = yield* pair(net)
      const unknown = yield* Effect.flip(a.run(RemoteCall.call({ id: "nope", nodeId: b.id }, { type: "get" })))
      expect(unknown).toMatchObject({ _tag: "RemoteServerNotRunningError", serverId: "nope", nodeId: b.id })
      const { serverId } = yield* a.run(RemoteSpawn.spawn("counter", b.id))
      const ref = { id: serverId, nodeId: b.id }
      yield* a.run(GenServer.stop(ref))
      expect((yield* Effect.flip(a.run(RemoteCall.call(ref, { type: "get" }))))._tag).toBe(
        "RemoteServerNotRunningError"
      )
      const { serverId: oldId } = yield* a.run(RemoteSpawn.spawn("counter", b.id))
      yield* b.stop
      const b2 = yield* startNode(net, "b", { behaviors, seeds: [simId("a")] })
      yield* settle(300)
      yield* a.run(RemoteSpawn.spawn("counter", b2.id))
      const stale = yield* Effect.flip(a.run(RemoteCall.call({ id: oldId, nodeId: b2.id }, { type: "get" })))
      expect(stale._tag).toBe("RemoteServerNotRunningError")
    }))

  it.scoped("answers RemoteHandlerError when the remote handler throws, and the process goes on", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const { serverId } = yield* a.run(RemoteSpawn.spawn("counter", b.id, { args: [4] }))
      const ref = { id: serverId, nodeId: b.id }
      const error = yield* Effect.flip(a.run(RemoteCall.call(ref, { type: "boom" })))
      expect(error).toMatchObject({ _tag: "RemoteHandlerError", name: "RangeError", message: "exploded", nodeId: b.id })
      expect(yield* a.run(RemoteCall.call(ref, { type: "get" }))).toBe(4)
    }))

  it.scoped("fails every pending call at once with NodeNotReachableError when the node dies", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const { a, b } = yield* pair(net)
      const { serverId } = yield* a.run(RemoteSpawn.spawn("counter", b.id))
      const ref = { id: serverId, nodeId: b.id }
      const calls = yield* Effect.forEach(
        [1, 2, 3],
        () =>
          Effect.fork(Effect.flip(a.run(RemoteCall.call(ref, { type: "slow", ms: 10_000 }, { timeout: "10 seconds" }))))
      )
      yield* settle(50)
      yield* net.kill(b.id)
      yield* flush
      for (const call of calls) expect((yield* Fiber.join(call))._tag).toBe("NodeNotReachableError")
    }))

  it.scoped("fails a call in flight across a partition once the failure detector fires", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const { a, b } = yield* pair(net)
      const { serverId } = yield* a.run(RemoteSpawn.spawn("counter", b.id))
      const call = yield* Effect.fork(
        Effect.flip(
          a.run(RemoteCall.call({ id: serverId, nodeId: b.id }, { type: "slow", ms: 100 }, { timeout: "30 seconds" }))
        )
      )
      yield* settle(20)
      yield* net.partition([a.id], [b.id])
      yield* settle(7000, 50)
      expect((yield* Fiber.join(call))._tag).toBe("NodeNotReachableError")
    }))

  it.scoped("delivers casts from one sender in order, and counts casts dropped for unknown processes", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const { serverId } = yield* a.run(RemoteSpawn.spawn("list", b.id))
      const ref = { id: serverId, nodeId: b.id }
      for (let i = 0; i < 300; i++) yield* a.run(RemoteCall.cast(ref, i))
      expect(yield* a.run(RemoteCall.call(ref, "get"))).toEqual(Array.from({ length: 300 }, (_, i) => i))
      yield* a.run(RemoteCall.cast({ id: "ghost", nodeId: b.id }, 1))
      yield* a.run(RemoteCall.cast({ id: "ghost", nodeId: simId("zed") }, 1))
      yield* settle(10)
      const droppedOnA = a.cluster.metrics.castsDropped.unsafeValue([]).count
      const droppedOnB = b.cluster.metrics.castsDropped.unsafeValue([]).count
      expect(droppedOnA).toBe(1)
      expect(droppedOnB).toBe(1)
    }))

  it.scoped("stops a remote process: terminate runs there and stop answers when it is done", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const { serverId } = yield* a.run(RemoteSpawn.spawn("counter", b.id, { args: [99] }))
      terminated.length = 0
      yield* a.run(GenServer.stop({ id: serverId, nodeId: b.id }, { error: "maintenance" }))
      expect(terminated).toEqual([["99", { error: "maintenance" }]])
      expect(yield* b.run(GenServer.processCount)).toBe(0)
      const again = yield* Effect.flip(a.run(GenServer.stop({ id: serverId, nodeId: b.id })))
      expect(again._tag).toBe("RemoteServerNotRunningError")
    }))

  it.scoped("validates messages against a behavior's schemas: InvalidMessageError, and the server goes on", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const { serverId } = yield* a.run(RemoteSpawn.spawn("typed", b.id))
      const ref = { id: serverId, nodeId: b.id }
      const bad = yield* Effect.flip(a.run(RemoteCall.call(ref, { add: "one" })))
      expect(bad).toMatchObject({ _tag: "InvalidMessageError", serverId, nodeId: b.id })
      yield* a.run(RemoteCall.cast(ref, { nope: true }))
      expect(yield* a.run(RemoteCall.call(ref, { add: 2 }))).toBe(2)
    }))

  it.scoped("fails an oversized message on the sender with MessageTooLargeError; the link stays up", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make, { maxFrameBytes: 8192 })
      const { serverId } = yield* a.run(RemoteSpawn.spawn("list", b.id))
      const ref = { id: serverId, nodeId: b.id }
      const big = "x".repeat(10_000)
      const tooLarge = yield* Effect.flip(a.run(RemoteCall.call(ref, big)))
      expect(tooLarge).toMatchObject({ _tag: "MessageTooLargeError", limit: 8192 })
      expect((yield* Effect.flip(a.run(RemoteCall.cast(ref, big))))._tag).toBe("MessageTooLargeError")
      expect(yield* a.run(RemoteCall.call(ref, "get"))).toEqual([])
      expect(a.events.filter((e) => e._tag === "NodeDown")).toEqual([])
    }))

  it.scoped("answers a node id that is not one (a cast from untyped code) with NodeNotReachableError, not a defect", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const a = yield* startNode(net, "a")
      const bogus = "not-a-node-id" as NodeId
      const spawn = yield* Effect.flip(a.run(RemoteSpawn.spawn("counter", bogus)))
      const call = yield* Effect.flip(a.run(RemoteCall.call({ id: "s", nodeId: bogus }, "get")))
      const stop = yield* Effect.flip(a.run(GenServer.stop({ id: "s", nodeId: bogus })))
      for (const error of [spawn, call, stop]) {
        expect(error).toMatchObject({ _tag: "NodeNotReachableError", nodeId: bogus })
      }
    }))

  it.scoped("refuses a ref without an id on the caller, and the link and other calls go on", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const a = yield* startNode(net, "a", { behaviors })
      const b = yield* startNode(net, "b", { behaviors, seeds: [simId("a")] })
      yield* settle(200, 25)
      const spawned = yield* a.run(RemoteSpawn.spawn("counter", b.id))
      const broken = { nodeId: b.id } as unknown as ServerRef
      expect(yield* Effect.flip(a.run(RemoteCall.call(broken, { type: "get" })))).toMatchObject({
        _tag: "RemoteServerNotRunningError"
      })
      expect(yield* Effect.flip(a.run(RemoteCall.cast(broken, { type: "add", by: 1 })))).toMatchObject({
        _tag: "InvalidMessageError"
      })
      expect(yield* Effect.flip(a.run(GenServer.stop(broken)))).toMatchObject({ _tag: "RemoteServerNotRunningError" })
      expect(yield* Effect.flip(a.run(GlobalRegistry.register("n", broken)))).toMatchObject({
        _tag: "RemoteServerNotRunningError"
      })
      expect(yield* a.run(RemoteCall.call({ id: spawned.serverId, nodeId: spawned.nodeId }, { type: "get" }))).toBe(0)
      expect(a.events.filter((e) => e._tag === "NodeDown")).toEqual([])
    }))

  it.scoped("bounds a process's mailbox: past the limit a call fails with MailboxFullError (across nodes too), a cast is dropped", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const a = yield* startNode(net, "a", { behaviors })
      const b = yield* startNode(net, "b", { behaviors, seeds: [simId("a")], mailboxLimit: 3 })
      yield* settle(200, 25)
      const spawned = yield* a.run(RemoteSpawn.spawn("counter", b.id))
      const ref = { id: spawned.serverId, nodeId: spawned.nodeId }
      // One call in the handler, three waiting: the mailbox is full.
      const held = yield* Effect.forEach(
        [0, 1, 2, 3],
        () => Effect.fork(b.run(GenServer.call(ref, { type: "slow", ms: 1000 }))),
        { concurrency: 1 }
      )
      yield* flush
      expect(yield* Effect.flip(b.run(GenServer.call(ref, { type: "get" })))).toMatchObject({
        _tag: "MailboxFullError",
        limit: 3
      })
      expect(yield* Effect.flip(a.run(RemoteCall.call(ref, { type: "get" })))).toMatchObject({
        _tag: "MailboxFullError",
        nodeId: b.id
      })
      // A cast into the full mailbox is dropped, not queued.
      yield* a.run(RemoteCall.cast(ref, { type: "add", by: 100 }))
      yield* b.run(GenServer.cast(ref, { type: "add", by: 100 }))
      yield* settle(4100, 100)
      for (const fiber of held) expect(yield* Fiber.join(fiber)).toBe(0)
      expect(yield* a.run(RemoteCall.call(ref, { type: "get" }))).toBe(0)
      // Both were counted on b, where they were dropped.
      expect((yield* Metric.value(mailboxDrops(b.id))).count).toBe(2)
      expect(a.events.filter((e) => e._tag === "NodeDown")).toEqual([])
    }))

  it.scoped("caps the processes one node may spawn on another; a process that ends gives its place back", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const a = yield* startNode(net, "a", { behaviors })
      const b = yield* startNode(net, "b", { behaviors, seeds: [simId("a")], maxProcessesPerPeer: 2 })
      const c = yield* startNode(net, "c", { behaviors, seeds: [simId("a")] })
      yield* settle(300, 25)
      const first = yield* a.run(RemoteSpawn.spawn("counter", b.id))
      yield* a.run(RemoteSpawn.spawn("counter", b.id))
      expect(yield* Effect.flip(a.run(RemoteSpawn.spawn("counter", b.id)))).toMatchObject({
        _tag: "SpawnQuotaError",
        nodeId: b.id,
        limit: 2
      })
      // The quota is a's: c may still spawn on b, and b itself is not limited.
      yield* c.run(RemoteSpawn.spawn("counter", b.id))
      yield* b.run(RemoteSpawn.spawn("counter", b.id))
      yield* a.run(GenServer.stop({ id: first.serverId, nodeId: first.nodeId }))
      yield* a.run(RemoteSpawn.spawn("counter", b.id))
    }))
})
