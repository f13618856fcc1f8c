import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Option, Scope, Stream } from "effect"
import { internalsOf } from "../src/cluster/internal/node.js"
import { BehaviorRegistry, GenServer, RemoteSpawn } from "../src/index.js"
import type { Down, MemoryNetwork, ServerRef } from "../src/index.js"
import { MemoryNetwork as Net } from "../src/index.js"
import type { Monitor } from "../src/Monitor.js"
import { flush, settle, simId, startNode } from "./support/sim.js"

const worker = GenServer.behavior({
  init: () => 0,
  handleCall: (msg: "get" | "boom" | "stopping", n: number) => {
    if (msg === "boom") throw new RangeError("exploded")
    return [n, n] as const
  },
  handleCast: (_: unknown, n: number) => n
})

/** A process that monitors what it is cast, and answers with the Downs its handleInfo saw. */
const watcher = GenServer.behavior({
  init: () => [] as Array<Down>,
  handleCall: (msg: { watch: ServerRef; self: ServerRef } | "downs", seen: Array<Down>) =>
    msg === "downs"
      ? [seen, seen] as const
      : Effect.as(GenServer.monitor(msg.self, msg.watch), [null, seen] as const),
  handleCast: (_: unknown, seen: Array<Down>) => seen,
  handleInfo: (msg: unknown, seen: Array<Down>) => (GenServer.isDown(msg) ? [...seen, msg] : seen)
})

const registry = BehaviorRegistry.layer({ worker, watcher })

const pair = (net: MemoryNetwork) =>
  Effect.gen(function*() {
    const a = yield* startNode(net, "a", { registry })
    const b = yield* startNode(net, "b", { registry, seeds: [simId("a")] })
    yield* settle(200)
    return { a, b }
  })

/** A monitor's Down if it came by now. */
const polled = (down: Effect.Effect<Down>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(down)
    yield* flush
    const exit = yield* Fiber.poll(fiber)
    yield* Fiber.interrupt(fiber)
    return Option.flatMap(exit, (e) => (Exit.isSuccess(e) ? Option.some(e.value) : Option.none()))
  })

const reasonOf = (d: Down) => d.reason

describe("GenServer.monitor (local)", () => {
  it.scoped("a Down per exit reason: normal, shutdown, error, conflict", () =>
    Effect.gen(function*() {
      const reasons = [
        "normal",
        "shutdown",
        { error: new RangeError("disk full") },
        { conflict: "leader" }
      ] as const
      const downs = yield* Effect.forEach(reasons, (reason) =>
        Effect.gen(function*() {
          const ref = yield* GenServer.start(worker)
          const m = yield* GenServer.monitor(ref)
          yield* GenServer.stop(ref, reason)
          return yield* m.down
        }))
      expect(downs.map(reasonOf)).toEqual([
        "normal",
        "shutdown",
        { error: { name: "RangeError", message: "disk full" } },
        { conflict: "leader" }
      ])
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("noproc at once for a ref that is not alive: unknown, stopped, of another incarnation", () =>
    Effect.gen(function*() {
      const ref = yield* GenServer.start(worker)
      yield* GenServer.stop(ref)
      const refs = [{ ...ref, id: "nope" }, ref, { ...ref, id: `x${ref.id}` }]
      for (const r of refs) {
        const m = yield* GenServer.monitor(r)
        expect(Option.map(yield* polled(m.down), reasonOf)).toEqual(Option.some("noproc"))
      }
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("no Down after demonitor, nor after the monitor's scope closed", () =>
    Effect.gen(function*() {
      const ref = yield* GenServer.start(worker)
      const m = yield* GenServer.monitor(ref)
      yield* GenServer.demonitor(m)
      const scope = yield* Scope.make()
      const scoped = yield* Scope.extend(GenServer.monitor(ref), scope)
      yield* Scope.close(scope, Exit.void)
      const kept = yield* GenServer.monitor(ref)
      yield* GenServer.stop(ref)
      expect(Option.isSome(yield* polled(kept.down))).toBe(true)
      expect(yield* polled(m.down)).toEqual(Option.none())
      expect(yield* polled(scoped.down)).toEqual(Option.none())
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("a process that monitors gets the Down in handleInfo; its monitors end with it", () =>
    Effect.gen(function*() {
      const target = yield* GenServer.start(worker)
      const self = yield* GenServer.start(watcher)
      yield* GenServer.call(self, { watch: target, self })
      yield* GenServer.stop(target, { error: new Error("bad") })
      const downs = yield* GenServer.call<Array<Down>>(self, "downs")
      expect(downs.map((d) => [d.ref, d.reason])).toEqual([[target, { error: { name: "Error", message: "bad" } }]])
      // An owner that exits takes its monitors along: the target's exit tells no one.
      const other = yield* GenServer.start(worker)
      yield* GenServer.call(self, { watch: other, self })
      yield* GenServer.stop(self)
      const after = yield* GenServer.monitor(other)
      yield* GenServer.stop(other)
      expect(Option.isSome(yield* polled(after.down))).toBe(true)
      const owner = yield* Effect.flip(GenServer.monitor(self, other))
      expect(owner._tag).toBe("RemoteServerNotRunningError")
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("GenServer.self is the handler's own ref inside its Effect, None outside", () =>
    Effect.gen(function*() {
      const selfish = GenServer.behavior({
        init: () => [] as Array<Down>,
        handleCall: (msg: { watch: ServerRef } | "downs", seen: Array<Down>) =>
          msg === "downs"
            ? [seen as unknown, seen] as const
            : Effect.gen(function*() {
              const me = Option.getOrThrow(yield* GenServer.self)
              yield* GenServer.monitor(me, msg.watch)
              return [me as unknown, seen] as const
            }),
        handleCast: (_: unknown, seen: Array<Down>) => seen,
        handleInfo: (msg: unknown, seen: Array<Down>) => (GenServer.isDown(msg) ? [...seen, msg] : seen)
      })
      expect(yield* GenServer.self).toEqual(Option.none())
      const ref = yield* GenServer.start(selfish)
      const target = yield* GenServer.start(worker)
      expect(yield* GenServer.call(ref, { watch: target })).toEqual(ref)
      yield* GenServer.stop(target)
      expect((yield* GenServer.call<Array<Down>>(ref, "downs")).map((d) => d.reason)).toEqual(["normal"])
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("a Down reaches a process whose mailbox is full; a demonitor withdraws one already queued", () =>
    Effect.gen(function*() {
      type S = { readonly seen: Array<unknown>; readonly monitor?: Monitor }
      const owner = GenServer.behavior({
        init: (): S => ({ seen: [] }),
        handleCall: (
          msg:
            | { readonly watch: ServerRef }
            | { readonly gate: Deferred.Deferred<void>; readonly drop: boolean }
            | "seen",
          s: S
        ) =>
          Effect.gen(function*() {
            if (msg === "seen") return [s.seen as unknown, s] as const
            if ("watch" in msg) {
              const monitor = yield* GenServer.monitor(Option.getOrThrow(yield* GenServer.self), msg.watch)
              return [null, { ...s, monitor }] as const
            }
            yield* Deferred.await(msg.gate)
            if (msg.drop && s.monitor !== undefined) yield* GenServer.demonitor(s.monitor)
            return [null, s] as const
          }),
        handleCast: (_: unknown, s: S) => s,
        handleInfo: (msg: unknown, s: S): S => ({ ...s, seen: [...s.seen, msg] })
      })
      const a = yield* startNode(yield* Net.make, "a", { mailboxLimit: 3 })
      for (const drop of [false, true]) {
        yield* a.run(Effect.gen(function*() {
          const target = yield* GenServer.start(worker)
          const self = yield* GenServer.start(owner)
          yield* GenServer.call(self, { watch: target })
          const gate = yield* Deferred.make<void>()
          yield* Effect.fork(GenServer.call(self, { gate, drop }))
          yield* flush
          // The mailbox is at its limit (3) when the Down comes.
          for (let i = 0; i < 3; i++) yield* GenServer.cast(self, "filler")
          yield* GenServer.stop(target)
          yield* Deferred.succeed(gate, undefined)
          yield* flush
          const seen = yield* GenServer.call<Array<unknown>>(self, "seen")
          expect(seen.filter(GenServer.isDown).length).toBe(drop ? 0 : 1)
          expect(internalsOf(a.cluster).table.monitors.size).toBe(0)
        }))
      }
    }))

  it.scoped("an info message to a behavior without handleInfo is dropped; the process goes on", () =>
    Effect.gen(function*() {
      const ref = yield* GenServer.start(worker)
      yield* GenServer.send(ref, { hello: 1 })
      expect(yield* GenServer.call(ref, "get")).toBe(0)
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("monitorAll streams each Down once, in the order they happen, and ends", () =>
    Effect.gen(function*() {
      const refs = yield* Effect.forEach([1, 2, 3], () => GenServer.start(worker))
      const collected = yield* Effect.fork(
        Stream.runCollect(GenServer.monitorAll([...refs, { ...refs[0]!, id: "gone" }]))
      )
      yield* flush
      yield* GenServer.stop(refs[2]!)
      yield* GenServer.stop(refs[0]!, "shutdown")
      yield* GenServer.stop(refs[1]!)
      const downs = Chunk.toArray(yield* Fiber.join(collected))
      expect(downs.map((d) => [d.ref.id, d.reason])).toEqual([
        ["gone", "noproc"],
        [refs[2]!.id, "normal"],
        [refs[0]!.id, "shutdown"],
        [refs[1]!.id, "normal"]
      ])
    }).pipe(Effect.provide(GenServer.layer)))
})

describe("GenServer.monitor (simulated cluster)", () => {
  it.scoped("a remote process's exit reaches its monitor with its reason; the tables empty after", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const { nodeId, serverId } = yield* a.run(RemoteSpawn.spawn("worker", b.id))
      const ref = { id: serverId, nodeId }
      const m = yield* a.run(GenServer.monitor(ref))
      yield* settle(50)
      expect(internalsOf(b.cluster).signals.size.held).toBe(1)
      yield* a.run(GenServer.stop(ref, { error: new TypeError("no") }))
      const d = yield* m.down
      expect(d).toMatchObject({ _tag: "Down", ref, reason: { error: { name: "TypeError", message: "no" } } })
      expect(internalsOf(a.cluster).signals.size).toEqual({ held: 0, watching: 0 })
      expect(internalsOf(b.cluster).signals.size).toEqual({ held: 0, watching: 0 })
      expect(internalsOf(a.cluster).table.monitors.size).toBe(0)
    }))

  it.scoped("noproc for a remote ref that is not alive, and for one of a previous incarnation", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const { a, b } = yield* pair(net)
      const { serverId } = yield* a.run(RemoteSpawn.spawn("worker", b.id))
      const missing = yield* a.run(GenServer.monitor({ id: "nope", nodeId: b.id }))
      yield* settle(20)
      expect(reasonOf(yield* missing.down)).toBe("noproc")
      yield* b.stop
      const b2 = yield* startNode(net, "b", { registry, seeds: [simId("a")] })
      yield* settle(300)
      const stale = yield* a.run(GenServer.monitor({ id: serverId, nodeId: b2.id }))
      yield* settle(20)
      expect(reasonOf(yield* stale.down)).toBe("noproc")
    }))

  it.scoped("noconnection at once for a node that is not connected", () =>
    Effect.gen(function*() {
      const { a } = yield* pair(yield* Net.make)
      const m = yield* a.run(GenServer.monitor({ id: "x", nodeId: simId("zed") }))
      expect(Option.map(yield* polled(m.down), reasonOf)).toEqual(Option.some("noconnection"))
    }))

  it.scoped("a partition fires noconnection on both sides; the heal does not resurrect the monitors", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const { a, b } = yield* pair(net)
      const onB = yield* a.run(RemoteSpawn.spawn("worker", b.id))
      const onA = yield* b.run(RemoteSpawn.spawn("worker", a.id))
      const refB = { id: onB.serverId, nodeId: b.id }
      const refA = { id: onA.serverId, nodeId: a.id }
      const fromA = yield* a.run(GenServer.monitor(refB))
      const fromB = yield* b.run(GenServer.monitor(refA))
      yield* settle(50)
      yield* net.partition([a.id], [b.id])
      yield* settle(7000, 50)
      expect(reasonOf(yield* fromA.down)).toBe("noconnection")
      expect(reasonOf(yield* fromB.down)).toBe("noconnection")
      yield* net.heal
      yield* settle(3000)
      expect(yield* a.cluster.isNodeConnected(b.id)).toBe(true)
      for (const node of [a, b]) {
        expect(internalsOf(node.cluster).signals.size).toEqual({ held: 0, watching: 0 })
        expect(internalsOf(node.cluster).table.monitors.size).toBe(0)
      }
      // The processes lived on: a new monitor sees their real exit.
      const again = yield* a.run(GenServer.monitor(refB))
      yield* settle(20)
      yield* a.run(GenServer.stop(refB))
      expect(reasonOf(yield* again.down)).toBe("normal")
    }))

  it.scoped("no Down after a remote demonitor, even when the exit races it", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const { serverId } = yield* a.run(RemoteSpawn.spawn("worker", b.id))
      const ref = { id: serverId, nodeId: b.id }
      const early = yield* a.run(GenServer.monitor(ref))
      yield* a.run(GenServer.demonitor(early))
      const racing = yield* a.run(GenServer.monitor(ref))
      yield* settle(20)
      // The Down is on its way when the demonitor is made: it must be dropped on arrival.
      yield* b.run(GenServer.stop(ref))
      yield* a.run(GenServer.demonitor(racing))
      yield* settle(50)
      expect(yield* polled(early.down)).toEqual(Option.none())
      expect(yield* polled(racing.down)).toEqual(Option.none())
      expect(internalsOf(b.cluster).signals.size.held).toBe(0)
    }))

  it.scoped("a process on A monitoring one on B gets the Down in handleInfo; send reaches handleInfo across nodes", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const target = yield* a.run(RemoteSpawn.spawn("worker", b.id))
      const targetRef = { id: target.serverId, nodeId: b.id }
      // Spawned by name: a registered behavior keeps its handleInfo.
      const spawned = yield* b.run(RemoteSpawn.spawn("watcher", a.id))
      const self = { id: spawned.serverId, nodeId: spawned.nodeId }
      yield* a.run(GenServer.call(self, { watch: targetRef, self }))
      yield* settle(20)
      yield* b.run(GenServer.stop(targetRef, "shutdown"))
      yield* settle(20)
      const downs = yield* a.run(GenServer.call<Array<Down>>(self, "downs"))
      expect(downs.map((d) => d.reason)).toEqual(["shutdown"])
      // A Down someone sends by hand is just an info message: handled the same way.
      const forged = { _tag: "Down", monitorId: 0, ref: targetRef, reason: "normal" } as const
      yield* b.run(GenServer.send(self, forged))
      yield* settle(20)
      expect((yield* a.run(GenServer.call<Array<Down>>(self, "downs"))).length).toBe(2)
    }))

  it.scoped("10,000 monitors of one remote process all fire once; both tables are empty after", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair(yield* Net.make)
      const { serverId } = yield* a.run(RemoteSpawn.spawn("worker", b.id))
      const ref = { id: serverId, nodeId: b.id }
      let fired = 0
      const rt = Effect.runSync(a.run(GenServer.GenServerRuntime))
      for (let i = 0; i < 10_000; i++) rt.watch(ref, () => void fired++)
      yield* settle(50)
      expect(internalsOf(b.cluster).signals.size.held).toBe(10_000)
      yield* a.run(GenServer.stop(ref))
      yield* settle(50)
      expect(fired).toBe(10_000)
      expect(internalsOf(a.cluster).signals.size).toEqual({ held: 0, watching: 0 })
      expect(internalsOf(b.cluster).signals.size).toEqual({ held: 0, watching: 0 })
      expect(internalsOf(a.cluster).table.monitors.size).toBe(0)
      expect(internalsOf(b.cluster).table.monitors.size).toBe(0)
    }))
})
