/**
 * The handshake against a hostile peer on raw `node:net` (test/support/rawPeer.ts),
 * with real nodes listening on 127.0.0.1: a peer without the cookie cannot be welcomed
 * by relaying two nodes' messages to each other, and a handshake that never proves
 * does not hold the pair's slot against the real node.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import { BehaviorRegistry, Cluster, TcpTransport } from "../src/node.js"
import type { NodeId } from "../src/node.js"
import type { WireMessage } from "../src/wire/Protocol.js"
import { connectRaw } from "./support/rawPeer.js"

const cookie = Redacted.make("the-cookie")

const startNode = (name: string, options: Partial<Cluster.ClusterConfig> = {}) =>
  Effect.gen(function*() {
    const context = yield* Cluster.make({ nodeName: name, port: 0, cookie, ...options }).pipe(
      Effect.provide(Layer.merge(TcpTransport.layer, BehaviorRegistry.layer({})))
    )
    const cluster = Context.get(context, Cluster.Cluster)
    const up: Array<NodeId> = []
    yield* cluster.onNodeUp((id) => void up.push(id))
    return { cluster, id: cluster.localNodeId, port: Number(cluster.localNodeId.split(":").pop()), up }
  })

/** Polls `check` every 20 ms until it holds or `withinMs` passed; returns whether it held. */
const eventually = (check: () => boolean, withinMs = 10_000) =>
  Effect.promise(async () => {
    const end = Date.now() + withinMs
    while (Date.now() < end) {
      if (check()) return true
      await new Promise((r) => setTimeout(r, 20))
    }
    return check()
  })

const hello = (m: WireMessage | undefined) => {
  if (m?._tag !== "Hello") throw new Error(`expected Hello, got ${m?._tag}`)
  return m
}

describe("handshake against a hostile peer", () => {
  it.scopedLive("a relay without the cookie is not welcomed: neither node proves before the dialer has", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { handshakeTimeout: "1 second" })
      const x = yield* startNode("x", { handshakeTimeout: "1 second" })
      const toX = yield* Effect.promise(() => connectRaw(x.port))
      const toA = yield* Effect.promise(() => connectRaw(a.port))
      yield* Effect.addFinalizer(() => Effect.sync(() => (toX.close(), toA.close())))
      // The attack of the review: claim x to a and relay each node's challenge to the other.
      const helloX = hello(yield* Effect.promise(() => toX.next()))
      const helloA = hello(yield* Effect.promise(() => toA.next()))
      toA.send({ ...helloX, nodeId: x.id, challenge: helloX.challenge })
      toX.send({ ...helloA, nodeId: "m@127.0.0.1:9" as NodeId, challenge: helloA.challenge })
      // Relay x's proof to a, answer a's Welcome with one, and keep reading until a hangs up.
      yield* Effect.promise(async () => {
        const fromX = await toX.next()
        if (fromX?._tag === "Proof") toA.send(fromX)
        for (let m = await toA.next(); m !== undefined; m = await toA.next()) {
          if (m._tag === "Proof") toX.send(m)
          if (m._tag === "Welcome") toA.send({ _tag: "Welcome" })
        }
      })
      expect(toA.closed()).toBe(true)
      expect(a.up).toEqual([])
      expect(yield* a.cluster.isNodeConnected(x.id)).toBe(false)
    }))

  it.scopedLive("a handshake that claims a node and never proves does not keep that node out", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { handshakeTimeout: "60 seconds" })
      const squatter = yield* Effect.promise(() => connectRaw(a.port))
      yield* Effect.addFinalizer(() => Effect.sync(() => squatter.close()))
      const helloA = hello(yield* Effect.promise(() => squatter.next()))
      // Claims the id the real x will have, then stays silent.
      const x = yield* startNode("x", { seeds: [a.id] })
      squatter.send({ ...helloA, nodeId: x.id, incarnation: "0000000000000000" })
      expect(yield* eventually(() => a.up.includes(x.id))).toBe(true)
      expect(yield* a.cluster.isNodeConnected(x.id)).toBe(true)
    }))
})
