/**
 * What gossip can make a node do, against a real listener on 127.0.0.1 and a raw-socket
 * peer that gossips what it likes: members are dialed within the cap on known peers and
 * at a bounded rate, only inside `allowedHosts`, and by host name only when configured;
 * the node's other links stay up through a storm.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as net from "node:net"
import { DIAL_BURST, DIALS_PER_SECOND } from "../src/cluster/internal/gossipPolicy.js"
import { internalsOf } from "../src/cluster/internal/node.js"
import { MAX_KNOWN_PEERS } from "../src/cluster/Membership.js"
import type { NodeId } from "../src/node.js"
import { connectRaw, join } from "./support/rawPeer.js"
import { eventually, startNode } from "./support/tcpNodes.js"

/** A TCP server that counts the connections it gets and closes each at once (a member that is not there). */
const counting = (host: string) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ port: number; count: () => number; server: net.Server }>((resolve) => {
        let count = 0
        const server = net.createServer((socket) => {
          count++
          socket.destroy()
        })
        server.listen(0, host, () =>
          resolve({
            port: (server.address() as net.AddressInfo).port,
            count: () => count,
            server
          }))
      })
    ),
    ({ server }) => Effect.promise(() => new Promise<void>((r) => server.close(() => r())))
  )

/** A raw peer joined to `port` as `gossiper`, that sends one Gossip naming `members`. */
const gossip = (port: number, members: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const peer = yield* Effect.acquireRelease(
      Effect.promise(() => connectRaw(port)),
      (peer) => Effect.sync(() => peer.close())
    )
    const joined = yield* Effect.promise(() =>
      join(peer, { nodeId: "gossiper@127.0.0.1:9" as NodeId, incarnation: "1111111111111111" })
    )
    expect(joined?._tag).toBe("Welcome")
    peer.send({
      _tag: "Gossip",
      members: members.map((nodeId) => ({ nodeId: nodeId as NodeId, incarnation: "2222222222222222" }))
    })
    return peer
  })

describe("gossip from a hostile peer", () => {
  it.scopedLive("a storm of 10,000 members is capped and dialed at a bounded rate; other links stay up", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { cookie: undefined })
      const x = yield* startNode("x", { cookie: undefined, seeds: [a.id] })
      expect(yield* eventually(() => a.up.includes(x.id))).toBe(true)
      const sink = yield* counting("127.0.0.1")
      const started = Date.now()
      yield* gossip(a.port, Array.from({ length: 10_000 }, (_, i) => `m${i}@127.0.0.1:${sink.port}`))
      const membership = internalsOf(a.cluster).membership
      // Dials can only lag behind the pace, never run ahead of it.
      const withinPace = () => sink.count() <= DIAL_BURST + (DIALS_PER_SECOND * (Date.now() - started)) / 1000 + 5
      for (let i = 0; i < 10; i++) {
        expect(withinPace()).toBe(true)
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 100)))
      }
      expect(yield* eventually(() => sink.count() > DIAL_BURST)).toBe(true)
      expect(withinPace()).toBe(true)
      expect(membership.knownPeerCount()).toBeLessThanOrEqual(MAX_KNOWN_PEERS)
      expect(yield* a.cluster.isNodeConnected(x.id)).toBe(true)
      expect(a.down.filter((d) => d.nodeId === x.id)).toEqual([])
    }))

  it.scopedLive("knows no more peers than maxKnownPeers says", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { cookie: undefined, maxKnownPeers: 10 })
      const sink = yield* counting("127.0.0.1")
      yield* gossip(a.port, Array.from({ length: 50 }, (_, i) => `m${i}@127.0.0.1:${sink.port}`))
      expect(yield* eventually(() => sink.count() >= 9)).toBe(true)
      // The gossiper itself is one of the ten.
      expect(internalsOf(a.cluster).membership.knownPeerCount()).toBe(10)
    }))

  it.scopedLive("dials only inside allowedHosts", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { cookie: undefined, allowedHosts: ["127.0.0.2/32"] })
      const outside = yield* counting("127.0.0.1")
      const inside = yield* counting("127.0.0.2")
      yield* gossip(a.port, [`out@127.0.0.1:${outside.port}`, `in@127.0.0.2:${inside.port}`])
      // Both were learned from one frame: by the second dial of the allowed one, the other would have had its first.
      expect(yield* eventually(() => inside.count() >= 2)).toBe(true)
      expect(outside.count()).toBe(0)
    }))

  it.scopedLive("does not redial, outside allowedHosts, a peer that dialed in and left", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { cookie: undefined, allowedHosts: ["127.0.0.2/32"] })
      const outside = yield* counting("127.0.0.1")
      const inside = yield* counting("127.0.0.2")
      for (const nodeId of [`out@127.0.0.1:${outside.port}`, `in@127.0.0.2:${inside.port}`]) {
        const peer = yield* Effect.promise(() => connectRaw(a.port))
        expect(
          (yield* Effect.promise(() => join(peer, { nodeId: nodeId as NodeId, incarnation: "3333333333333333" })))
            ?._tag
        ).toBe("Welcome")
        peer.close()
      }
      // Both left at once: by the time the allowed one is redialed, the other would have been.
      expect(yield* eventually(() => inside.count() >= 2)).toBe(true)
      expect(outside.count()).toBe(0)
    }))

  it.scopedLive("dials a member named by host name only when told to resolve names", () =>
    Effect.gen(function*() {
      const byName = yield* counting("127.0.0.1")
      const byAddress = yield* counting("127.0.0.1")
      const members = [`n@localhost:${byName.port}`, `ip@127.0.0.1:${byAddress.port}`]
      const a = yield* startNode("a", { cookie: undefined })
      yield* gossip(a.port, members)
      expect(yield* eventually(() => byAddress.count() >= 2)).toBe(true)
      expect(byName.count()).toBe(0)
      const b = yield* startNode("b", { cookie: undefined, resolveGossipedNames: true })
      yield* gossip(b.port, members)
      expect(yield* eventually(() => byName.count() >= 1)).toBe(true)
    }))
})
