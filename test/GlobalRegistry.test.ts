import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck, Fiber, Option, Stream } from "effect"
import { internalsOf } from "../src/cluster/internal/node.js"
import { GenServer, GlobalRegistry, MemoryNetwork, RemoteSpawn } from "../src/index.js"
import type { ExitReason, RegistryEvent } from "../src/index.js"
import { flush, settle, startNode } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

const stops: Array<ExitReason> = []
const worker = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", s: number) => [s, s] as const,
  handleCast: (_: unknown, s: number) => s,
  terminate: (reason: ExitReason) => void stops.push(reason)
})

const mesh = (net: MemoryNetwork, names: ReadonlyArray<string>, extra: Parameters<typeof startNode>[2] = {}) =>
  Effect.gen(function*() {
    const nodes: Array<SimNode> = []
    for (const name of names) {
      nodes.push(
        yield* startNode(net, name, { behaviors: { worker }, seeds: nodes.length > 0 ? [nodes[0]!.id] : [], ...extra })
      )
    }
    yield* settle(300)
    return nodes
  })

const recordEvents = (node: SimNode) =>
  Effect.gen(function*() {
    const events: Array<RegistryEvent> = []
    yield* Effect.forkScoped(
      node.run(GlobalRegistry.events.pipe(Stream.runForEach((e) => Effect.sync(() => events.push(e)))))
    )
    yield* flush
    return events
  })

const where = (node: SimNode, name: string) => node.run(GlobalRegistry.whereis(name))

describe("GlobalRegistry (simulated)", () => {
  it.scoped("refuses, on the caller, a name too long to replicate (MessageTooLargeError); a long one that fits reaches a node at the smallest frame limit", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = (yield* mesh(net, ["a", "b"], { maxFrameBytes: 4096 })) as [SimNode, SimNode]
      const here = yield* a.run(GenServer.start(worker))
      const there = { id: (yield* a.run(RemoteSpawn.spawn("worker", b.id))).serverId, nodeId: b.id }
      for (const ref of [here, there]) {
        const refused = yield* Effect.flip(a.run(GlobalRegistry.register("n".repeat(1000) + ref.nodeId, ref)))
        expect(refused).toMatchObject({ _tag: "MessageTooLargeError", limit: 2048 })
      }
      // A spawn registering it globally is refused alike, before init runs, wherever it lands.
      for (const node of [a, b]) {
        const spawned = yield* Effect.flip(
          a.run(RemoteSpawn.spawn("worker", node.id, { name: "s".repeat(1000), registration: "global" }))
        )
        expect(spawned._tag).toBe("RemoteSpawnRegistrationError")
      }
      expect(yield* a.run(GlobalRegistry.getNames)).toEqual([])
      expect(yield* b.run(GenServer.processCount)).toBe(1)
      const long = "l".repeat(550)
      yield* a.run(GlobalRegistry.register(long, here))
      yield* settle(200)
      expect(Option.getOrUndefined(yield* where(b, long))).toEqual(here)
    }))

  it.scoped("makes a registration visible on every node within a round trip, and to a late joiner", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      yield* net.setLatency("5 millis")
      const [a, b, c] = yield* mesh(net, ["a", "b", "c"])
      const ref = yield* a.run(GenServer.start(worker))
      yield* a.run(GlobalRegistry.register("cache:primary", ref))
      expect(yield* where(a!, "cache:primary")).toEqual(Option.some(ref))
      yield* settle(5, 1) // one-way latency: well within one round trip
      expect(yield* where(b, "cache:primary")).toEqual(Option.some(ref))
      expect(yield* where(c!, "cache:primary")).toEqual(Option.some(ref))
      const d = yield* startNode(net, "d", { behaviors: { worker }, seeds: [c!.id] })
      yield* settle(300)
      expect(yield* where(d, "cache:primary")).toEqual(Option.some(ref))
      expect(yield* d.run(GlobalRegistry.isRegistered("cache:primary"))).toBe(true)
      expect(yield* d.run(GlobalRegistry.getNames)).toEqual(["cache:primary"])
    }))

  it.scoped("treats the same ref again as a no-op and another live ref as a conflict", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = yield* mesh(net, ["a", "b"])
      const ref = yield* a.run(GenServer.start(worker))
      yield* a.run(GlobalRegistry.register("n", ref))
      yield* a.run(GlobalRegistry.register("n", ref))
      yield* settle(20)
      const other = yield* b!.run(GenServer.start(worker))
      const error = yield* Effect.flip(b!.run(GlobalRegistry.register("n", other)))
      expect(error).toMatchObject({ _tag: "GlobalNameConflictError", name: "n", nodeId: a!.id })
      const missing = yield* Effect.flip(b!.run(GlobalRegistry.lookup("nope")))
      expect(missing).toMatchObject({ _tag: "GlobalNameNotFoundError", name: "nope" })
    }))

  it.scoped("removes a name everywhere on unregister (from any node), on process exit, and when the owner goes down", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c] = yield* mesh(net, ["a", "b", "c"])
      const eventsOnC = yield* recordEvents(c!)
      const r1 = yield* a.run(GenServer.start(worker))
      const r2 = yield* a.run(GenServer.start(worker))
      const r3 = yield* b!.run(GenServer.start(worker))
      yield* a.run(GlobalRegistry.register("one", r1))
      yield* a.run(GlobalRegistry.register("two", r2))
      yield* b!.run(GlobalRegistry.register("three", r3))
      yield* settle(20)
      yield* c!.run(GlobalRegistry.unregister("one")) // forwarded to a, the owner
      yield* a.run(GenServer.stop(r2, { error: "crash" }))
      yield* settle(20)
      for (const node of [a!, b!, c!]) {
        expect(yield* node.run(GlobalRegistry.getNames)).toEqual(["three"])
      }
      yield* net.kill(b.id)
      yield* flush
      expect(yield* a.run(GlobalRegistry.getNames)).toEqual([])
      expect(yield* c!.run(GlobalRegistry.getNames)).toEqual([])
      expect(eventsOnC.map((e) => `${e._tag} ${e.name}`)).toEqual([
        "Registered one",
        "Registered two",
        "Registered three",
        "Unregistered one",
        "Unregistered two",
        "Unregistered three"
      ])
    }))

  it.scoped("resolves a conflict after a partition heals: one winner everywhere, the loser stopped, an event on every node", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c] = yield* mesh(net, ["a", "b", "c"])
      const events = yield* Effect.forEach([a!, b!, c!], recordEvents)
      yield* net.partition([a!.id], [b.id, c!.id])
      yield* settle(7000, 50)
      const ra = yield* a.run(GenServer.start(worker))
      const rb = yield* b!.run(GenServer.start(worker))
      yield* a.run(GlobalRegistry.register("cluster:leader", ra))
      yield* b!.run(GlobalRegistry.register("cluster:leader", rb))
      // Each side watches its contender: the loser's monitor sees why it was stopped.
      const watching = { [ra.id]: yield* a.run(GenServer.monitor(ra)), [rb.id]: yield* b!.run(GenServer.monitor(rb)) }
      stops.length = 0
      yield* net.heal
      yield* settle(15_000, 50)
      const seen = yield* Effect.forEach([a!, b!, c!], (n) => where(n, "cluster:leader"))
      expect(new Set(seen.map((o) => JSON.stringify(o))).size).toBe(1)
      const winner = Option.getOrThrow(seen[0]!)
      const loser = winner.id === ra.id ? rb : ra
      expect([ra.id, rb.id]).toContain(winner.id)
      expect(stops).toEqual([{ conflict: "cluster:leader" }])
      expect((yield* watching[loser.id]!.down).reason).toEqual({ conflict: "cluster:leader" })
      const loserNode = loser.nodeId === a!.id ? a! : b!
      expect((yield* Effect.flip(loserNode.run(GenServer.call(loser, "get"))))._tag).toBe("RemoteServerNotRunningError")
      for (const list of events) {
        expect(list.filter((e) => e._tag === "ConflictResolved")).toEqual([
          { _tag: "ConflictResolved", name: "cluster:leader", winner, loser }
        ])
      }
    }))

  it.scoped("lets the loser's node keep its process unregistered with the 'keep' strategy", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = yield* mesh(net, ["a", "b"], { onNameConflict: "keep" })
      yield* net.partition([a!.id], [b.id])
      yield* settle(7000, 50)
      const ra = yield* a.run(GenServer.start(worker))
      const rb = yield* b!.run(GenServer.start(worker))
      yield* a.run(GlobalRegistry.register("x", ra))
      yield* b!.run(GlobalRegistry.register("x", rb))
      yield* net.heal
      yield* settle(15_000, 50)
      const winner = Option.getOrThrow(yield* where(a!, "x"))
      const loser = winner.id === ra.id ? rb : ra
      const loserNode = loser.nodeId === a!.id ? a! : b!
      expect(yield* loserNode.run(GenServer.call(loser, "get"))).toBe(0)
      expect(yield* where(b, "x")).toEqual(Option.some(winner))
    }))

  it.scoped("registers through RemoteSpawn 'global', and fails a taken name with RemoteSpawnRegistrationError stopping the new process", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = yield* mesh(net, ["a", "b"])
      const first = yield* a.run(RemoteSpawn.spawn("worker", b.id, { name: "cache:primary", registration: "global" }))
      yield* settle(20)
      expect(yield* where(a!, "cache:primary")).toEqual(Option.some({ id: first.serverId, nodeId: b.id }))
      const count = yield* a.run(GenServer.processCount)
      const clash = yield* Effect.flip(
        a.run(RemoteSpawn.spawn("worker", a!.id, { name: "cache:primary", registration: "global" }))
      )
      expect(clash).toMatchObject({ _tag: "RemoteSpawnRegistrationError", name: "cache:primary" })
      expect(yield* a.run(GenServer.processCount)).toBe(count)
    }))

  it.scoped("runs the guide's singleton pattern: three contenders at once, exactly one leader", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const nodes = yield* mesh(net, ["a", "b", "c"])
      const contend = (node: SimNode) =>
        node.run(
          Effect.gen(function*() {
            if (!(yield* GlobalRegistry.isRegistered("cluster:leader"))) {
              yield* Effect.ignore(
                RemoteSpawn.spawn("worker", node.id, { name: "cluster:leader", registration: "global" })
              )
            }
          })
        )
      const fibers = yield* Effect.forEach(nodes, (n) => Effect.fork(contend(n)))
      yield* Effect.forEach(fibers, Fiber.join)
      yield* settle(100)
      const views = yield* Effect.forEach(nodes, (n) => where(n, "cluster:leader"))
      expect(new Set(views.map((v) => JSON.stringify(v))).size).toBe(1)
      const leader = Option.getOrThrow(views[0]!)
      let alive = 0
      for (const node of nodes) alive += yield* node.run(GenServer.processCount)
      expect(alive).toBe(1)
      expect(leader.nodeId).toBeDefined()
    }))
})

describe("GlobalRegistry convergence property (simulated)", () => {
  type Op =
    | { readonly op: "register"; readonly node: number; readonly name: number }
    | { readonly op: "unregister"; readonly node: number; readonly name: number }
    | { readonly op: "stop"; readonly node: number; readonly name: number }
    | { readonly op: "kill"; readonly node: number }
    | { readonly op: "partition"; readonly split: number }
    | { readonly op: "heal" }
  const node = FastCheck.integer({ min: 0, max: 4 })
  const name = FastCheck.integer({ min: 0, max: 3 })
  const op: FastCheck.Arbitrary<Op> = FastCheck.oneof(
    { weight: 4, arbitrary: FastCheck.record({ op: FastCheck.constant("register" as const), node, name }) },
    { weight: 2, arbitrary: FastCheck.record({ op: FastCheck.constant("unregister" as const), node, name }) },
    { weight: 2, arbitrary: FastCheck.record({ op: FastCheck.constant("stop" as const), node, name }) },
    { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("kill" as const), node }) },
    {
      weight: 2,
      arbitrary: FastCheck.record({
        op: FastCheck.constant("partition" as const),
        split: FastCheck.integer({ min: 1, max: 4 })
      })
    },
    { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("heal" as const) }) }
  )

  it.effect.prop(
    "after heal and quiescence every replica is identical and every name points to a live process on a live node",
    [FastCheck.integer({ min: 3, max: 5 }), FastCheck.array(op, { minLength: 1, maxLength: 12 })],
    ([size, ops]) =>
      Effect.scoped(
        Effect.gen(function*() {
          const net = yield* MemoryNetwork.make
          const nodes = yield* mesh(net, Array.from({ length: size }, (_, i) => `n${i}`))
          const alive = new Set(nodes.map((_, i) => i))
          for (const step of ops) {
            if (step.op === "heal") yield* net.heal
            else if (step.op === "partition") {
              const live = nodes.filter((_, i) => alive.has(i)).map((n) => n.id)
              yield* net.partition(live.slice(0, step.split), live.slice(step.split))
            } else if (step.op === "kill") {
              if (!alive.has(step.node % size) || alive.size <= 1) continue
              const victim = nodes[step.node % size]!
              alive.delete(step.node % size)
              yield* net.kill(victim.id)
              yield* victim.stop
            } else {
              const n = nodes[step.node % size]!
              if (!alive.has(step.node % size)) continue
              const key = `name-${step.name}`
              if (step.op === "register") {
                const ref = yield* n.run(GenServer.start(worker))
                yield* Effect.ignore(n.run(GlobalRegistry.register(key, ref)))
              } else if (step.op === "unregister") {
                // Forwarded to the owner, maybe across a partition: do not wait for the answer.
                yield* Effect.fork(Effect.ignore(n.run(GlobalRegistry.unregister(key))))
              } else {
                const ref = yield* where(n, key)
                if (Option.isSome(ref) && ref.value.nodeId === n.id) {
                  yield* Effect.ignore(n.run(GenServer.stop(ref.value)))
                }
              }
            }
            yield* settle(300, 50)
          }
          yield* net.heal
          yield* settle(25_000, 250)
          const live = nodes.filter((_, i) => alive.has(i))
          const tables = yield* Effect.forEach(
            live,
            (n) => Effect.sync(() => internalsOf(n.cluster).replica.snapshot())
          )
          for (const table of tables) expect(table).toEqual(tables[0])
          for (const [, ref] of tables[0]!) {
            const owner = live.find((n) => n.id === ref.nodeId)
            expect(owner).toBeDefined()
            const proc = internalsOf(owner!.cluster).table.resolve(ref.id)
            expect(proc?.alive).toBe(true)
          }
        })
      ),
    // Twelve runs of minutes of simulated time: a loaded machine (the suite runs two files at once) needs the room.
    { fastCheck: { numRuns: 12 }, timeout: 180_000 }
  )

  it.scoped("a peer's seq at the bound is taken without moving this node's clock past what its peers accept", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b, c] = yield* mesh(net, ["a", "b", "c"])
      const ref = yield* b!.run(GenServer.start(worker))
      const link = internalsOf(b!.cluster).membership.linkTo(a!.id)!
      link.send({
        _tag: "RegistryRegister",
        entry: { name: "edge", serverId: ref.id, nodeId: b.id, incarnation: b!.cluster.incarnation, seq: 2 ** 48 }
      })
      yield* settle(100, 10)
      yield* a.run(GlobalRegistry.register("after", yield* a.run(GenServer.start(worker))))
      yield* settle(100, 10)
      expect(Option.isSome(yield* b!.run(GlobalRegistry.whereis("after")))).toBe(true)
      expect(Option.isSome(yield* c!.run(GlobalRegistry.whereis("after")))).toBe(true)
    }))

  it.scoped("drops a registration whose Lamport seq is wild, keeping the link and the clock (one frame no longer partitions a node)", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = yield* mesh(net, ["a", "b"])
      const ref = yield* b!.run(GenServer.start(worker))
      // b, hostile, announces one of its own processes with the largest safe integer as seq.
      const link = internalsOf(b!.cluster).membership.linkTo(a!.id)!
      link.send({
        _tag: "RegistryRegister",
        entry: {
          name: "poison",
          serverId: ref.id,
          nodeId: b.id,
          incarnation: b!.cluster.incarnation,
          seq: 2 ** 53 - 1
        }
      })
      yield* settle(100, 10)
      expect(Option.isNone(yield* a.run(GlobalRegistry.whereis("poison")))).toBe(true)
      // a's own registrations still replicate, and the link never dropped.
      yield* a.run(GlobalRegistry.register("after", yield* a.run(GenServer.start(worker))))
      yield* settle(100, 10)
      expect(Option.isSome(yield* b!.run(GlobalRegistry.whereis("after")))).toBe(true)
      expect(a!.events.filter((e) => e._tag === "NodeDown")).toEqual([])
      expect(b!.events.filter((e) => e._tag === "NodeDown")).toEqual([])
    }))
})
