/**
 * The signal sub-protocol against a raw peer over TCP: what a restarted peer is sent.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { internalsOf } from "../src/cluster/internal/node.js"
import { GenServer } from "../src/node.js"
import type { NodeId } from "../src/node.js"
import { makeCodec } from "../src/wire/Codec.js"
import { connectRaw, join } from "./support/rawPeer.js"
import type { RawPeer } from "./support/rawPeer.js"
import { echo, eventually, startNode } from "./support/tcpNodes.js"

const claimB = { nodeId: "b@127.0.0.1:9" as NodeId, cookie: "the-cookie" }

describe("signals from a raw peer", () => {
  it.scopedLive("a restarted peer is not sent its predecessor's Downs or exits", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { heartbeatInterval: "200 millis", heartbeatMissThreshold: 50 })
      const target = yield* a.run(GenServer.start(echo))
      const old = yield* Effect.promise(() => connectRaw(a.port))
      yield* Effect.addFinalizer(() => Effect.sync(() => old.close()))
      const welcomed = yield* Effect.promise(() => join(old, { ...claimB, incarnation: "1111111111111111" }))
      expect(welcomed?._tag).toBe("Welcome")
      // The old incarnation links its process with ours and monitors it.
      // The old incarnation links two of its processes with ours and monitors it.
      old.send({ _tag: "Link", from: "b-old-1", to: target.id })
      old.send({ _tag: "Link", from: "b-old-2", to: target.id })
      old.send({ _tag: "Monitor", monitorId: 7, serverId: target.id })
      const node = internalsOf(a.cluster)
      expect(yield* eventually(() => node.signals.size.held === 1 && node.table.links.size === 2)).toBe(true)
      // A new incarnation takes the name over before the old one's link is seen to go.
      let fresh: RawPeer | undefined
      yield* Effect.addFinalizer(() => Effect.sync(() => fresh?.close()))
      yield* Effect.promise(async () => {
        for (const end = Date.now() + 10_000; Date.now() < end;) {
          const peer = await connectRaw(a.port)
          if ((await join(peer, { ...claimB, incarnation: "2222222222222222" }))?._tag === "Welcome") {
            fresh = peer
            return
          }
          peer.close()
          await new Promise((r) => setTimeout(r, 20))
        }
      })
      expect(fresh).toBeDefined()
      // The linked process went down with the old link (noconnection): anything it answered
      // the old incarnation would be queued before the reply to this call.
      const probe = yield* a.run(GenServer.start(echo))
      fresh!.send({ _tag: "Call", callId: 1, serverId: probe.id, timeoutMs: 5000, payload: makeCodec().encode("ping") })
      const before: Array<string> = []
      yield* Effect.promise(async () => {
        for (const end = Date.now() + 10_000; Date.now() < end;) {
          const m = await fresh!.next(1000)
          if (m === undefined) continue
          if (m._tag === "Reply") return
          before.push(m._tag)
        }
      })
      expect(before.filter((tag) => tag === "Down" || tag === "Exit")).toEqual([])
      expect(node.table.resolve(target.id)).toBeUndefined()
    }))
})
