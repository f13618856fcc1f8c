import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Option, Scope, TestClock } from "effect"
import { internalsOf } from "../src/cluster/internal/node.js"
import { BehaviorRegistry, Cluster, GenServer, RemoteSpawn } from "../src/index.js"
import type { Down, ExitReason, NodeId, ServerRef } from "../src/index.js"
import { MemoryNetwork as Net } from "../src/index.js"
import { MAX_QUEUED_PEER_SIGNALS } from "../src/internal/mailbox.js"
import { flush, settle, simId, startNode } from "./support/sim.js"

/** Exits of every process of these tests, by the value its init got. */
const exits: Array<[string, ExitReason]> = []

const member = GenServer.behavior({
  init: (label: string = "?") => label,
  handleCall: (msg: "get" | "boom", label: string) => {
    if (msg === "boom") throw new RangeError(`${label} exploded`)
    return [label, label] as const
  },
  handleCast: (_: unknown, label: string) => label,
  terminate: (reason: ExitReason, label: string) => void exits.push([label, reason])
})

/** As `member`, but OTP's way: a failing handler takes the process down. */
const crasher = GenServer.behavior({ ...member, onError: "crash" as const })

/** Records the info messages it gets; answers them on "seen". */
const trapper = GenServer.behavior({
  init: () => [] as Array<unknown>,
  handleCall: (_: "seen", seen: Array<unknown>) => [seen, seen] as const,
  handleCast: (_: unknown, seen: Array<unknown>) => seen,
  handleInfo: (msg: unknown, seen: Array<unknown>) => [...seen, msg]
})

/** Spawns what it is asked to, linked with itself (`{ link: true }`), and answers the spawn's outcome. */
const parent = GenServer.behavior({
  init: () => null,
  handleCall: (msg: { readonly behavior: string; readonly on: NodeId }, s: null) =>
    Effect.map(
      Effect.either(RemoteSpawn.spawn(msg.behavior, msg.on, { link: true, args: ["child"] })),
      (r) => [r._tag === "Right" ? r.right : r.left._tag, s] as const
    ),
  handleCast: (_: unknown, s: null) => s
})

const registry = BehaviorRegistry.layer({ member, crasher, trapper, parent })

const reasonOf = (label: string) => exits.find(([l]) => l === label)?.[1]

const start = (label: string, options: GenServer.StartOptions = {}) =>
  GenServer.start(member, { ...options, args: [label] })

describe("links (local)", () => {
  it.scoped("an abnormal exit takes the partner down with the same reason; a normal one does not", () =>
    Effect.gen(function*() {
      const a = yield* start("l1")
      const b = yield* start("l2")
      yield* GenServer.link(a, b)
      yield* GenServer.stop(a, { error: new Error("bad") })
      yield* flush
      expect(reasonOf("l2")).toEqual({ error: { name: "Error", message: "bad" } })
      const c = yield* start("l3")
      const d = yield* start("l4")
      yield* GenServer.link(c, d)
      yield* GenServer.stop(c)
      expect(yield* GenServer.call(d, "get")).toBe("l4")
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("onError: crash answers the caller, then exits with the error and takes the partner along", () =>
    Effect.gen(function*() {
      const a = yield* GenServer.start(crasher, { args: ["c1"] })
      const b = yield* start("c2", { link: a })
      const m = yield* GenServer.monitor(a)
      const error = yield* Effect.flip(GenServer.call(a, "boom"))
      expect(error).toMatchObject({ _tag: "RemoteHandlerError", name: "RangeError", message: "c1 exploded" })
      expect((yield* m.down).reason).toEqual({ error: { name: "RangeError", message: "c1 exploded" } })
      yield* flush
      expect(reasonOf("c2")).toEqual({ error: { name: "RangeError", message: "c1 exploded" } })
      expect(yield* Effect.flip(GenServer.call(b, "get"))).toMatchObject({ _tag: "RemoteServerNotRunningError" })
      // The default keeps the process: the same failure leaves a member running.
      const kept = yield* start("c3")
      yield* Effect.flip(GenServer.call(kept, "boom"))
      expect(yield* GenServer.call(kept, "get")).toBe("c3")
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("trapExit turns a partner's exit, normal too, into an Exit in handleInfo", () =>
    Effect.gen(function*() {
      const watcher = yield* GenServer.start(trapper, { trapExit: true })
      const a = yield* start("t1", { link: watcher })
      const b = yield* start("t2", { link: watcher })
      yield* GenServer.stop(a, "shutdown")
      yield* GenServer.stop(b)
      const seen = yield* GenServer.call<Array<unknown>>(watcher, "seen")
      expect(seen).toEqual([
        { _tag: "Exit", from: a, reason: "shutdown" },
        { _tag: "Exit", from: b, reason: "normal" }
      ])
      expect(seen.every(GenServer.isExitSignal)).toBe(true)
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("a cycle of links ends with each process exiting once", () =>
    Effect.gen(function*() {
      const ring = yield* Effect.forEach(["r1", "r2", "r3", "r4"], (l) => start(l))
      for (let i = 0; i < ring.length; i++) yield* GenServer.link(ring[i]!, ring[(i + 1) % ring.length]!)
      yield* GenServer.link(ring[0]!, ring[2]!)
      yield* GenServer.stop(ring[1]!, "shutdown")
      yield* flush
      expect(exits.filter(([l]) => l.startsWith("r")).map(([l, r]) => [l, r]).sort()).toEqual([
        ["r1", "shutdown"],
        ["r2", "shutdown"],
        ["r3", "shutdown"],
        ["r4", "shutdown"]
      ])
      expect(yield* GenServer.processCount).toBe(0)
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("a chain of 5,000 linked processes ends in a loop, not in 5,000 nested frames", () =>
    Effect.gen(function*() {
      let previous = yield* start("chain-0")
      const head = previous
      for (let i = 1; i < 5000; i++) previous = yield* start(`chain-${i}`, { link: previous })
      yield* GenServer.stop(head, { error: new Error("first") })
      yield* flush
      expect(yield* GenServer.processCount).toBe(0)
      expect(reasonOf("chain-4999")).toEqual({ error: { name: "Error", message: "first" } })
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("a chain of 3,000 processes each crashing on its predecessor's Down ends in a loop", () =>
    Effect.gen(function*() {
      // Each owns a monitor of the one before it and crashes in handleInfo when it goes.
      const fragile = GenServer.behavior({
        init: (label: string) => label,
        handleCall: (msg: ServerRef, label: string) =>
          Effect.gen(function*() {
            yield* GenServer.monitor(Option.getOrThrow(yield* GenServer.self), msg)
            return [null, label] as const
          }),
        handleCast: (_: unknown, label: string) => label,
        handleInfo: (): string => {
          throw new Error("predecessor gone")
        },
        onError: "crash" as const,
        terminate: (reason: ExitReason, label: string) => void exits.push([label, reason])
      })
      let previous = yield* GenServer.start(fragile, { args: ["down-0"] })
      const head = previous
      for (let i = 1; i < 3000; i++) {
        const next = yield* GenServer.start(fragile, { args: [`down-${i}`] })
        yield* GenServer.call(next, previous)
        previous = next
      }
      yield* GenServer.stop(head)
      yield* flush
      expect(yield* GenServer.processCount).toBe(0)
      expect((reasonOf("down-2999") as { error: Error }).error.message).toBe("predecessor gone")
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("linking to a process that is stopping normally is no death sentence", () =>
    Effect.gen(function*() {
      const slow = GenServer.behavior({
        ...member,
        terminate: () => Effect.sleep("50 millis")
      })
      const stopping = yield* GenServer.start(slow, { args: ["st0"] })
      const stop = yield* Effect.fork(GenServer.stop(stopping))
      yield* flush
      const live = yield* start("st1")
      yield* GenServer.link(live, stopping)
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(stop)
      expect(yield* GenServer.call(live, "get")).toBe("st1")
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("a shutdown waits for every terminate, whatever the start order and the links between them", () =>
    Effect.gen(function*() {
      const done: Array<string> = []
      const slow = GenServer.behavior({
        ...member,
        terminate: (_: ExitReason, label: string) => Effect.as(Effect.sleep("100 millis"), void done.push(label))
      })
      const quick = GenServer.behavior({
        ...member,
        terminate: (_: ExitReason, label: string) => void done.push(label)
      })
      const scope = yield* Scope.make()
      const rt = yield* Scope.extend(GenServer.make(), scope)
      const run = <A, E>(e: Effect.Effect<A, E, GenServer.GenServerRuntime>) =>
        Effect.provideService(e, GenServer.GenServerRuntime, rt)
      yield* run(GenServer.start(quick, { args: ["q1"] }))
      yield* run(GenServer.start(slow, { args: ["s1"] }))
      const q2 = yield* run(GenServer.start(quick, { args: ["q2"] }))
      yield* run(GenServer.start(quick, { args: ["q3"], link: q2 }))
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(closing)
      expect([...done].sort()).toEqual(["q1", "q2", "q3", "s1"])
    }))

  it.scoped("a reply tuple whose getter throws fails that call; the process, its monitors and links go on", () =>
    Effect.gen(function*() {
      const tricky = GenServer.behavior({
        init: () => 0,
        handleCall: (msg: "trick" | "get", n: number) => {
          if (msg === "get") return [n, n] as const
          const tuple = [0, 0] as unknown as [number, number]
          Object.defineProperty(tuple, 1, {
            get() {
              throw new Error("tuple getter")
            }
          })
          return tuple
        },
        handleCast: (_: unknown, n: number) => n
      })
      const ref = yield* GenServer.start(tricky)
      const m = yield* GenServer.monitor(ref)
      expect(yield* Effect.flip(GenServer.call(ref, "trick"))).toMatchObject({
        _tag: "RemoteHandlerError",
        message: "tuple getter"
      })
      expect(yield* GenServer.call(ref, "get")).toBe(0)
      yield* GenServer.stop(ref)
      expect((yield* m.down).reason).toBe("normal")
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("either order links the live process: a dead partner sends it noproc", () =>
    Effect.gen(function*() {
      const dead = yield* start("o0")
      yield* GenServer.stop(dead)
      const live = yield* start("o1")
      yield* GenServer.link(dead, live)
      yield* flush
      expect(reasonOf("o1")).toBe("noproc")
    }).pipe(Effect.provide(GenServer.layer)))

  it.scoped("linking to a process that is not alive sends noproc; unlink stops the exit from travelling", () =>
    Effect.gen(function*() {
      const dead = yield* start("n0")
      yield* GenServer.stop(dead)
      const a = yield* start("n1")
      yield* GenServer.link(a, dead)
      yield* flush
      expect(reasonOf("n1")).toBe("noproc")
      const b = yield* start("n2")
      const c = yield* start("n3")
      yield* GenServer.link(b, c)
      yield* GenServer.unlink(c, b)
      yield* GenServer.stop(b, "shutdown")
      expect(yield* GenServer.call(c, "get")).toBe("n3")
      const failed = yield* Effect.flip(GenServer.link(dead, { ...dead, id: "other" }))
      expect(failed._tag).toBe("RemoteServerNotRunningError")
    }).pipe(Effect.provide(GenServer.layer)))
})

const pair = Effect.gen(function*() {
  const net = yield* Net.make
  const a = yield* startNode(net, "a", { registry })
  const b = yield* startNode(net, "b", { registry, seeds: [simId("a")] })
  yield* settle(200)
  return { net, a, b }
})

const spawnOn = (node: { run: any }, where: { id: any }, label: string) =>
  Effect.map(
    node.run(RemoteSpawn.spawn("member", where.id, { args: [label] })) as Effect.Effect<
      { serverId: string; nodeId: any }
    >,
    (s): ServerRef => ({ id: s.serverId, nodeId: s.nodeId })
  )

describe("links (simulated cluster)", () => {
  it.scoped("an exit travels across nodes both ways; the link tables are empty after", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const onA = yield* spawnOn(a, a, "x1")
      const onB = yield* spawnOn(a, b, "x2")
      yield* a.run(GenServer.link(onA, onB))
      yield* settle(20)
      expect(internalsOf(b.cluster).table.links.size).toBe(1)
      yield* b.run(GenServer.stop(onB, { error: new TypeError("far") }))
      yield* settle(20)
      expect(reasonOf("x1")).toEqual({ error: { name: "TypeError", message: "far" } })
      const onA2 = yield* spawnOn(a, a, "x3")
      const onB2 = yield* spawnOn(a, b, "x4")
      yield* b.run(GenServer.link(onB2, onA2))
      yield* settle(20)
      yield* a.run(GenServer.stop(onA2, "shutdown"))
      yield* settle(20)
      expect(reasonOf("x4")).toBe("shutdown")
      expect(internalsOf(a.cluster).table.links.size).toBe(0)
      expect(internalsOf(b.cluster).table.links.size).toBe(0)
    }))

  it.scoped("a node going down sends noconnection to every process linked with one of its processes", () =>
    Effect.gen(function*() {
      const { a, b, net } = yield* pair
      const onB = yield* spawnOn(a, b, "d1")
      const plain = yield* spawnOn(a, a, "d2")
      const trapping = yield* a.run(GenServer.start(trapper, { trapExit: true, link: onB }))
      yield* a.run(GenServer.link(plain, onB))
      yield* settle(20)
      yield* net.kill(b.id)
      yield* settle(7000, 50)
      expect(reasonOf("d2")).toBe("noconnection")
      expect(yield* a.run(GenServer.call<Array<unknown>>(trapping, "seen"))).toEqual([
        { _tag: "Exit", from: onB, reason: "noconnection" }
      ])
      expect(internalsOf(a.cluster).table.links.size).toBe(0)
    }))

  it.scoped("a linked child with onError: crash takes its partner down across nodes; a peer's exit counts only along a link", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const child = yield* a.run(RemoteSpawn.spawn("crasher", b.id, { args: ["k1"] }))
      const childRef = { id: child.serverId, nodeId: child.nodeId }
      const parent = yield* spawnOn(a, a, "k0")
      const bystander = yield* spawnOn(a, a, "k2")
      yield* a.run(GenServer.link(parent, childRef))
      yield* settle(20)
      yield* Effect.flip(a.run(GenServer.call(childRef, "boom")))
      yield* settle(20)
      expect(reasonOf("k0")).toEqual({ error: { name: "RangeError", message: "k1 exploded" } })
      // A forged exit signal for a process that has no link with the sender is dropped.
      internalsOf(b.cluster).membership.linkTo(a.id)!.send({
        _tag: "Exit",
        from: "whoever",
        to: bystander.id,
        reason: "shutdown"
      })
      yield* settle(20)
      expect(yield* a.run(GenServer.call(bystander, "get"))).toBe("k2")
    }))

  it.scoped("spawn({ link: true }) from a handler links the child before the spawn answers; a failed spawn links nothing", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const spawned = yield* a.run(RemoteSpawn.spawn("parent", a.id))
      const parentRef = { id: spawned.serverId, nodeId: spawned.nodeId }
      const watch = yield* a.run(GenServer.monitor(parentRef))
      expect(yield* a.run(GenServer.call(parentRef, { behavior: "nope", on: b.id }))).toBe("BehaviorNotFoundError")
      const child = yield* a.run(
        GenServer.call<{ serverId: string; nodeId: NodeId }>(parentRef, { behavior: "crasher", on: b.id })
      )
      // The link is in place when the spawn has answered: no settling needed.
      expect(internalsOf(a.cluster).table.links.size).toBe(1)
      yield* Effect.flip(a.run(GenServer.call({ id: child.serverId, nodeId: child.nodeId }, "boom")))
      yield* settle(20)
      expect((yield* watch.down).reason).toEqual({ error: { name: "RangeError", message: "child exploded" } })
      expect(internalsOf(a.cluster).table.links.size).toBe(0)
      expect(internalsOf(b.cluster).table.links.size).toBe(0)
    }))

  it.scoped("spawn({ link: ref }) on this node links the two; outside a process, link: true is a defect", () =>
    Effect.gen(function*() {
      const { a } = yield* pair
      const owner = yield* spawnOn(a, a, "s0")
      const child = yield* a.run(RemoteSpawn.spawn("member", a.id, { link: owner, args: ["s1"] }))
      yield* a.run(GenServer.stop({ id: child.serverId, nodeId: child.nodeId }, "shutdown"))
      yield* settle(10)
      expect(reasonOf("s0")).toBe("shutdown")
      const misuse = yield* Effect.exit(a.run(RemoteSpawn.spawn("member", a.id, { link: true })))
      expect(Exit.isFailure(misuse) && Cause.isDie(misuse.cause)).toBe(true)
    }))

  it.scoped("a peer's exits reach a busy process that traps them past its mailbox limit, up to the peer's share", () =>
    Effect.gen(function*() {
      const net = yield* Net.make
      const a = yield* startNode(net, "a", { registry, mailboxLimit: 10 })
      const b = yield* startNode(net, "b", { registry, seeds: [simId("a")] })
      yield* settle(200)
      let exitsSeen = 0
      const busy = GenServer.behavior({
        init: () => null,
        handleCall: (gate: Deferred.Deferred<void>, s: null) => Effect.as(Deferred.await(gate), [null, s] as const),
        handleCast: (_: unknown, s: null) => s,
        handleInfo: (msg: unknown, s: null) => {
          if (GenServer.isExitSignal(msg)) exitsSeen++
          return s
        }
      })
      const trapping = yield* a.run(GenServer.start(busy, { trapExit: true }))
      const gate = yield* Deferred.make<void>()
      yield* Effect.fork(a.run(GenServer.call(trapping, gate)))
      yield* flush
      const toA = internalsOf(b.cluster).membership.linkTo(a.id)!
      for (let i = 0; i < 1000; i++) {
        toA.send({ _tag: "Link", from: `p${i}`, to: trapping.id })
        toA.send({ _tag: "Exit", from: `p${i}`, to: trapping.id, reason: "shutdown" })
      }
      yield* settle(50)
      expect(internalsOf(a.cluster).table.links.size).toBe(0)
      yield* Deferred.succeed(gate, undefined)
      yield* flush
      // Past the mailbox limit of 10: none of the 1,000 partners' ends is lost.
      expect(exitsSeen).toBe(1000)
      // The share: a peer's signals waiting here stop at MAX_QUEUED_PEER_SIGNALS.
      const table = internalsOf(a.cluster).table
      const gate2 = yield* Deferred.make<void>()
      yield* Effect.fork(a.run(GenServer.call(trapping, gate2)))
      yield* flush
      let accepted = 0
      for (let i = 0; i <= MAX_QUEUED_PEER_SIGNALS; i++) if (table.signal(trapping.id, "x", undefined, b.id)) accepted++
      expect(accepted).toBe(MAX_QUEUED_PEER_SIGNALS)
      yield* Deferred.succeed(gate2, undefined)
    }))

  it.scoped("monitorNode completes with the down reason, at once with noconnection for a node not connected", () =>
    Effect.gen(function*() {
      const { a, b, net } = yield* pair
      const scope = yield* Scope.make()
      const watch = yield* a.run(Scope.extend(Cluster.monitorNode(b.id), scope))
      const missing = yield* a.run(Scope.extend(Cluster.monitorNode(simId("zed")), scope))
      expect(yield* missing.down).toBe("noconnection")
      const waiting = yield* Effect.fork(watch.down)
      yield* settle(20)
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
      yield* net.kill(b.id)
      yield* settle(7000, 50)
      expect(yield* Fiber.join(waiting)).toBe("connection_closed")
      yield* Scope.close(scope, Exit.void)
    }))

  it.scoped("a monitor of a process whose node stops gracefully: noconnection, the moment the link goes", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const onB = yield* spawnOn(a, b, "g1")
      const m = yield* a.run(GenServer.monitor(onB))
      yield* settle(20)
      yield* b.stop
      yield* settle(100)
      const d: Down = yield* m.down
      expect(d.reason).toBe("noconnection")
    }))
})
