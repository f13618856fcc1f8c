/**
 * The handshake against a hostile peer on raw `node:net` (test/support/rawPeer.ts),
 * with real nodes listening on 127.0.0.1: a peer without the cookie cannot be welcomed
 * by relaying two nodes' messages to each other, and a handshake that never proves
 * does not hold the pair's slot against the real node.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { internalsOf } from "../src/cluster/internal/node.js"
import { GenServer } from "../src/node.js"
import type { NodeId } from "../src/node.js"
import { outboxHardCap } from "../src/transport/Transport.js"
import { makeCodec } from "../src/wire/Codec.js"
import { DEFAULT_MAX_FRAME_BYTES } from "../src/wire/Frame.js"
import { connectRaw, hello, join } from "./support/rawPeer.js"
import type { RawPeer } from "./support/rawPeer.js"
import { echo, eventually, startNode } from "./support/tcpNodes.js"

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

  it.scopedLive("a peer that floods calls and never reads is pushed back, then cut as a slow consumer, its outbox bounded", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { cookie: undefined, behaviors: { echo } })
      const ref = yield* Effect.provide(GenServer.start(echo), a.context)
      const peer = yield* Effect.promise(() => connectRaw(a.port))
      yield* Effect.addFinalizer(() => Effect.sync(() => peer.close()))
      const helloA = hello(yield* Effect.promise(() => peer.next()))
      const hogId = "hog@127.0.0.1:9" as NodeId
      peer.send({ ...helloA, nodeId: hogId, incarnation: "1111111111111111" })
      peer.send({ _tag: "Welcome" })
      expect((yield* Effect.promise(() => peer.next()))?._tag).toBe("Welcome")
      peer.stopReading()
      // 64 KiB answers to calls it never reads, in rounds, watching what a queues for it.
      const payload = makeCodec().encode(new Uint8Array(64 * 1024))
      let largest = 0
      let pushedBack = 0
      const down = yield* Effect.promise(async () => {
        for (let round = 0; round < 400 && !peer.closed(); round++) {
          for (let i = 0; i < 16; i++) {
            peer.send({ _tag: "Call", callId: round * 16 + i + 1, serverId: ref.id, timeoutMs: 60_000, payload })
          }
          await new Promise((r) => setTimeout(r, 5))
          const link = internalsOf(a.cluster).membership.linkTo(hogId)
          if (link !== undefined) largest = Math.max(largest, link.connection.queuedBytes())
          pushedBack = Math.max(pushedBack, peer.queuedBytes())
          const event = a.down.find((d) => d.nodeId === hogId)
          if (event !== undefined) return event
        }
        return undefined
      })
      expect(down?.reason).toBe("slow_consumer")
      expect(largest).toBeLessThanOrEqual(outboxHardCap(DEFAULT_MAX_FRAME_BYTES))
      // Past the high-water mark a stopped reading the hog: its requests backed up on its own side.
      expect(pushedBack).toBeGreaterThan(4 * 1024 * 1024)
    }))
})

describe("a new incarnation of a connected node", () => {
  const claimB = { nodeId: "b@127.0.0.1:9" as NodeId, cookie: "the-cookie" }
  /** `b`'s first incarnation, joined over a raw socket; `beating` keeps its heartbeats coming. */
  const oldIncarnation = (a: Effect.Effect.Success<ReturnType<typeof startNode>>, beating: boolean) =>
    Effect.gen(function*() {
      const old = yield* Effect.promise(() => connectRaw(a.port))
      let timer: ReturnType<typeof setInterval> | undefined
      yield* Effect.addFinalizer(() => Effect.sync(() => (clearInterval(timer), old.close())))
      expect((yield* Effect.promise(() => join(old, { ...claimB, incarnation: "1111111111111111" })))?._tag)
        .toBe("Welcome")
      // Heartbeats only once joined: one in the middle of the handshake would break it.
      if (beating) timer = setInterval(() => old.send({ _tag: "Heartbeat", processCount: 0, uptimeMs: 1 }), 50)
      expect(yield* eventually(() => a.up.includes(claimB.nodeId))).toBe(true)
    })
  const attempt = (port: number) =>
    Effect.acquireUseRelease(
      Effect.promise(() => connectRaw(port)),
      (peer) => Effect.promise(() => join(peer, { ...claimB, incarnation: "2222222222222222" })),
      (peer) => Effect.sync(() => peer.close())
    )

  it.scopedLive("does not replace a link that is alive, even with the cookie", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { heartbeatInterval: "200 millis" })
      yield* oldIncarnation(a, true)
      const answer = yield* attempt(a.port)
      expect(answer?._tag).toBe("Reject")
      expect(answer?._tag === "Reject" && answer.reason).toContain("is alive")
      expect(a.down).toEqual([])
    }))

  it.scopedLive("replaces it once the old link went silent", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { heartbeatInterval: "200 millis", heartbeatMissThreshold: 50 })
      yield* oldIncarnation(a, false)
      // Dial as the new incarnation until welcomed, and keep that link.
      let kept: RawPeer | undefined
      yield* Effect.addFinalizer(() => Effect.sync(() => kept?.close()))
      const welcomed = yield* Effect.promise(async () => {
        for (const end = Date.now() + 10_000; Date.now() < end;) {
          const peer = await connectRaw(a.port)
          if ((await join(peer, { ...claimB, incarnation: "2222222222222222" }))?._tag === "Welcome") {
            kept = peer
            return true
          }
          peer.close()
          await new Promise((r) => setTimeout(r, 20))
        }
        return false
      })
      expect(welcomed).toBe(true)
      // The old link went before the failure detector (50 intervals) would have cut it.
      expect(yield* eventually(() => a.up.filter((id) => id === claimB.nodeId).length === 2)).toBe(true)
      expect(a.down.map((d) => d.nodeId)).toEqual([claimB.nodeId])
    }))
})
