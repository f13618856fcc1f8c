/**
 * A man in the middle between two real nodes with a cookie (test/support/onPath.ts): the
 * relay forwards the handshake untouched, so both nodes are welcomed, and then tries what
 * anyone on the path can do. Every frame after the handshake is authenticated with a key
 * only cookie holders can derive, so an altered, replayed or injected frame closes the
 * link and is never acted on; after it the nodes reconnect and work on.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { GenServer, RemoteCall } from "../src/node.js"
import type { ServerRef } from "../src/node.js"
import { makeCodec } from "../src/wire/Codec.js"
import * as Protocol from "../src/wire/Protocol.js"
import { contains, onPath, replace } from "./support/onPath.js"
import { eventually, startNode } from "./support/tcpNodes.js"

/** Counts casts; a call answers the count, or echoes a string. */
const counter = GenServer.behavior({
  init: () => 0,
  handleCall: (msg: unknown, n: number) => [typeof msg === "string" ? msg : n, n] as const,
  handleCast: (_: unknown, n: number) => n + 1
})

/**
 * `a` dials `x` through the relay: `x` listens on 127.0.0.2 and is advertised on
 * 127.0.0.1 at the same port, where the relay listens.
 */
const pathBetween = Effect.gen(function*() {
  const x = yield* startNode("x", { host: "127.0.0.2", advertiseHost: "127.0.0.1" })
  const relay = yield* Effect.acquireRelease(
    Effect.promise(() => onPath({ host: "127.0.0.1", port: x.port }, { host: "127.0.0.2", port: x.port })),
    (relay) => Effect.promise(() => relay.close())
  )
  const a = yield* startNode("a", { seeds: [x.id] })
  expect(yield* eventually(() => a.up.includes(x.id))).toBe(true)
  const ref: ServerRef = yield* x.run(GenServer.start(counter))
  return { a, x, relay, ref }
})

/** After the attack: `a` reconnects through the (now honest) relay and reaches `ref`. */
const reconnects = (a: Effect.Effect.Success<typeof pathBetween>["a"], ref: ServerRef) =>
  Effect.gen(function*() {
    expect(yield* eventually(() => a.up.filter((id) => id === ref.nodeId).length >= 2)).toBe(true)
    return yield* a.run(RemoteCall.call(ref, "again", { timeout: "5 seconds" }))
  })

describe("a man in the middle without the cookie", () => {
  it.scopedLive("cannot alter a frame: the link closes and the altered call never runs", () =>
    Effect.gen(function*() {
      const { a, ref, relay, x } = yield* pathBetween
      relay.setEdit((direction, frame) =>
        direction === "toListener" && contains(frame, "AAAA") ? [replace(frame, "AAAA", "BBBB")] : [frame]
      )
      const result = yield* Effect.either(a.run(RemoteCall.call(ref, "AAAA", { timeout: "5 seconds" })))
      expect(result._tag).toBe("Left")
      expect(yield* eventually(() => x.down.some((d) => d.nodeId === a.id))).toBe(true)
      relay.setEdit((_, frame) => [frame])
      expect(yield* reconnects(a, ref)).toBe("again")
    }))

  it.scopedLive("cannot replay a frame: a cast duplicated on the way is handled once", () =>
    Effect.gen(function*() {
      const { a, ref, relay, x } = yield* pathBetween
      relay.setEdit((direction, frame) =>
        direction === "toListener" && contains(frame, "MARK") ? [frame, frame] : [frame]
      )
      yield* a.run(RemoteCall.cast(ref, "MARK"))
      expect(yield* eventually(() => x.down.some((d) => d.nodeId === a.id))).toBe(true)
      relay.setEdit((_, frame) => [frame])
      yield* reconnects(a, ref)
      expect(yield* x.run(GenServer.call(ref, 0))).toBe(1)
    }))

  it.scopedLive("cannot inject a frame: a Stop written into the stream is not obeyed", () =>
    Effect.gen(function*() {
      const { a, ref, relay, x } = yield* pathBetween
      const stop = Protocol.encode({ _tag: "Stop", callId: 0, serverId: ref.id, reason: makeCodec().encode("normal") })
      relay.inject("toListener", stop)
      expect(yield* eventually(() => x.down.some((d) => d.nodeId === a.id))).toBe(true)
      expect(yield* x.run(GenServer.call(ref, "alive"))).toBe("alive")
      expect(yield* reconnects(a, ref)).toBe("again")
    }))
})
