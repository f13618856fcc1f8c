/**
 * Every piece of work a node starts is owned by the node: closing a node ends what it
 * was doing for others (a remote init, a remote stop) and what others were waiting on
 * it for (calls and spawns in flight), at once and with typed errors. Simulated nodes
 * on the in-memory network; the waiting fibers run outside the closing node's scope,
 * as a caller holding a ManagedRuntime does.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, FiberSet } from "effect"
import { internalsOf } from "../src/cluster/internal/node.js"
import { GenServer, MemoryNetwork as Net, RemoteCall, RemoteSpawn } from "../src/index.js"
import { flush, settle, simId, startNode } from "./support/sim.js"

const interrupted: Array<string> = []

/** A process whose call never answers, whose init and terminate can be made to hang. */
const hanging = GenServer.behavior({
  init: (mode: "ok" | "hang-init" | "hang-terminate") =>
    mode === "hang-init"
      ? Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted.push("init")))
      : Effect.succeed(mode),
  handleCall: (_: "never", mode: string) =>
    Effect.as(
      Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted.push("call"))),
      [mode, mode] as const
    ),
  handleCast: (_: unknown, mode: string) => mode,
  terminate: (_reason, mode: string) =>
    mode === "hang-terminate"
      ? Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted.push("terminate")))
      : Effect.void
})

const behaviors = { hanging }

const pair = Effect.gen(function*() {
  const net = yield* Net.make
  const a = yield* startNode(net, "a", { behaviors })
  const b = yield* startNode(net, "b", { behaviors, seeds: [simId("a")] })
  yield* settle(200, 25)
  return { a, b }
})

describe("lifetimes", () => {
  it.scoped("closing a node fails its calls and spawns in flight to other nodes with NodeNotReachableError", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const ref = yield* b.run(GenServer.start(hanging, { args: ["ok"] }))
      const call = yield* Effect.fork(a.run(RemoteCall.call(ref, "never", { timeout: 60_000 })))
      const spawn = yield* Effect.fork(
        a.run(RemoteSpawn.spawn("hanging", b.id, { args: ["hang-init"], timeout: 60_000, initTimeout: 60_000 }))
      )
      yield* settle(100, 10)
      expect(call.unsafePoll()).toBeNull()
      expect(spawn.unsafePoll()).toBeNull()
      yield* a.stop
      yield* flush
      const callExit = yield* Fiber.await(call)
      const spawnExit = yield* Fiber.await(spawn)
      expect(callExit).toEqual(Exit.fail(expect.objectContaining({ _tag: "NodeNotReachableError", nodeId: b.id })))
      expect(spawnExit).toEqual(Exit.fail(expect.objectContaining({ _tag: "NodeNotReachableError", nodeId: b.id })))
    }))

  it.scoped("closing a node interrupts the remote init and the remote call it is serving", () =>
    Effect.gen(function*() {
      interrupted.length = 0
      const { a, b } = yield* pair
      const ref = yield* b.run(GenServer.start(hanging, { args: ["ok"] }))
      const call = yield* Effect.fork(a.run(RemoteCall.call(ref, "never", { timeout: 60_000 })))
      const spawn = yield* Effect.fork(
        a.run(RemoteSpawn.spawn("hanging", b.id, { args: ["hang-init"], timeout: 60_000, initTimeout: 60_000 }))
      )
      yield* settle(100, 10)
      expect(interrupted).toEqual([])
      yield* b.stop
      yield* flush
      expect([...interrupted].sort()).toEqual(["call", "init"])
      // And the caller hears of it at once, not at its timeout.
      yield* settle(100, 10)
      expect(yield* Fiber.await(call)).toEqual(
        Exit.fail(expect.objectContaining({ _tag: "NodeNotReachableError", nodeId: b.id }))
      )
      expect(yield* Fiber.await(spawn)).toEqual(
        Exit.fail(expect.objectContaining({ _tag: "NodeNotReachableError", nodeId: b.id }))
      )
    }))

  it.scoped("closing a node ends, after the shutdown grace, the remote stop it is serving whose terminate hangs", () =>
    Effect.gen(function*() {
      interrupted.length = 0
      const { a, b } = yield* pair
      const ref = yield* b.run(GenServer.start(hanging, { args: ["hang-terminate"] }))
      const stop = yield* Effect.fork(a.run(GenServer.stop(ref)))
      yield* settle(100, 10)
      expect(stop.unsafePoll()).toBeNull()
      const closing = yield* Effect.fork(b.stop)
      yield* settle(100, 10)
      // The peer heard Goodbye before b waits for its processes: the stop is answered at once.
      expect(stop.unsafePoll()).toEqual(
        Exit.fail(expect.objectContaining({ _tag: "NodeNotReachableError", nodeId: b.id }))
      )
      expect(interrupted).toEqual([])
      yield* settle(5_000, 100)
      yield* Fiber.join(closing)
      expect(interrupted).toEqual(["terminate"])
    }))

  it.scoped("a link whose watch is interrupted before it saw the close still reports its end: waiting calls fail at once", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const ref = yield* a.run(GenServer.start(hanging, { args: ["ok"] }))
      const call = yield* Effect.fork(b.run(RemoteCall.call(ref, "never", { timeout: 60_000 })))
      yield* settle(100, 10)
      expect(call.unsafePoll()).toBeNull()
      // b dialed a: its link is watched by a fiber of b's dialers. Interrupting that fiber
      // is what a node closing does to it, without closing the connection first.
      const dialers = (internalsOf(b.cluster).membership as unknown as { fibers: FiberSet.FiberSet }).fibers
      yield* FiberSet.clear(dialers)
      yield* flush
      expect(call.unsafePoll()).toEqual(
        Exit.fail(expect.objectContaining({ _tag: "NodeNotReachableError", nodeId: a.id }))
      )
      expect(b.events.map((e) => e._tag)).toContain("NodeDown")
    }))
})
