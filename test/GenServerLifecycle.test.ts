/** GenServer stop, shutdown, what handlers may answer, and the runtime service (the rest is in GenServer.test.ts). */
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, TestClock } from "effect"
import { GenServer, NodeId, RemoteServerNotRunningError } from "../src/index.js"
import type { ExitReason } from "../src/index.js"
import { callInFlightAtShutdown, counter, run, workerBehavior } from "./support/genserver.js"
import type { WorkerCast } from "./support/genserver.js"
import { captureLogs } from "./support/logs.js"

describe("GenServer stop", () => {
  it.effect("runs terminate with the reason and fails queued calls with RemoteServerNotRunningError", () =>
    run(
      Effect.gen(function*() {
        const terminated: Array<[ExitReason, number]> = []
        const gate = yield* Deferred.make<void>()
        const gated = GenServer.behavior({
          init: () => 5,
          handleCall: (msg: "block" | "get", s: number) =>
            msg === "block"
              ? Effect.as(Deferred.await(gate), ["unblocked" as string | number, s] as const)
              : ([s as string | number, s] as const),
          handleCast: (_: never, s: number) => s,
          terminate: (reason: ExitReason, s: number) => {
            terminated.push([reason, s])
          }
        })
        const ref = yield* GenServer.start(gated)
        const blocked = yield* Effect.fork(GenServer.call(ref, "block"))
        yield* Effect.yieldNow()
        const queued = yield* Effect.fork(Effect.flip(GenServer.call(ref, "get")))
        yield* Effect.yieldNow()
        const stopping = yield* Effect.fork(GenServer.stop(ref, { error: "maintenance" }))
        yield* Effect.yieldNow()
        expect(terminated).toEqual([])
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(blocked)).toBe("unblocked")
        expect(yield* Fiber.join(queued)).toBeInstanceOf(RemoteServerNotRunningError)
        yield* Fiber.join(stopping)
        expect(terminated).toEqual([[{ error: "maintenance" }, 5]])
        expect(yield* GenServer.processCount).toBe(0)
      })
    ))

  it.effect("waits for an asynchronous terminate before stop completes", () =>
    run(
      Effect.gen(function*() {
        let cleaned = false
        const b = {
          ...counter,
          terminate: () => Effect.sleep("1 second").pipe(Effect.tap(() => (cleaned = true)))
        }
        const ref = yield* GenServer.start(b)
        const stopping = yield* Effect.fork(GenServer.stop(ref, "normal"))
        yield* TestClock.adjust("500 millis")
        expect(stopping.unsafePoll()).toBeNull()
        yield* TestClock.adjust("500 millis")
        yield* Fiber.join(stopping)
        expect(cleaned).toBe(true)
      })
    ))

  it.effect("terminates every process with reason 'shutdown' when the layer closes", () =>
    Effect.gen(function*() {
      const reasons: Array<ExitReason> = []
      const b = { ...counter, terminate: (reason: ExitReason) => void reasons.push(reason) }
      yield* Effect.scoped(
        Effect.gen(function*() {
          const rt = yield* GenServer.make()
          yield* rt.start(b)
          yield* rt.start(b)
          expect(rt.processCount()).toBe(2)
        })
      )
      expect(reasons).toEqual(["shutdown", "shutdown"])
    }))
})

describe("GenServer shutdown", () => {
  it.effect("interrupts a handler stuck at shutdown: its caller learns the server is gone, terminate still runs", () =>
    Effect.gen(function*() {
      const reasons: Array<ExitReason> = []
      const stuck = GenServer.behavior({
        init: () => 0,
        handleCall: (_: "hang", s: number) => Effect.as(Effect.never, [s, s] as const),
        handleCast: (_: never, s: number) => s,
        terminate: (reason: ExitReason) => void reasons.push(reason)
      })
      const caller = yield* callInFlightAtShutdown(stuck, "hang")
      expect(yield* Fiber.join(caller)).toBeInstanceOf(RemoteServerNotRunningError)
      expect(reasons).toEqual(["shutdown"])
    }))
})

describe("GenServer handler answers", () => {
  it.effect("keeps the state when handleCast returns undefined (the guide's worker given a cast it does not know), and logs why once", () => {
    const { layer: capture, messages: warnings } = captureLogs("Warning")
    return run(
      Effect.gen(function*() {
        const ref = yield* GenServer.start(workerBehavior)
        yield* GenServer.cast(ref, { type: "process_task", taskId: "t1", data: null })
        yield* GenServer.cast(ref, { type: "resize", size: 3 } as unknown as WorkerCast)
        yield* GenServer.cast(ref, { type: "process_task", taskId: "t2", data: null })
        yield* GenServer.cast(ref, { type: "resize", size: 4 } as unknown as WorkerCast)
        expect(yield* GenServer.call(ref, { type: "get_stats" })).toEqual({ taskCount: 2 })
        yield* Effect.repeatN(Effect.yieldNow(), 5)
        expect(warnings).toEqual(["handleCast returned undefined; the state is kept (logged once per process)"])
      })
    ).pipe(Effect.provide(capture))
  })

  it.effect("drains a long mailbox of Effect handlers that complete at once, without growing the stack", () =>
    run(
      Effect.gen(function*() {
        const effectful = GenServer.behavior({
          init: () => 0,
          handleCall: (_: "get", n: number) => Effect.succeed([n, n] as const),
          handleCast: (
            msg: "slow" | "inc",
            n: number
          ) => (msg === "slow" ? Effect.as(Effect.sleep(20), n) : Effect.succeed(n + 1))
        })
        const ref = yield* GenServer.start(effectful)
        yield* GenServer.cast(ref, "slow")
        for (let i = 0; i < 20_000; i++) yield* GenServer.cast(ref, "inc")
        const answer = yield* Effect.fork(GenServer.call(ref, "get"))
        yield* TestClock.adjust(20)
        expect(yield* Fiber.join(answer)).toBe(20_000)
      })
    ))

  it.effect("treats a `then` getter that throws as the handler failing: the name is freed, the process goes on", () =>
    run(
      Effect.gen(function*() {
        const evil = {
          get then(): unknown {
            throw new Error("then exploded")
          }
        }
        const tricky = GenServer.behavior({
          init: (bad: boolean) => (bad ? (evil as unknown as number) : 0),
          handleCall: (
            msg: "evil" | "get",
            n: number
          ) => (msg === "evil" ? (evil as unknown as readonly [number, number]) : [n, n] as const),
          handleCast: (_: "evil", _n: number) => evil as unknown as number
        })
        const failed = yield* Effect.flip(GenServer.start(tricky, { name: "tricky", args: [true] }))
        expect(failed).toMatchObject({ _tag: "GenServerInitError", message: "then exploded" })
        const ref = yield* GenServer.start(tricky, { name: "tricky", args: [false] })
        expect(yield* Effect.flip(GenServer.call(ref, "evil"))).toMatchObject({
          _tag: "RemoteHandlerError",
          message: "then exploded"
        })
        yield* GenServer.cast(ref, "evil")
        expect(yield* GenServer.call(ref, "get")).toBe(0)
      })
    ))

  it.effect("lets a process whose state is undefined keep answering undefined, without a warning", () =>
    run(
      Effect.gen(function*() {
        const stateless = GenServer.behavior({
          init: () => undefined,
          handleCall: (_: "get", s: undefined) => [s, s] as const,
          handleCast: (_: "noop", _s: undefined) => undefined
        })
        const ref = yield* GenServer.start(stateless)
        yield* GenServer.cast(ref, "noop")
        expect(yield* GenServer.call(ref, "get")).toBeUndefined()
      })
    ))

  it.effect("fails a call held by a Promise handler at once when the runtime shuts down, and ignores the late value", () =>
    Effect.gen(function*() {
      let release: (() => void) | undefined
      const later = new Promise<void>((resolve) => (release = resolve))
      const waiting = GenServer.behavior({
        init: () => 0,
        handleCall: (_: "wait", s: number) => later.then(() => ["late", s] as const),
        handleCast: (_: unknown, s: number) => s
      })
      const caller = yield* callInFlightAtShutdown(waiting, "wait")
      yield* Effect.repeatN(Effect.yieldNow(), 5)
      const exit = caller.unsafePoll()
      expect(exit !== null && Exit.isSuccess(exit) ? exit.value : exit).toBeInstanceOf(RemoteServerNotRunningError)
      release!()
      yield* Effect.promise(() => later)
    }))
})

describe("GenServer runtime", () => {
  it.effect("counts live processes", () =>
    run(
      Effect.gen(function*() {
        const refs = yield* Effect.forEach(Array.from({ length: 10 }), () => GenServer.start(counter))
        expect(yield* GenServer.processCount).toBe(10)
        yield* Effect.forEach(refs.slice(0, 4), (r) => GenServer.stop(r))
        expect(yield* GenServer.processCount).toBe(6)
      })
    ))

  it.effect("keeps two runtimes in one process independent", () =>
    Effect.gen(function*() {
      class A extends Context.Tag("A")<A, GenServer.Service>() {}
      class B extends Context.Tag("B")<B, GenServer.Service>() {}
      const layers = Layer.merge(
        Layer.scoped(A, GenServer.make({ nodeId: NodeId.make("a", "127.0.0.1", 1) })),
        Layer.scoped(B, GenServer.make({ nodeId: NodeId.make("b", "127.0.0.1", 2) }))
      )
      yield* Effect.gen(function*() {
        const a = yield* A
        const b = yield* B
        const ra = yield* a.start(counter, { name: "shared-name" })
        yield* b.start(counter, { name: "shared-name", args: [100] })
        expect(a.processCount()).toBe(1)
        expect(b.processCount()).toBe(1)
        expect(yield* a.call({ id: "shared-name", nodeId: a.nodeId }, "get")).toBe(0)
        expect(yield* b.call({ id: "shared-name", nodeId: b.nodeId }, "get")).toBe(100)
        // b does not know a's process, and is not clustered with a.
        expect((yield* Effect.flip(b.call(ra, "get")))._tag).toBe("NodeNotReachableError")
      }).pipe(Effect.provide(layers))
    }))
})
