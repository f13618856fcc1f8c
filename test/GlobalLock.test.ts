/**
 * `GlobalRegistry.registerOrWhereis`: the cluster lock that lets exactly one contender
 * start a singleton while every contender sees the same members, on simulated nodes driven
 * by `TestClock` (src/cluster/internal/globalLock.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { Data, Deferred, Effect, Exit, Fiber, Option, Stream } from "effect"
import { LOCK_LEASE_MS, LOCK_PROCESS } from "../src/cluster/internal/globalLock.js"
import { GenServer, GlobalRegistry, MemoryNetwork, RemoteSpawn } from "../src/index.js"
import type { Cluster, RegistryEvent, ServerRef } from "../src/index.js"
import { stopSystem } from "../src/internal/runtime.js"
import { captureLogs } from "./support/logs.js"
import { flush, settle, simId, startNode } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

const singleton = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", n: number) => [n, n] as const,
  handleCast: (_: unknown, n: number) => n
})

const NAME = "cluster:singleton"

/** Nodes a, b, c, ... joined in a full mesh: `a` has the lowest NodeId, so it is the arbiter. */
const mesh = (net: MemoryNetwork, count: number) =>
  Effect.gen(function*() {
    const names = Array.from({ length: count }, (_, i) => String.fromCharCode(97 + i))
    const nodes: Array<SimNode> = []
    for (const name of names) {
      nodes.push(
        yield* startNode(net, name, { behaviors: { singleton }, seeds: nodes.length === 0 ? [] : [simId("a")] })
      )
    }
    yield* settle(300)
    return nodes
  })

class StartFailed extends Data.TaggedError("StartFailed")<{ readonly node: string }> {}

/** Counts the `start`s that ran and where; each starts the singleton on its own node, after `delay` if given. */
const starter = () => {
  const started: Array<string> = []
  const start = (node: SimNode, options: { readonly delay?: number; readonly fail?: boolean } = {}) =>
    Effect.gen(function*() {
      started.push(node.id)
      if (options.delay !== undefined) yield* Effect.sleep(options.delay)
      if (options.fail === true) return yield* new StartFailed({ node: node.id })
      return yield* GenServer.start(singleton)
    })
  return { started, start }
}

/** `registerOrWhereis` on `node`, forked. */
const contend = <E>(node: SimNode, start: Effect.Effect<ServerRef, E, Cluster.ClusterServices>, name = NAME) =>
  Effect.fork(node.run(GlobalRegistry.registerOrWhereis(name, start)))

/** User processes alive on `nodes` (the runtime's own are not counted). */
const alive = (nodes: ReadonlyArray<SimNode>) =>
  Effect.map(Effect.forEach(nodes, (n) => n.run(GenServer.processCount)), (counts) => counts.reduce((a, b) => a + b, 0))

const where = (node: SimNode, name = NAME) => node.run(GlobalRegistry.whereis(name))

/** Stops `node`'s own lock process (the runtime's stop: a user's or a peer's is refused), so the test speaks for it. */
const stopLock = (node: SimNode) =>
  node.run(
    Effect.flatMap(
      GenServer.GenServerRuntime,
      (rt) => stopSystem(rt, { id: LOCK_PROCESS, nodeId: node.id }, "shutdown")
    )
  )

/** `from`'s lock process tells `to`'s, as a peer's would. */
const lockSay = (from: SimNode, to: SimNode, msg: object) =>
  from.run(GenServer.send({ id: LOCK_PROCESS, nodeId: to.id }, msg))

/** A singleton whose `init` takes longer than the lock's lease. */
const slowInitMs = 3 * LOCK_LEASE_MS
const slow = GenServer.behavior({
  init: () => Effect.as(Effect.sleep(slowInitMs), 0),
  handleCall: (_: "get", n: number) => [n, n] as const,
  handleCast: (_: unknown, n: number) => n
})

describe("GlobalRegistry.registerOrWhereis (simulated)", () => {
  for (const size of [3, 5]) {
    it.scoped(`${size} contenders at the same moment: start runs once, all get its ref, one process lives`, () =>
      Effect.gen(function*() {
        const net = yield* MemoryNetwork.make
        const nodes = yield* mesh(net, size)
        const { start, started } = starter()
        // Released together: every contender looks before any start ran, and start takes a while.
        const go = yield* Deferred.make<void>()
        const fibers = yield* Effect.forEach(nodes, (n) =>
          Effect.fork(
            Effect.zipRight(Deferred.await(go), n.run(GlobalRegistry.registerOrWhereis(NAME, start(n, { delay: 50 }))))
          ))
        yield* flush
        yield* Deferred.succeed(go, undefined)
        yield* settle(200)
        const refs = yield* Effect.forEach(fibers, Fiber.join)
        expect(started).toHaveLength(1)
        for (const ref of refs) expect(ref).toEqual(refs[0])
        expect(refs[0]!.nodeId).toBe(started[0])
        expect(yield* alive(nodes)).toBe(1)
        for (const node of nodes) expect(yield* where(node)).toEqual(Option.some(refs[0]!))
        // A latecomer finds it registered and starts nothing.
        expect(yield* nodes[size - 1]!.run(GlobalRegistry.registerOrWhereis(NAME, start(nodes[size - 1]!)))).toEqual(
          refs[0]
        )
        expect(started).toHaveLength(1)
      }))
  }

  it.scoped("contenders whose start places the singleton on another node: start runs once", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const nodes = yield* mesh(net, 5)
      const e = nodes[4]!
      let starts = 0
      // The holder's release reaches the arbiter on its own link; the registration, made by e, on e's.
      const start = Effect.gen(function*() {
        starts++
        const spawned = yield* RemoteSpawn.spawn("singleton", e.id)
        return { id: spawned.serverId, nodeId: spawned.nodeId }
      })
      const fibers = yield* Effect.forEach(nodes.slice(1, 4), (n) => contend(n, start))
      yield* settle(200)
      const refs = yield* Effect.forEach(fibers, Fiber.join)
      for (const ref of refs) expect(ref).toEqual(refs[0])
      expect(refs[0]!.nodeId).toBe(e.id)
      expect(starts).toBe(1)
      expect(yield* alive(nodes)).toBe(1)
    }))

  it.scoped("the holder's node is killed during a slow start: a waiting contender gets the lock and starts it", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c] = (yield* mesh(net, 3)) as [SimNode, SimNode, SimNode]
      const { start, started } = starter()
      const holder = yield* contend(b, start(b, { delay: 1000 }))
      yield* settle(20)
      expect(started).toEqual([b.id])
      const waiter = yield* contend(c, start(c, { delay: 1000 }))
      yield* settle(20)
      expect(started).toEqual([b.id])
      // b dies holding the lock (its contender dies with it).
      yield* net.kill(b.id)
      yield* Fiber.interrupt(holder)
      yield* b.stop
      yield* flush
      expect(started).toEqual([b.id, c.id])
      yield* settle(1100)
      const ref = yield* Fiber.join(waiter)
      expect(ref.nodeId).toBe(c.id)
      expect(yield* alive([a, c])).toBe(1)
      expect(yield* where(a)).toEqual(Option.some(ref))
    }))

  it.scoped("the arbiter is killed while others wait: they ask the next arbiter, and one singleton results", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c, d] = (yield* mesh(net, 4)) as [SimNode, SimNode, SimNode, SimNode]
      const { start, started } = starter()
      // a, the arbiter, holds the lock itself; b, c and d wait at a.
      const holder = yield* contend(a, start(a, { delay: 1000 }))
      yield* settle(20)
      const waiters = yield* Effect.forEach([b, c, d], (n) => contend(n, start(n, { delay: 500 })))
      yield* settle(20)
      expect(started).toEqual([a.id])
      yield* net.kill(a.id)
      yield* Fiber.interrupt(holder)
      yield* a.stop
      yield* settle(20)
      // b is the arbiter now: exactly one of b, c, d was granted the lock.
      expect(started).toHaveLength(2)
      yield* settle(600)
      const refs = yield* Effect.forEach(waiters, Fiber.join)
      for (const ref of refs) expect(ref).toEqual(refs[0])
      expect(refs[0]!.nodeId).toBe(started[1])
      expect(started).toHaveLength(2)
      expect(yield* alive([b, c, d])).toBe(1)
      for (const node of [b, c, d]) expect(yield* where(node)).toEqual(Option.some(refs[0]!))
    }))

  it.scoped("the arbiter is killed while another node holds: the next arbiter may grant again, and the registry keeps one", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c, d] = (yield* mesh(net, 4)) as [SimNode, SimNode, SimNode, SimNode]
      const { start, started } = starter()
      const holder = yield* contend(b, start(b, { delay: 1000 }))
      yield* settle(20)
      const waiters = yield* Effect.forEach([c, d], (n) => contend(n, start(n, { delay: 1000 })))
      yield* settle(20)
      yield* net.kill(a.id)
      yield* a.stop
      yield* settle(20)
      // b, the new arbiter, never knew of a's grant to b: today it lets one more contender
      // start (docs/global-registry.md, "the arbiter goes down"); the registration keeps one.
      expect(started.length).toBeLessThanOrEqual(2)
      yield* settle(1100)
      const refs = yield* Effect.forEach([holder, ...waiters], Fiber.join)
      for (const ref of refs) expect(ref).toEqual(refs[0])
      expect(refs[0]!.nodeId).toBe(b.id)
      expect(yield* alive([b, c, d])).toBe(1)
    }))

  it.scoped("a contender interrupted while it waits does not leave the lock held", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c, d] = (yield* mesh(net, 4)) as [SimNode, SimNode, SimNode, SimNode]
      const { start, started } = starter()
      // b holds with a start that fails, so the name stays free for whoever comes next.
      const holder = yield* contend(b, start(b, { delay: 500, fail: true }))
      yield* settle(20)
      // Waiting at a remote arbiter, and at a local one (a's own contender).
      const remote = yield* contend(c, start(c))
      const local = yield* contend(a, start(a))
      yield* settle(20)
      yield* Fiber.interrupt(remote)
      yield* Fiber.interrupt(local)
      yield* settle(600)
      expect(Exit.isFailure(yield* Fiber.await(holder))).toBe(true)
      expect(started).toEqual([b.id])
      // The lock passed through the two dead waiters and is free: a later contender gets it.
      const later = yield* contend(d, start(d))
      yield* settle(50)
      const ref = yield* Fiber.join(later)
      expect(ref.nodeId).toBe(d.id)
      expect(started).toEqual([b.id, d.id])
      expect(yield* alive([a, b, c, d])).toBe(1)
    }))

  it.scoped("a contender interrupted just as its grant arrives gives the lock back", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = (yield* mesh(net, 2)) as [SimNode, SimNode]
      const { start, started } = starter()
      // Both contenders on a, the arbiter: the holder's failed start releases the lock, which
      // completes the waiter's grant at once; the holder then interrupts the waiter before the
      // waiter's fiber has run again, so the grant and the interruption arrive together.
      const waiter = yield* Deferred.make<Fiber.RuntimeFiber<ServerRef, unknown>>()
      const holder = yield* Effect.fork(
        a.run(GlobalRegistry.registerOrWhereis(NAME, start(a, { delay: 100, fail: true }))).pipe(
          Effect.ensuring(
            Effect.flatMap(Deferred.await(waiter), (w) =>
              Effect.flatMap(Effect.fiberId, (id) => Fiber.interruptAsFork(w, id)))
          )
        )
      )
      yield* settle(20)
      yield* Deferred.succeed(waiter, yield* contend(a, start(a)))
      yield* settle(200)
      expect(Exit.isFailure(yield* Fiber.await(holder))).toBe(true)
      expect(Exit.isInterrupted(yield* Fiber.await(yield* Deferred.await(waiter)))).toBe(true)
      // Had the interrupted fiber kept the grant, the lock would stay a's and this would never end.
      const later = yield* contend(b, start(b))
      yield* settle(50)
      const done = yield* Fiber.poll(later)
      expect(Option.isSome(done) && Exit.isSuccess(done.value)).toBe(true)
      expect(started).toEqual([a.id, b.id])
    }))

  it.scoped("a start that fails gives its caller the typed error, releases the lock, and the next contender starts", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c] = (yield* mesh(net, 3)) as [SimNode, SimNode, SimNode]
      const { start, started } = starter()
      const failing = yield* contend(b, start(b, { delay: 200, fail: true }))
      yield* settle(20)
      const next = yield* contend(c, start(c))
      yield* settle(300)
      const error = yield* Effect.flip(Fiber.join(failing))
      expect(error).toEqual(new StartFailed({ node: b.id }))
      const ref = yield* Fiber.join(next)
      expect(started).toEqual([b.id, c.id])
      expect(ref.nodeId).toBe(c.id)
      expect(yield* alive([a, b, c])).toBe(1)
      // Failing alone at the arbiter: the caller gets the error, and the lock is free again.
      const other = "other"
      expect(yield* Effect.flip(a.run(GlobalRegistry.registerOrWhereis(other, start(a, { fail: true })))))
        .toEqual(new StartFailed({ node: a.id }))
      const again = yield* contend(b, start(b), other)
      yield* settle(50)
      expect((yield* Fiber.join(again)).nodeId).toBe(b.id)
    }))

  it.scoped("across a partition 2|3 each side starts one; after the heal one is kept and the other stopped with { conflict }", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const nodes = yield* mesh(net, 5)
      const [a, b, c, d, e] = nodes as [SimNode, SimNode, SimNode, SimNode, SimNode]
      const events: Array<RegistryEvent> = []
      yield* Effect.forkScoped(
        c.run(GlobalRegistry.events.pipe(Stream.runForEach((ev) => Effect.sync(() => events.push(ev)))))
      )
      yield* flush
      yield* net.partition([a.id, b.id], [c.id, d.id, e.id])
      yield* settle(7000, 50)
      const { start, started } = starter()
      const fibers = yield* Effect.forEach(nodes, (n) => contend(n, start(n)))
      yield* settle(100)
      const refs = yield* Effect.forEach(fibers, Fiber.join)
      // One singleton per side, each side's contenders agreeing on theirs.
      expect(started).toHaveLength(2)
      expect(refs[0]).toEqual(refs[1])
      expect(refs[2]).toEqual(refs[3])
      expect(refs[3]).toEqual(refs[4])
      expect([a.id, b.id]).toContain(refs[0]!.nodeId)
      expect([c.id, d.id, e.id]).toContain(refs[2]!.nodeId)
      expect(yield* alive(nodes)).toBe(2)
      const monitors = yield* Effect.forEach([refs[0]!, refs[2]!], (ref) => c.run(GenServer.monitor(ref)))
      yield* net.heal
      yield* settle(15_000, 50)
      const views = yield* Effect.forEach(nodes, (n) => where(n))
      for (const view of views) expect(view).toEqual(views[0])
      const winner = Option.getOrThrow(views[0]!)
      const [loser, loserMonitor] = winner.id === refs[0]!.id ? [refs[2]!, monitors[1]!] : [refs[0]!, monitors[0]!]
      expect([refs[0]!.id, refs[2]!.id]).toContain(winner.id)
      expect(yield* alive(nodes)).toBe(1)
      const down = yield* loserMonitor.down
      expect(down.reason).toEqual({ conflict: NAME })
      expect(events.filter((ev) => ev._tag === "ConflictResolved")).toEqual([
        { _tag: "ConflictResolved", name: NAME, winner, loser }
      ])
      // Connected again: a contender finds the survivor and starts nothing.
      expect(yield* e.run(GlobalRegistry.registerOrWhereis(NAME, start(e)))).toEqual(winner)
      expect(started).toHaveLength(2)
    }))

  it.scoped("a third node cannot release the lock another node holds, nor grant it", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c, d] = (yield* mesh(net, 4)) as [SimNode, SimNode, SimNode, SimNode]
      const { start, started } = starter()
      const holder = yield* contend(b, start(b, { delay: 1000 }))
      yield* settle(20)
      const waiter = yield* contend(c, start(c))
      yield* settle(20)
      // d speaks to the arbiter for b, and to c and b as if it were the arbiter.
      const fake: ServerRef = { id: "not-the-singleton", nodeId: d.id }
      for (let req = 0; req < 10; req++) {
        yield* lockSay(d, a, { _tag: "lock.release", name: NAME, req })
        yield* lockSay(d, b, { _tag: "lock.revoked", name: NAME, req })
        for (const answer of [{ outcome: "granted" }, { outcome: "registered", ref: fake }]) {
          yield* lockSay(d, c, { _tag: "lock.answer", name: NAME, req, ...answer })
        }
      }
      // Garbage is dropped, and nothing else changes.
      yield* d.run(GenServer.send({ id: LOCK_PROCESS, nodeId: a.id }, { _tag: "lock.release", name: 42 }))
      yield* settle(200)
      expect(started).toEqual([b.id])
      expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
      yield* settle(900)
      const ref = yield* Fiber.join(holder)
      expect(yield* Fiber.join(waiter)).toEqual(ref)
      expect(started).toEqual([b.id])
      expect(yield* alive([a, b, c, d])).toBe(1)
    }))

  it.scoped("a holder whose start outlasts the lease keeps the lock: two contenders, exactly one starts", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c] = (yield* mesh(net, 3)) as [SimNode, SimNode, SimNode]
      const started: Array<string> = []
      const start = (node: SimNode) =>
        Effect.suspend(() => {
          started.push(node.id)
          return GenServer.start(slow, { initTimeout: 2 * slowInitMs })
        })
      const holder = yield* contend(b, start(b))
      yield* settle(20)
      const waiter = yield* contend(c, start(c))
      yield* settle(slowInitMs + 1000, 100)
      // Before the joins: had the lease lapsed, c would have started too, and still be starting.
      expect(started).toEqual([b.id])
      const refs = yield* Effect.forEach([holder, waiter], Fiber.join)
      expect(refs[1]).toEqual(refs[0])
      expect(refs[0]!.nodeId).toBe(b.id)
      expect(yield* alive([a, b, c])).toBe(1)
    }))

  it.scoped("a holder that never renews loses the lock when the lease lapses, with a warning, and the next contender gets it", () => {
    const { layer: capture, messages: warnings } = captureLogs("Warning")
    return Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c] = (yield* mesh(net, 3)) as [SimNode, SimNode, SimNode]
      // b takes the lock as a raw peer would: its lock process, which would renew and give back, is gone.
      yield* stopLock(b)
      yield* lockSay(b, a, { _tag: "lock.acquire", name: NAME, req: 1 })
      yield* settle(20)
      const { start, started } = starter()
      const waiter = yield* contend(c, start(c))
      yield* settle(LOCK_LEASE_MS - 500, 100)
      expect(started).toEqual([])
      yield* settle(1000, 100)
      expect(started).toEqual([c.id])
      const ref = yield* Fiber.join(waiter)
      expect(ref.nodeId).toBe(c.id)
      expect(yield* where(a)).toEqual(Option.some(ref))
      expect(warnings).toContain("took a lock back: its holder did not renew its lease")
    }).pipe(Effect.provide(capture))
  })

  it.scoped("a holder whose grant was taken back does not register what it started: it stops it and asks again", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = (yield* mesh(net, 2)) as [SimNode, SimNode]
      // The test speaks for a, the arbiter: it grants b's first request, then takes it back during b's start.
      yield* stopLock(a)
      const { start, started } = starter()
      const fiber = yield* contend(b, start(b, { delay: 1000 }))
      yield* settle(20)
      yield* lockSay(a, b, { _tag: "lock.answer", name: NAME, req: 1, outcome: "granted" })
      yield* settle(20)
      expect(started).toEqual([b.id])
      yield* lockSay(a, b, { _tag: "lock.revoked", name: NAME, req: 1 })
      yield* settle(1100)
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      expect(yield* where(b)).toEqual(Option.none())
      expect(yield* alive([a, b])).toBe(0)
      // Asked again (its second request), granted, and not taken back: it registers.
      yield* lockSay(a, b, { _tag: "lock.answer", name: NAME, req: 2, outcome: "granted" })
      yield* settle(1100)
      const ref = yield* Fiber.join(fiber)
      expect(started).toEqual([b.id, b.id])
      expect(yield* where(b)).toEqual(Option.some(ref))
      expect(yield* alive([a, b])).toBe(1)
    }))
})
