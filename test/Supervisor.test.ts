import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Option, Schedule, TestClock } from "effect"
import { BehaviorRegistry, GenServer } from "../src/index.js"
import type { ExitReason, ServerRef } from "../src/index.js"
import * as Supervisor from "../src/Supervisor.js"
import { flush, simId } from "./support/sim.js"

/** A service a child's handlers need. */
class Greeting extends Context.Tag("test/Greeting")<Greeting, string>() {}

/** A worker that records its starts and stops in `log`; a "boom" call crashes it (`onError: "crash"`). */
const recorder = (log: Array<string>) =>
  GenServer.behavior({
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
    terminate: (reason: ExitReason, label: string) =>
      void log.push(`stop ${label}${typeof reason === "string" ? ` ${reason}` : " error"}`)
  })

/** Worker child specs, one per label (id = label). */
const workers = (log: Array<string>, labels: ReadonlyArray<string>, extra: Partial<Supervisor.ChildSpec> = {}) =>
  labels.map((label): Supervisor.ChildSpec => ({ id: label, start: recorder(log), args: [label], ...extra }))

/** The refs of a supervisor's children by id (`-` for none). */
const refs = (sup: ServerRef) =>
  Effect.map(
    Supervisor.whichChildren(sup),
    (children) =>
      Object.fromEntries(children.map((c) => [c.id, Option.match(c.ref, { onNone: () => "-", onSome: (r) => r.id })]))
  )

const statuses = (sup: ServerRef) =>
  Effect.map(Supervisor.whichChildren(sup), (children) => children.map((c) => `${c.id}:${c.status}`))

/** Crashes a child by its id, as a failing handler with `onError: "crash"` does. */
const crash = (sup: ServerRef, id: string) =>
  Effect.gen(function*() {
    const child = (yield* Supervisor.whichChildren(sup)).find((c) => c.id === id)!
    yield* Effect.flip(GenServer.call(Option.getOrThrow(child.ref), "boom"))
    yield* flush
  })

/** Runs a test on a standalone runtime (no cluster). */
const local = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, GenServer.layer)

describe("Supervisor: starting and stopping", () => {
  it.scoped("starts its children in order and stops them in reverse order when it stops", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({ strategy: "one_for_one", children: workers(log, ["a", "b", "c"]) })
      expect(log).toEqual(["start a", "start b", "start c"])
      expect(yield* GenServer.processCount).toBe(4)
      yield* GenServer.stop(sup)
      expect(log.slice(3)).toEqual(["stop c shutdown", "stop b shutdown", "stop a shutdown"])
      expect(yield* GenServer.processCount).toBe(0)
    })))

  it.scoped("a child that fails to start fails the start: those started are stopped in reverse, no process is left", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const failing = GenServer.behavior({
        init: (): number => {
          throw new Error("no database")
        },
        handleCall: (_: unknown, s: number) => [s, s] as const,
        handleCast: (_: unknown, s: number) => s
      })
      const error = yield* Effect.flip(Supervisor.start({
        strategy: "one_for_one",
        name: "app",
        children: [...workers(log, ["a", "b"]), { id: "db", start: failing }, ...workers(log, ["c"])]
      }))
      expect(error).toBeInstanceOf(Supervisor.SupervisorStartError)
      expect(error).toMatchObject({ _tag: "SupervisorStartError", childId: "db" })
      expect((error as Supervisor.SupervisorStartError).message).toContain("no database")
      expect(log).toEqual(["start a", "start b", "stop b shutdown", "stop a shutdown"])
      expect(yield* GenServer.processCount).toBe(0)
      expect(Option.isNone(yield* GenServer.whereis("app"))).toBe(true)
    })))

  it.scoped("rejects a spec that cannot start before anything starts: duplicate ids, a behavior value for another node", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const dup = yield* Effect.flip(
        Supervisor.start({ strategy: "one_for_one", children: workers(log, ["a", "a"]) })
      )
      expect(dup).toMatchObject({ _tag: "SupervisorStartError", childId: "a" })
      const remoteValue = yield* Effect.flip(Supervisor.start({
        strategy: "one_for_one",
        children: [{ id: "r", start: recorder(log), node: simId("b") }]
      }))
      expect(remoteValue).toMatchObject({ _tag: "SupervisorStartError", childId: "r" })
      expect(log).toEqual([])
      expect(yield* GenServer.processCount).toBe(0)
    })))

  it.scoped("a child on another node without a cluster fails to start with a typed error", () =>
    local(Effect.gen(function*() {
      const error = yield* Effect.flip(Supervisor.start({
        strategy: "one_for_one",
        children: [{ id: "far", start: "worker", node: simId("b") }]
      }))
      expect(error).toMatchObject({ _tag: "SupervisorStartError", childId: "far" })
      expect(error.message).toContain("not part of a cluster")
      expect(yield* GenServer.processCount).toBe(0)
    })))

  it.scoped("names: the supervisor and its children register the names they are given", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({
        strategy: "one_for_one",
        name: "top",
        children: [{ id: "a", start: recorder(log), args: ["a"], name: "worker-a" }]
      })
      expect(Option.getOrThrow(yield* GenServer.whereis("top"))).toEqual(sup)
      expect(yield* GenServer.call({ id: "worker-a", nodeId: sup.nodeId }, "get")).toBe("a")
      // Managed through its name too: a ref's id may be a registered name.
      expect((yield* Supervisor.countChildren({ id: "top", nodeId: sup.nodeId })).active).toBe(1)
    })))

  it.scoped("a child named by behavior is looked up in this node's BehaviorRegistry", () => {
    const log: Array<string> = []
    return Effect.gen(function*() {
      const sup = yield* Supervisor.start({
        strategy: "one_for_one",
        children: [{ id: "a", start: "recorder", args: ["a"] }]
      })
      expect(log).toEqual(["start a"])
      const missing = yield* Effect.flip(Supervisor.startChild(sup, { id: "b", start: "nope" }))
      expect(missing).toMatchObject({ _tag: "SupervisorStartError", childId: "b" })
      expect(missing.message).toContain("BehaviorNotFoundError")
    }).pipe(Effect.provide(Layer.merge(GenServer.layer, BehaviorRegistry.layer({ recorder: recorder(log) }))))
  })

  it.scoped("children get the services the supervisor was started with, after a restart too", () =>
    local(Effect.gen(function*() {
      const greeter = GenServer.behavior({
        init: () => null,
        handleCall: (msg: "hi" | "boom", s: null) =>
          msg === "boom" ? Effect.die(new Error("boom")) : Effect.map(Greeting, (g) => [g, s] as const),
        handleCast: (_: unknown, s: null) => s,
        onError: "crash" as const
      })
      const sup = yield* Supervisor.start({ strategy: "one_for_one", children: [{ id: "g", start: greeter }] }).pipe(
        Effect.provideService(Greeting, "hello")
      )
      const first = Option.getOrThrow((yield* Supervisor.whichChildren(sup))[0]!.ref)
      expect(yield* GenServer.call(first, "hi")).toBe("hello")
      yield* crash(sup, "g")
      const second = Option.getOrThrow((yield* Supervisor.whichChildren(sup))[0]!.ref)
      expect(second.id).not.toBe(first.id)
      expect(yield* GenServer.call(second, "hi")).toBe("hello")
    })))

  it.scoped("a start given up while a child is in its init leaves no process", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const slow = GenServer.behavior({
        ...recorder(log),
        init: (label: string) => Effect.as(Effect.sleep("1 second"), label)
      })
      const starting = yield* Effect.fork(Supervisor.start({
        strategy: "one_for_one",
        children: [...workers(log, ["a"]), { id: "slow", start: slow, args: ["slow"] }]
      }))
      yield* flush
      yield* Fiber.interruptFork(starting)
      yield* TestClock.adjust("1 second")
      yield* flush
      expect(Exit.isInterrupted(yield* Fiber.await(starting))).toBe(true)
      expect(log).toEqual(["start a", "stop slow shutdown", "stop a shutdown"])
      expect(yield* GenServer.processCount).toBe(0)
    })))

  it.scoped("a child that overruns its shutdown is left to finish; the supervisor's stop goes on", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const slow = GenServer.behavior({
        ...recorder(log),
        terminate: (_: ExitReason, label: string) =>
          Effect.sleep("10 seconds").pipe(Effect.zipRight(Effect.sync(() => void log.push(`stop ${label} late`))))
      })
      const sup = yield* Supervisor.start({
        strategy: "one_for_one",
        children: [...workers(log, ["a"]), { id: "slow", start: slow, args: ["slow"], shutdown: "1 second" }]
      })
      const stopping = yield* Effect.fork(GenServer.stop(sup))
      yield* flush
      yield* TestClock.adjust("999 millis")
      expect(Option.isNone(yield* Fiber.poll(stopping))).toBe(true)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(stopping)
      // Stopped in reverse order: `a` after `slow`'s bound ran out; `slow` still in its terminate.
      expect(log.slice(2)).toEqual(["stop a shutdown"])
      yield* TestClock.adjust("9 seconds")
      yield* flush
      expect(log.slice(2)).toEqual(["stop a shutdown", "stop slow late"])
      expect(yield* GenServer.processCount).toBe(0)
    })))
})

describe("Supervisor: strategies", () => {
  it.scoped("one_for_one restarts only the child that crashed", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({ strategy: "one_for_one", children: workers(log, ["a", "b", "c"]) })
      const before = yield* refs(sup)
      yield* crash(sup, "b")
      const after = yield* refs(sup)
      expect(after.a).toBe(before.a)
      expect(after.b).not.toBe(before.b)
      expect(after.c).toBe(before.c)
      expect(log.slice(3)).toEqual(["stop b error", "start b"])
      expect(yield* statuses(sup)).toEqual(["a:running", "b:running", "c:running"])
    })))

  it.scoped("one_for_all stops the others in reverse order and starts all again in order", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({ strategy: "one_for_all", children: workers(log, ["a", "b", "c"]) })
      const before = yield* refs(sup)
      yield* crash(sup, "b")
      const after = yield* refs(sup)
      for (const id of ["a", "b", "c"]) expect(after[id]).not.toBe(before[id])
      expect(log.slice(3)).toEqual([
        "stop b error",
        "stop c shutdown",
        "stop a shutdown",
        "start a",
        "start b",
        "start c"
      ])
    })))

  it.scoped("rest_for_one restarts the crashed child and those started after it", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({ strategy: "rest_for_one", children: workers(log, ["a", "b", "c", "d"]) })
      const before = yield* refs(sup)
      yield* crash(sup, "b")
      const after = yield* refs(sup)
      expect(after.a).toBe(before.a)
      for (const id of ["b", "c", "d"]) expect(after[id]).not.toBe(before[id])
      expect(log.slice(4)).toEqual([
        "stop b error",
        "stop d shutdown",
        "stop c shutdown",
        "start b",
        "start c",
        "start d"
      ])
    })))

  it.scoped("permanent is always restarted, transient only after an abnormal exit, temporary never", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({
        strategy: "one_for_one",
        maxRestarts: 10,
        children: [
          ...workers(log, ["p"]),
          ...workers(log, ["t1", "t2"], { restart: "transient" }),
          ...workers(log, ["x"], { restart: "temporary" })
        ]
      })
      const before = yield* refs(sup)
      const refOf = (id: string): ServerRef => ({ id: before[id]!, nodeId: sup.nodeId })
      yield* GenServer.stop(refOf("p"))
      yield* GenServer.stop(refOf("t1"))
      yield* GenServer.stop(refOf("t2"), { error: new Error("boom") })
      yield* GenServer.stop(refOf("x"), { error: new Error("boom") })
      yield* flush
      const after = yield* refs(sup)
      expect(after.p).not.toBe(before.p)
      expect(after.t1).toBe("-")
      expect(after.t2).not.toBe(before.t2)
      expect(after.x).toBeUndefined()
      expect(yield* statuses(sup)).toEqual(["p:running", "t1:stopped", "t2:running"])
      // A normal exit of a transient child keeps its spec; a temporary one's is gone.
      expect(yield* Supervisor.countChildren(sup)).toEqual({ specs: 3, active: 2, supervisors: 0, workers: 3 })
    })))
})

describe("Supervisor: restart intensity", () => {
  it.scoped("more than maxRestarts restarts within period: it stops its children and exits with the reason", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({
        strategy: "one_for_one",
        maxRestarts: 2,
        children: workers(log, ["a", "b"])
      })
      const watch = yield* GenServer.monitor(sup)
      yield* crash(sup, "a")
      yield* crash(sup, "a")
      expect(yield* statuses(sup)).toEqual(["a:running", "b:running"])
      yield* crash(sup, "a")
      const down = yield* watch.down
      expect(down.reason).toMatchObject({ error: { name: "MaxRestartIntensityError" } })
      expect((down.reason as { error: { message: string } }).error.message).toContain("more than 2 restarts")
      expect(log.slice(-2)).toEqual(["stop a error", "stop b shutdown"])
      expect(yield* GenServer.processCount).toBe(0)
    })))

  it.scoped("the window slides with the clock: restarts older than period no longer count", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({
        strategy: "one_for_one",
        maxRestarts: 2,
        period: "10 seconds",
        children: workers(log, ["a"])
      })
      const watch = yield* GenServer.monitor(sup)
      yield* crash(sup, "a")
      yield* crash(sup, "a")
      yield* TestClock.adjust("10001 millis")
      yield* crash(sup, "a")
      yield* crash(sup, "a")
      expect(yield* statuses(sup)).toEqual(["a:running"])
      yield* TestClock.adjust("5 seconds")
      yield* crash(sup, "a")
      expect((yield* watch.down).reason).toMatchObject({ error: { name: "MaxRestartIntensityError" } })
    })))

  it.scoped("a parent supervisor restarts a nested supervisor that reached its intensity", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const top = yield* Supervisor.start({
        strategy: "one_for_one",
        children: [
          ...workers(log, ["a"]),
          Supervisor.child("inner", { strategy: "one_for_one", maxRestarts: 0, children: workers(log, ["w"]) })
        ]
      })
      expect(log).toEqual(["start a", "start w"])
      const children = yield* Supervisor.whichChildren(top)
      expect(children.map((c) => `${c.id}:${c.type}`)).toEqual(["a:worker", "inner:supervisor"])
      const inner = Option.getOrThrow(children[1]!.ref)
      const watch = yield* GenServer.monitor(inner)
      yield* crash(inner, "w")
      expect((yield* watch.down).reason).toMatchObject({ error: { name: "MaxRestartIntensityError" } })
      yield* flush
      const newInner = Option.getOrThrow((yield* Supervisor.whichChildren(top))[1]!.ref)
      expect(newInner.id).not.toBe(inner.id)
      expect(yield* statuses(newInner)).toEqual(["w:running"])
      expect(log.slice(2)).toEqual(["stop w error", "start w"])
      expect(yield* GenServer.processCount).toBe(4)
      // Stopping the top stops the tree, depth first and in reverse order.
      yield* GenServer.stop(top)
      expect(log.slice(4)).toEqual(["stop w shutdown", "stop a shutdown"])
      expect(yield* GenServer.processCount).toBe(0)
    })))

  it.scoped("a nested supervisor exits when an exit signal comes from its parent", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const top = yield* Supervisor.start({
        strategy: "one_for_one",
        children: [Supervisor.child("inner", { strategy: "one_for_one", children: workers(log, ["w"]) })]
      })
      const inner = Option.getOrThrow((yield* Supervisor.whichChildren(top))[0]!.ref)
      const watch = yield* GenServer.monitor(inner)
      // What a parent that died without its terminate would send along the link.
      yield* GenServer.send(inner, {
        _tag: "Exit",
        from: top,
        reason: { error: { name: "Error", message: "parent gone" } }
      })
      expect((yield* watch.down).reason).toEqual({ error: { name: "Error", message: "parent gone" } })
      expect(log).toEqual(["start w", "stop w shutdown"])
    })))
})

describe("Supervisor: backoff", () => {
  it.scoped("delays a restart by the schedule: restarting until the delay passes, running after", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({
        strategy: "one_for_one",
        maxRestarts: 10,
        period: "5 seconds",
        backoff: Schedule.exponential("1 second"),
        children: workers(log, ["a"])
      })
      const waits = Effect.fnUntraced(function*(ms: number) {
        yield* crash(sup, "a")
        expect(yield* statuses(sup)).toEqual(["a:restarting"])
        expect((yield* refs(sup)).a).toBe("-")
        yield* TestClock.adjust(ms - 1)
        yield* flush
        expect(yield* statuses(sup)).toEqual(["a:restarting"])
        yield* TestClock.adjust(1)
        yield* flush
        expect(yield* statuses(sup)).toEqual(["a:running"])
      })
      yield* waits(1000)
      yield* waits(2000)
      // Up for a whole period: the schedule starts over.
      yield* TestClock.adjust("5 seconds")
      yield* waits(1000)
      expect(log.filter((l) => l === "start a")).toHaveLength(4)
    })))

  it.scoped("a schedule that ends takes the supervisor down", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({
        strategy: "one_for_one",
        maxRestarts: 10,
        backoff: Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(1))),
        children: workers(log, ["a"])
      })
      const watch = yield* GenServer.monitor(sup)
      yield* crash(sup, "a")
      yield* TestClock.adjust("100 millis")
      yield* flush
      expect(yield* statuses(sup)).toEqual(["a:running"])
      yield* crash(sup, "a")
      yield* flush
      expect((yield* watch.down).reason).toMatchObject({ error: { name: "BackoffExhaustedError" } })
    })))

  it.scoped("one_for_all with backoff: the others stop at once, all start after the delay", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({
        strategy: "one_for_all",
        backoff: Schedule.spaced("1 second"),
        children: workers(log, ["a", "b"])
      })
      yield* crash(sup, "a")
      expect(yield* statuses(sup)).toEqual(["a:restarting", "b:restarting"])
      expect(log.slice(2)).toEqual(["stop a error", "stop b shutdown"])
      yield* TestClock.adjust("1 second")
      yield* flush
      expect(yield* statuses(sup)).toEqual(["a:running", "b:running"])
      expect(log.slice(4)).toEqual(["start a", "start b"])
    })))

  it.scoped("terminating the child a delayed restart waits for does not strand the others waiting with it", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({
        strategy: "one_for_all",
        backoff: Schedule.spaced("1 second"),
        children: workers(log, ["a", "b"])
      })
      yield* crash(sup, "a")
      yield* Supervisor.terminateChild(sup, "a")
      expect(yield* statuses(sup)).toEqual(["a:stopped", "b:restarting"])
      yield* TestClock.adjust("1 second")
      yield* flush
      expect(yield* statuses(sup)).toEqual(["a:stopped", "b:running"])
      expect(log.slice(4)).toEqual(["start b"])
    })))
})

describe("Supervisor: management", () => {
  it.scoped("startChild, terminateChild, restartChild, deleteChild, whichChildren, countChildren", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({ strategy: "one_for_one" })
      expect(yield* Supervisor.whichChildren(sup)).toEqual([])
      const a = yield* Supervisor.startChild(sup, { id: "a", start: recorder(log), args: ["a"] })
      expect(yield* GenServer.call(a, "get")).toBe("a")
      const twice = yield* Effect.flip(Supervisor.startChild(sup, { id: "a", start: recorder(log), args: ["a"] }))
      expect(twice).toBeInstanceOf(Supervisor.ChildAlreadyExistsError)
      expect(yield* Supervisor.whichChildren(sup)).toEqual([
        { id: "a", ref: Option.some(a), restart: "permanent", status: "running", type: "worker" }
      ])
      expect(yield* Supervisor.countChildren(sup)).toEqual({ specs: 1, active: 1, supervisors: 0, workers: 1 })

      yield* Supervisor.terminateChild(sup, "a")
      yield* flush
      expect(log).toEqual(["start a", "stop a shutdown"])
      expect(yield* statuses(sup)).toEqual(["a:stopped"])
      expect(yield* Supervisor.countChildren(sup)).toEqual({ specs: 1, active: 0, supervisors: 0, workers: 1 })
      expect(yield* GenServer.processCount).toBe(1)

      const again = yield* Supervisor.restartChild(sup, "a")
      expect(again.id).not.toBe(a.id)
      expect(yield* Effect.flip(Supervisor.restartChild(sup, "a"))).toMatchObject({
        _tag: "ChildRunningError",
        status: "running"
      })
      expect(yield* Effect.flip(Supervisor.deleteChild(sup, "a"))).toBeInstanceOf(Supervisor.ChildRunningError)
      yield* Supervisor.terminateChild(sup, "a")
      yield* Supervisor.deleteChild(sup, "a")
      expect(yield* Supervisor.whichChildren(sup)).toEqual([])

      const calls: ReadonlyArray<Effect.Effect<unknown, { readonly _tag: string }, GenServer.GenServerRuntime>> = [
        Supervisor.terminateChild(sup, "a"),
        Supervisor.restartChild(sup, "a"),
        Supervisor.deleteChild(sup, "a")
      ]
      for (const missing of calls) {
        expect(yield* Effect.flip(missing)).toMatchObject({ _tag: "ChildNotFoundError", id: "a" })
      }
      // A temporary child's spec goes with it.
      yield* Supervisor.startChild(sup, { id: "t", start: recorder(log), args: ["t"], restart: "temporary" })
      yield* Supervisor.terminateChild(sup, "t")
      expect(yield* Supervisor.whichChildren(sup)).toEqual([])
    })))

  it.scoped("startChild of a child whose init fails: a SupervisorStartError, and no spec kept", () =>
    local(Effect.gen(function*() {
      const sup = yield* Supervisor.start({ strategy: "one_for_one" })
      const failing = GenServer.behavior({
        init: (): number => {
          throw new Error("cannot")
        },
        handleCall: (_: unknown, s: number) => [s, s] as const,
        handleCast: (_: unknown, s: number) => s
      })
      const error = yield* Effect.flip(Supervisor.startChild(sup, { id: "f", start: failing }))
      expect(error).toMatchObject({ _tag: "SupervisorStartError", childId: "f" })
      expect(yield* Supervisor.whichChildren(sup)).toEqual([])
      expect(yield* GenServer.processCount).toBe(1)
    })))

  it.scoped("a terminated permanent child is not restarted; an exit from a process that is not a child is ignored", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({ strategy: "one_for_all", children: workers(log, ["a", "b"]) })
      yield* Supervisor.terminateChild(sup, "a")
      yield* flush
      expect(yield* statuses(sup)).toEqual(["a:stopped", "b:running"])
      // one_for_all leaves a terminated child stopped when another crashes.
      yield* crash(sup, "b")
      expect(yield* statuses(sup)).toEqual(["a:stopped", "b:running"])
      const stranger = yield* GenServer.start(recorder(log), { args: ["s"], link: sup })
      yield* GenServer.stop(stranger, { error: new Error("not yours") })
      yield* flush
      expect(yield* statuses(sup)).toEqual(["a:stopped", "b:running"])
      expect(log.filter((l) => l.startsWith("start b"))).toHaveLength(2)
    })))

  it.scoped("a supervisor stopped while a delayed restart waits: the timer goes with it", () =>
    local(Effect.gen(function*() {
      const log: Array<string> = []
      const sup = yield* Supervisor.start({
        strategy: "one_for_one",
        backoff: Schedule.spaced("1 second"),
        children: workers(log, ["a", "b"])
      })
      yield* crash(sup, "a")
      yield* GenServer.stop(sup)
      yield* TestClock.adjust("2 seconds")
      yield* flush
      expect(log).toEqual(["start a", "start b", "stop a error", "stop b shutdown"])
      expect(yield* GenServer.processCount).toBe(0)
    })))
})
