import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Layer, Logger, Option, Redacted, Scope, TestClock } from "effect"
import { internalsOf } from "../src/cluster/internal/node.js"
import { GOSSIPED_FORGET_AFTER_MS, MAX_KNOWN_PEERS } from "../src/cluster/Membership.js"
import {
  BehaviorRegistry,
  Cluster,
  ClusterConfigError,
  GenServer,
  MemoryNetwork,
  MemoryTransport
} from "../src/index.js"
import { connected, flush, settle, simId, startNode, story } from "./support/sim.js"
import type { SimNode } from "./support/sim.js"

const ids = (nodes: ReadonlyArray<SimNode>) => nodes.map((n) => n.id).sort()
const counter = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", s: number) => [s, s] as const,
  handleCast: (_: "inc", s: number) => s + 1
})

describe("Cluster join and gossip (simulated)", () => {
  it.scoped("joins three nodes into a full mesh through gossip: A seedless, B seeds A, C seeds only B", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      const c = yield* startNode(net, "c", { seeds: [simId("b")] })
      yield* settle(500)
      expect(yield* connected(a)).toEqual(ids([b, c]))
      expect(yield* connected(b)).toEqual(ids([a, c]))
      expect(yield* connected(c)).toEqual(ids([a, b]))
      expect(story(c).sort()).toEqual(["up a", "up b"])
      expect(story(a).filter((s) => s.startsWith("down"))).toEqual([])
      // Exactly one connection per pair: 3 pairs, 2 endpoints each.
      expect(yield* net.connectionCount).toBe(6)
    }))

  it.scoped("meshes 20 nodes that all seed the first one", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const first = yield* startNode(net, "n0")
      const rest = yield* Effect.forEach(Array.from({ length: 19 }, (_, i) => `n${i + 1}`), (name) =>
        startNode(net, name, { seeds: [first.id] }))
      const all = [first, ...rest]
      yield* settle(2000)
      for (const node of all) {
        expect(yield* connected(node)).toEqual(ids(all.filter((n) =>
          n !== node
        )))
        expect(node.events.filter((e) => e._tag === "NodeDown")).toEqual([])
      }
      expect(yield* net.connectionCount).toBe(20 * 19)
    }))

  it.scoped("meshes 10 nodes over links with latency without a single NodeDown", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      yield* net.setLatency("3 millis")
      const first = yield* startNode(net, "m0")
      const rest: Array<SimNode> = []
      for (let i = 1; i < 10; i++) {
        // Each seeds a different earlier node, so gossip makes many pairs dial each other at once.
        rest.push(yield* startNode(net, `m${i}`, { seeds: [[first, ...rest][Math.floor(i / 2)]!.id] }))
        yield* settle(2, 1)
      }
      const all = [first, ...rest]
      yield* settle(3000, 5)
      for (const node of all) {
        expect(yield* connected(node)).toEqual(ids(all.filter((n) => n !== node)))
        expect(story(node).filter((e) => e.startsWith("down"))).toEqual([])
        expect(story(node)).toHaveLength(9)
      }
      expect(yield* net.connectionCount).toBe(10 * 9)
    }))

  it.scoped("reaches a seed that starts late, retrying with backoff", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      yield* settle(3000, 50)
      expect(yield* connected(b)).toEqual([])
      const a = yield* startNode(net, "a")
      yield* settle(12_000, 50)
      expect(yield* connected(b)).toEqual([a.id])
      expect(story(b)).toEqual(["up a"])
    }))

  it.scoped("keeps one connection when two nodes dial each other at the same moment", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const [a, b] = yield* Effect.all(
        [startNode(net, "a", { seeds: [simId("b")] }), startNode(net, "b", { seeds: [simId("a")] })],
        { concurrency: "unbounded" }
      )
      yield* settle(3000)
      expect(yield* net.connectionCount).toBe(2)
      expect(story(a)).toEqual(["up b"])
      expect(story(b)).toEqual(["up a"])
    }))
})

describe("Cluster failure detection (simulated)", () => {
  it.scoped("reports heartbeat_timeout on both sides of a partition within the bound, and NodeUp after heal", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      const c = yield* startNode(net, "c", { seeds: [simId("a")] })
      yield* settle(500)
      const partitionedAt = yield* TestClock.currentTimeMillis
      yield* net.partition([a.id], [b.id, c.id])
      yield* settle(7000, 50)
      expect(story(a).slice(0, 2).sort()).toEqual(["up b", "up c"])
      expect(story(a).slice(2).sort()).toEqual(["down b heartbeat_timeout", "down c heartbeat_timeout"])
      expect(story(b)).toContain("down a heartbeat_timeout")
      expect(story(c)).toContain("down a heartbeat_timeout")
      expect(story(b)).not.toContain("down c heartbeat_timeout")
      // Bound: interval × threshold of silence, noticed at the next tick.
      const bound = 1000 * 5 + 1000
      for (const node of [a, b, c]) {
        node.events.forEach((e, i) => {
          if (e._tag === "NodeDown") expect(node.eventTimes[i]! - partitionedAt).toBeLessThanOrEqual(bound)
        })
      }
      yield* net.heal
      yield* settle(15_000, 50)
      expect(yield* connected(a)).toEqual(ids([b, c]))
      expect(story(a).slice(-2).sort()).toEqual(["up b", "up c"])
      expect(story(b).at(-1)).toBe("up a")
    }))

  it.scoped("turns one dropped link into exactly one down/up pair, then silence", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      yield* settle(500)
      yield* net.disconnect(a.id, b.id)
      yield* settle(30_000, 100)
      expect(story(a)).toEqual(["up b", "down b connection_closed", "up b"])
      expect(story(b)).toEqual(["up a", "down a connection_closed", "up a"])
    }))

  it.scoped("reports connection_closed at once when a node dies, and stops redialing it after forgetAfter", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      const c = yield* startNode(net, "c", { seeds: [simId("b")] })
      yield* settle(500)
      yield* net.kill(c.id)
      yield* flush
      expect(story(a).at(-1)).toBe("down c connection_closed")
      expect(story(b).at(-1)).toBe("down c connection_closed")
      // The dead node's own fibers are gone with it (in a real crash, with its process).
      yield* c.stop
      yield* settle(65_000, 500)
      const dials = yield* net.dialAttempts
      yield* settle(60_000, 1000)
      expect(yield* net.dialAttempts).toBe(dials)
    }))

  it.scoped("reports graceful_shutdown when a node's layer closes, and NodeUp when it returns as a new incarnation", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      yield* settle(500)
      const oldIncarnation = b.cluster.incarnation
      yield* b.stop
      yield* settle(100)
      expect(story(a)).toEqual(["up b", "down b graceful_shutdown"])
      const b2 = yield* startNode(net, "b", { seeds: [simId("a")] })
      yield* settle(500)
      expect(b2.cluster.incarnation).not.toBe(oldIncarnation)
      expect(story(a)).toEqual(["up b", "down b graceful_shutdown", "up b"])
    }))
})

describe("Cluster graceful shutdown (simulated)", () => {
  it.scoped("reports graceful_shutdown to peers that dialed the stopping node, not only to those it dialed", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      const c = yield* startNode(net, "c", { seeds: [simId("a")] })
      yield* settle(500)
      yield* a.stop
      yield* settle(100)
      expect(story(b)).toContain("down a graceful_shutdown")
      expect(story(c)).toContain("down a graceful_shutdown")
      expect(story(b)).not.toContain("down a connection_closed")
    }))
})

describe("Cluster service (simulated)", () => {
  it.scoped("publishes live process counts through heartbeats", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      yield* settle(500)
      yield* b.run(Effect.forEach([1, 2, 3], () => GenServer.start(counter)))
      yield* settle(1100)
      const [info] = yield* a.cluster.getConnectedNodes
      expect(info).toMatchObject({ id: b.id, host: "sim", port: 1, status: "connected", processCount: 3 })
      expect(info!.uptimeMs).toBeGreaterThan(1000)
      expect(yield* a.run(Cluster.isNodeConnected(b.id))).toBe(true)
      expect(yield* a.run(Cluster.getLocalNodeId)).toBe(a.id)
    }))

  it.scoped("with a cookie and latency, what a dialer sends the moment it is up does not break the link", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      yield* net.setLatency("5 millis")
      const a = yield* startNode(net, "a", { cookie: "c" })
      let got = 0
      yield* a.run(GenServer.start(
        GenServer.behavior({
          init: () => 0,
          handleCall: (_: "get", s: number) => [s, s] as const,
          handleCast: (_: "inc", s: number) => (got++, s + 1)
        }),
        { name: "sink" }
      ))
      const b = yield* startNode(net, "b", { cookie: "c", seeds: [simId("a")] })
      yield* b.run(Cluster.onNodeUp((id) =>
        b.run(
          Effect.forEach(Array.from({ length: 20 }), () => GenServer.cast({ id: "sink", nodeId: id }, "inc"), {
            discard: true
          })
        )
      ))
      yield* settle(500, 5)
      expect(got).toBe(20)
      expect(story(a)).toEqual(["up b"])
      expect(story(b)).toEqual(["up a"])
    }))

  it.scoped("caps the peers gossip can make a node know: a storm of 10,000 members is not dialed", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      yield* settle(500)
      // b, hostile, gossips members that do not exist.
      const members = Array.from({ length: 10_000 }, (_, i) => ({ nodeId: simId(`ghost${i}`), incarnation: "1" }))
      internalsOf(b.cluster).membership.linkTo(a.id)!.send({ _tag: "Gossip", members })
      yield* settle(100, 10)
      const known = (internalsOf(a.cluster).membership as unknown as { peers: Map<string, unknown> }).peers
      expect(known.size).toBeLessThanOrEqual(MAX_KNOWN_PEERS)
      expect(yield* connected(a)).toEqual([b.id])
    }))

  it.scoped("forgets a gossiped node it never reached after GOSSIPED_FORGET_AFTER_MS, well before forgetAfter", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      yield* settle(500)
      internalsOf(b.cluster).membership.linkTo(a.id)!.send({
        _tag: "Gossip",
        members: [{ nodeId: simId("ghost"), incarnation: "1" }]
      })
      const known = (internalsOf(a.cluster).membership as unknown as { peers: Map<string, unknown> }).peers
      yield* settle(100, 10)
      expect(known.has(simId("ghost"))).toBe(true)
      // Past the window plus one longest redial wait (the backoff cap), whatever the jitter.
      yield* settle(GOSSIPED_FORGET_AFTER_MS + 12_000, 200)
      expect(known.has(simId("ghost"))).toBe(false)
      expect(yield* connected(a)).toEqual([b.id])
    }))

  it.scoped("does not believe a heartbeat's figures past any real node, and the heartbeat still counts as life", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      yield* settle(500)
      yield* b.run(GenServer.start(counter))
      yield* settle(1100)
      // b, hostile, claims more processes than any node could run.
      internalsOf(b.cluster).membership.linkTo(a.id)!.send({
        _tag: "Heartbeat",
        processCount: 2 ** 53 - 1,
        uptimeMs: 1000
      })
      yield* settle(100, 10)
      const [info] = yield* a.cluster.getConnectedNodes
      expect(info).toMatchObject({ id: b.id, processCount: 1 })
      expect(story(a)).toEqual(["up b"])
    }))

  it.scoped("runs onNodeUp / onNodeDown callbacks; a failing one is logged and breaks nothing", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const logs: Array<string> = []
      const a = yield* startNode(net, "a")
      const seen: Array<string> = []
      yield* a.run(
        Effect.gen(function*() {
          yield* Cluster.onNodeUp((id) => {
            seen.push(`up ${id}`)
            throw new Error("callback bug")
          })
          yield* Cluster.onNodeUp((id) => Effect.sync(() => seen.push(`up2 ${id}`)))
          yield* Cluster.onNodeDown((id, reason) =>
            Promise.resolve().then(() => void seen.push(`down ${id} ${reason}`))
          )
        })
      ).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(String(message)))))
      )
      const b = yield* startNode(net, "b", { seeds: [simId("a")] })
      yield* settle(500)
      yield* b.stop
      yield* settle(100)
      expect(seen).toContain(`up ${b.id}`)
      expect(seen).toContain(`up2 ${b.id}`)
      expect(seen).toContain(`down ${b.id} graceful_shutdown`)
      expect(yield* connected(a)).toEqual([])
      expect(logs.some((l) => l.includes("onNodeUp callback failed"))).toBe(true)
    }))

  it.effect("refuses invalid configuration with ClusterConfigError naming the field and the fix", () =>
    Effect.gen(function*() {
      const cases: Array<[Cluster.ClusterConfig, string]> = [
        [{ nodeName: "1bad" }, "nodeName"],
        [{ nodeName: "a", port: 70000 }, "port"],
        [{ nodeName: "a", seeds: ["nope"] }, "seeds"],
        [{ nodeName: "a", heartbeatInterval: 0 }, "heartbeatInterval"],
        [{ nodeName: "a", heartbeatMissThreshold: 0 }, "heartbeatMissThreshold"],
        [{ nodeName: "a", reconnectBackoff: { min: "2 seconds", max: "1 second" } }, "reconnectBackoff"],
        [{ nodeName: "a", maxFrameBytes: 10 }, "maxFrameBytes"],
        [{ nodeName: "a", host: "0.0.0.0", cookie: "c" }, "advertiseHost"],
        [{ nodeName: "a", cookie: "" }, "cookie"]
      ]
      for (const [config, field] of cases) {
        const error = yield* Effect.flip(Cluster.resolveConfig(config, () => false))
        expect(error).toBeInstanceOf(ClusterConfigError)
        expect(error.field).toBe(field)
      }
      const exposed = yield* Effect.flip(
        Cluster.resolveConfig({ nodeName: "a", host: "10.0.0.5" }, (h) => h !== "127.0.0.1")
      )
      expect(exposed.field).toBe("cookie")
      expect(exposed.reason).toContain("set a cookie")
      const ok = yield* Cluster.resolveConfig({ nodeName: "a" }, () => false)
      expect(ok).toMatchObject({ host: "127.0.0.1", advertiseHost: "127.0.0.1", port: 4369, heartbeatMissThreshold: 5 })
    }))

  it.effect("reads the same configuration from NOEX_* environment variables", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromMap(
        new Map([
          ["NOEX_NODE_NAME", "envnode"],
          ["NOEX_PORT", "4400"],
          ["NOEX_SEEDS", "a@127.0.0.1:4369,b@127.0.0.1:4370"],
          ["NOEX_COOKIE", "s3cret"],
          ["NOEX_HEARTBEAT_INTERVAL", "200 millis"],
          ["NOEX_HEARTBEAT_MISS_THRESHOLD", "3"]
        ])
      )
      const config = yield* Effect.withConfigProvider(Cluster.configFromEnv, provider)
      const resolved = yield* Cluster.resolveConfig(config, () => false)
      expect(resolved.nodeName).toBe("envnode")
      expect(resolved.port).toBe(4400)
      expect(resolved.seeds).toEqual(["a@127.0.0.1:4369", "b@127.0.0.1:4370"])
      expect(Option.map(resolved.cookie, Redacted.value)).toEqual(Option.some("s3cret"))
      expect(Duration.toMillis(resolved.heartbeatInterval)).toBe(200)
      expect(resolved.heartbeatMissThreshold).toBe(3)
    }))

  it.effect("reads only the variables that are set with settingsFromEnv, a node name included", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromMap(
        new Map([["NOEX_RECONNECT_BACKOFF_MAX", "2 seconds"], ["NOEX_FORGET_AFTER", "5 seconds"]])
      )
      const settings = yield* Effect.withConfigProvider(Cluster.settingsFromEnv, provider)
      expect(Object.keys(settings).sort()).toEqual(["forgetAfter", "reconnectBackoff"])
      expect(Duration.toMillis(Duration.decode(settings.reconnectBackoff!.max))).toBe(2000)
      expect(Duration.toMillis(Duration.decode(settings.reconnectBackoff!.min))).toBe(100)
      const missing = yield* Effect.flip(Effect.withConfigProvider(Cluster.configFromEnv, provider))
      expect(String(missing)).toContain(Cluster.envNames.nodeName)
    }))

  it.scoped("builds a node in a scope with Cluster.make; closing the scope is a graceful shutdown", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make
      const a = yield* startNode(net, "a")
      const scope = yield* Scope.make()
      const context = yield* Cluster.make({ nodeName: "b", host: "sim", port: 1, seeds: [a.id] }).pipe(
        Effect.provide(Layer.merge(MemoryTransport.layer(net), BehaviorRegistry.layer({}))),
        Scope.extend(scope)
      )
      yield* settle(200, 25)
      expect(yield* Effect.provide(Cluster.getLocalNodeId, context)).toBe(simId("b"))
      expect(yield* connected(a)).toEqual([simId("b")])
      yield* Scope.close(scope, Exit.void)
      yield* flush
      expect(story(a)).toEqual(["up b", "down b graceful_shutdown"])
    }))
})
