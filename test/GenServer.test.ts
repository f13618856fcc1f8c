import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, FastCheck, Fiber, Option, TestClock } from "effect"
import {
  GenServer,
  GenServerInitError,
  NameAlreadyRegisteredError,
  NodeId,
  NodeNotReachableError,
  RemoteCallTimeoutError,
  RemoteHandlerError,
  RemoteServerNotRunningError
} from "../src/index.js"
import { counter, run, workerBehavior } from "./support/genserver.js"
import type { WorkerReply } from "./support/genserver.js"

describe("GenServer behaviors", () => {
  it.effect("runs the guide's worker behavior unchanged", () =>
    run(
      Effect.gen(function*() {
        const ref = yield* GenServer.start(workerBehavior)
        for (let i = 0; i < 5; i++) yield* GenServer.cast(ref, { type: "process_task", taskId: `t${i}`, data: i })
        const stats = yield* GenServer.call<WorkerReply>(ref, { type: "get_stats" })
        expect(stats).toEqual({ taskCount: 5 })
      })
    ))

  it.effect("accepts handlers answering with a plain value, a Promise or an Effect", () =>
    run(
      Effect.gen(function*() {
        const mixed = GenServer.behavior({
          init: () => Promise.resolve(10),
          handleCall: (msg: "plain" | "promise" | "effect", s: number) =>
            msg === "plain"
              ? ([`plain:${s}`, s + 1] as const)
              : msg === "promise"
              ? Promise.resolve([`promise:${s}`, s + 1] as const)
              : Effect.succeed([`effect:${s}`, s + 1] as const),
          handleCast: (msg: "p" | "e", s: number) => (msg === "p" ? Promise.resolve(s * 2) : Effect.succeed(s * 3))
        })
        const ref = yield* GenServer.start(mixed)
        expect(yield* GenServer.call(ref, "plain")).toBe("plain:10")
        expect(yield* GenServer.call(ref, "promise")).toBe("promise:11")
        expect(yield* GenServer.call(ref, "effect")).toBe("effect:12")
        yield* GenServer.cast(ref, "p")
        yield* GenServer.cast(ref, "e")
        expect(yield* GenServer.call(ref, "plain")).toBe(`plain:${13 * 2 * 3}`)
      })
    ))

  it.effect("passes start args to init", () =>
    run(
      Effect.gen(function*() {
        const ref = yield* GenServer.start(counter, { args: [41] })
        yield* GenServer.cast(ref, "inc")
        expect(yield* GenServer.call(ref, "get")).toBe(42)
      })
    ))
})

describe("GenServer ordering", () => {
  it.effect("handles one message at a time, in arrival order, even when handlers suspend", () =>
    run(
      Effect.gen(function*() {
        let active = 0
        let maxActive = 0
        const log: Array<string> = []
        const slow = GenServer.behavior({
          init: () => 0,
          handleCall: (msg: string, s: number) =>
            Effect.gen(function*() {
              active++
              maxActive = Math.max(maxActive, active)
              yield* Effect.sleep("10 millis")
              log.push(`call:${msg}`)
              active--
              return [msg, s] as const
            }),
          handleCast: (msg: string, s: number) =>
            Effect.gen(function*() {
              active++
              maxActive = Math.max(maxActive, active)
              yield* Effect.sleep("5 millis")
              log.push(`cast:${msg}`)
              active--
              return s + 1
            })
        })
        const ref = yield* GenServer.start(slow)
        yield* GenServer.cast(ref, "a")
        // Each call runs in its own fiber: let it reach the mailbox before the next send.
        const c1 = yield* Effect.fork(GenServer.call(ref, "b"))
        yield* Effect.yieldNow()
        yield* GenServer.cast(ref, "c")
        const c2 = yield* Effect.fork(GenServer.call(ref, "d"))
        yield* Effect.yieldNow()
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(c1)
        yield* Fiber.join(c2)
        expect(log).toEqual(["cast:a", "call:b", "cast:c", "call:d"])
        expect(maxActive).toBe(1)
      })
    ))

  it.effect("delivers casts from one sender in order", () =>
    run(
      Effect.gen(function*() {
        const list = GenServer.behavior({
          init: () => [] as Array<number>,
          handleCall: (_: "get", s: Array<number>) => [s, s] as const,
          handleCast: (n: number, s: Array<number>) => (n % 7 === 0 ? Promise.resolve([...s, n]) : [...s, n])
        })
        const ref = yield* GenServer.start(list)
        const sent = Array.from({ length: 500 }, (_, i) => i)
        for (const n of sent) yield* GenServer.cast(ref, n)
        expect(yield* GenServer.call(ref, "get")).toEqual(sent)
      })
    ))

  it.effect.prop(
    "replies equal a pure fold of the same casts and calls",
    [
      FastCheck.array(
        FastCheck.oneof(
          FastCheck.record({
            kind: FastCheck.constant("cast" as const),
            n: FastCheck.integer({ min: -100, max: 100 })
          }),
          FastCheck.record({ kind: FastCheck.constant("call" as const), n: FastCheck.integer({ min: -100, max: 100 }) })
        ),
        { maxLength: 60 }
      )
    ],
    ([ops]) =>
      run(
        Effect.gen(function*() {
          // state' = state * 3 + n (mod a prime) on a cast; a call replies state + n and keeps it.
          const step = (s: number, n: number) => (s * 3 + n) % 1_000_003
          const server = GenServer.behavior({
            init: () => 1,
            handleCall: (n: number, s: number) => [s + n, s] as const,
            handleCast: (n: number, s: number) => (n % 2 === 0 ? step(s, n) : Promise.resolve(step(s, n)))
          })
          const ref = yield* GenServer.start(server)
          const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
          const expected: Array<number> = []
          let model = 1
          for (const op of ops) {
            if (op.kind === "cast") {
              yield* GenServer.cast(ref, op.n)
              model = step(model, op.n)
            } else {
              fibers.push(yield* Effect.fork(GenServer.call(ref, op.n)))
              yield* Effect.yieldNow()
              expected.push(model + op.n)
            }
          }
          const replies = yield* Effect.forEach(fibers, Fiber.join)
          expect(replies).toEqual(expected)
        })
      )
  )
})

describe("GenServer init", () => {
  it.effect("fails start with GenServerInitError when init throws, fails or rejects", () =>
    run(
      Effect.gen(function*() {
        const throwing = {
          ...counter,
          init: () => {
            throw new Error("bad config")
          }
        }
        const failing = { ...counter, init: () => Effect.fail("no database") }
        const rejecting = { ...counter, init: () => Promise.reject(new Error("rejected")) }
        const e1 = yield* Effect.flip(GenServer.start(throwing))
        const e2 = yield* Effect.flip(GenServer.start(failing))
        const e3 = yield* Effect.flip(GenServer.start(rejecting))
        expect(e1).toBeInstanceOf(GenServerInitError)
        expect(e1.message).toContain("bad config")
        expect(e2._tag).toBe("GenServerInitError")
        expect(e2.message).toContain("no database")
        expect(e3.message).toContain("rejected")
        expect(yield* GenServer.processCount).toBe(0)
      })
    ))

  it.effect("fails start with GenServerInitError when init runs past initTimeout (default 5 s)", () =>
    run(
      Effect.gen(function*() {
        const sleepy = { ...counter, init: () => Effect.as(Effect.sleep("1 hour"), 0) }
        const custom = yield* Effect.fork(Effect.flip(GenServer.start(sleepy, { initTimeout: 200, name: "sleepy" })))
        const byDefault = yield* Effect.fork(Effect.flip(GenServer.start(sleepy)))
        yield* TestClock.adjust(200)
        const e1 = yield* Fiber.join(custom)
        expect(e1._tag).toBe("GenServerInitError")
        expect(e1.message).toContain("200ms")
        expect(byDefault.unsafePoll()).toBeNull()
        yield* TestClock.adjust(4800)
        const e2 = yield* Fiber.join(byDefault)
        expect(e2.message).toContain("5000ms")
        // The name reserved for the failed start is free again.
        yield* GenServer.start(counter, { name: "sleepy" })
      })
    ))
})

describe("GenServer call errors", () => {
  it.effect("times out a call with RemoteCallTimeoutError naming the local node (default 5 s)", () =>
    run(
      Effect.gen(function*() {
        const rt = yield* GenServer.GenServerRuntime
        const stuck = GenServer.behavior({
          init: () => 0,
          handleCall: (_: "wait", s: number) => Effect.as(Effect.sleep("1 hour"), [s, s] as const),
          handleCast: (_: never, s: number) => s
        })
        const ref = yield* GenServer.start(stuck)
        const short = yield* Effect.fork(Effect.flip(GenServer.call(ref, "wait", { timeout: "250 millis" })))
        const byDefault = yield* Effect.fork(Effect.flip(GenServer.call(ref, "wait")))
        yield* TestClock.adjust(250)
        const e1 = yield* Fiber.join(short)
        expect(e1).toBeInstanceOf(RemoteCallTimeoutError)
        expect(e1).toMatchObject({ serverId: ref.id, nodeId: rt.nodeId, timeoutMs: 250 })
        yield* TestClock.adjust(4749)
        expect(byDefault.unsafePoll()).toBeNull()
        yield* TestClock.adjust(1)
        expect(yield* Fiber.join(byDefault)).toMatchObject({ _tag: "RemoteCallTimeoutError", timeoutMs: 5000 })
      })
    ))

  it.effect("drops a reply that arrives after the timeout and keeps serving", () =>
    run(
      Effect.gen(function*() {
        const slowOnce = GenServer.behavior({
          init: () => 0,
          handleCall: (msg: "slow" | "fast", s: number) =>
            msg === "slow" ? Effect.as(Effect.sleep("2 seconds"), ["slow", s + 1] as const) : (["fast", s] as const),
          handleCast: (_: never, s: number) => s
        })
        const ref = yield* GenServer.start(slowOnce)
        const late = yield* Effect.fork(GenServer.call(ref, "slow", { timeout: "1 second" }))
        yield* TestClock.adjust("1 second")
        expect(Exit.isFailure(yield* Fiber.await(late))).toBe(true)
        yield* TestClock.adjust("1 second")
        // The slow handler completed (its state change kept); its reply went nowhere.
        expect(yield* GenServer.call(ref, "fast")).toBe("fast")
      })
    ))

  it.effect("fails calls to unknown and stopped processes with RemoteServerNotRunningError", () =>
    run(
      Effect.gen(function*() {
        const rt = yield* GenServer.GenServerRuntime
        const unknown = yield* Effect.flip(GenServer.call({ id: "nope", nodeId: rt.nodeId }, "get"))
        expect(unknown).toBeInstanceOf(RemoteServerNotRunningError)
        expect(unknown).toMatchObject({ serverId: "nope", nodeId: rt.nodeId })
        const ref = yield* GenServer.start(counter)
        yield* GenServer.stop(ref)
        expect((yield* Effect.flip(GenServer.call(ref, "get")))._tag).toBe("RemoteServerNotRunningError")
        expect((yield* Effect.flip(GenServer.stop(ref)))._tag).toBe("RemoteServerNotRunningError")
      })
    ))

  it.effect("answers a throwing or failing handler with RemoteHandlerError and goes on serving", () =>
    run(
      Effect.gen(function*() {
        const ref = yield* GenServer.start(counter, { args: [7] })
        const thrown = yield* Effect.flip(GenServer.call(ref, "boom"))
        expect(thrown).toBeInstanceOf(RemoteHandlerError)
        expect(thrown).toMatchObject({ name: "RangeError", message: "counter exploded", serverId: ref.id })
        const failing = GenServer.behavior({
          init: () => 0,
          handleCall: (msg: "fail" | "die" | "reject" | "ok", s: number) =>
            msg === "fail"
              ? Effect.fail({ _tag: "OutOfStock", message: "no more" })
              : msg === "die"
              ? Effect.die(new TypeError("defect"))
              : msg === "reject"
              ? Promise.reject(new Error("rejected"))
              : (["ok", s] as const),
          handleCast: (_: "crash", _s: number): number => {
            throw new Error("cast crash")
          }
        })
        const f = yield* GenServer.start(failing)
        expect(yield* Effect.flip(GenServer.call(f, "fail"))).toMatchObject({ name: "OutOfStock", message: "no more" })
        expect(yield* Effect.flip(GenServer.call(f, "die"))).toMatchObject({ name: "TypeError", message: "defect" })
        expect(yield* Effect.flip(GenServer.call(f, "reject"))).toMatchObject({ name: "Error", message: "rejected" })
        yield* GenServer.cast(f, "crash")
        expect(yield* GenServer.call(f, "ok")).toBe("ok")
        expect(yield* GenServer.call(ref, "get")).toBe(7)
      })
    ))

  it.effect("fails a call to another node with NodeNotReachableError when not clustered", () =>
    run(
      Effect.gen(function*() {
        const other = NodeId.make("other", "127.0.0.1", 4370)
        const e = yield* Effect.flip(GenServer.call({ id: "x", nodeId: other }, "get"))
        expect(e).toBeInstanceOf(NodeNotReachableError)
        expect(e).toMatchObject({ nodeId: other })
        yield* GenServer.cast({ id: "x", nodeId: other }, "dropped")
      })
    ))
})

describe("GenServer names", () => {
  it.effect("registers names, rejects duplicates, resolves refs by name and releases the name on exit", () =>
    run(
      Effect.gen(function*() {
        const rt = yield* GenServer.GenServerRuntime
        const ref = yield* GenServer.start(counter, { name: "counter", args: [3] })
        const dup = yield* Effect.flip(GenServer.start(counter, { name: "counter" }))
        expect(dup).toBeInstanceOf(NameAlreadyRegisteredError)
        expect(dup.name).toBe("counter")
        const byName = { id: "counter", nodeId: rt.nodeId }
        yield* GenServer.cast(byName, "inc")
        expect(yield* GenServer.call(byName, "get")).toBe(4)
        expect(yield* GenServer.whereis("counter")).toEqual(Option.some(ref))
        yield* GenServer.stop(byName)
        expect(yield* GenServer.whereis("counter")).toEqual(Option.none())
        const again = yield* GenServer.start(counter, { name: "counter" })
        expect(again.id).not.toBe(ref.id)
      })
    ))
})
