/**
 * One authenticated peer (a raw socket that holds the cookie, test/support/rawPeer.ts)
 * that sends well-formed messages meant to mislead: it cannot answer another node's
 * call, and no sequence of what it may send breaks the calls between honest nodes.
 * Real nodes on 127.0.0.1.
 */
import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Effect, FastCheck as fc, Metric, Schedule } from "effect"
import { Redacted } from "effect"
import { mailboxDrops } from "../src/internal/mailbox.js"
import { GenServer, GlobalRegistry, RemoteCall } from "../src/node.js"
import type { NodeId, ServerRef } from "../src/node.js"
import { makeCodec } from "../src/wire/Codec.js"
import * as Protocol from "../src/wire/Protocol.js"
import type { WireMessage } from "../src/wire/Protocol.js"
import { connectRaw, join } from "./support/rawPeer.js"
import type { RawPeer } from "./support/rawPeer.js"
import { cookie, eventually, startNode } from "./support/tcpNodes.js"

/** Answers a call after `ms` milliseconds: the window a forger has. */
const slow = GenServer.behavior({
  init: () => 0,
  handleCall: (msg: { readonly echo: unknown; readonly ms: number }, s: number) =>
    Effect.as(Effect.sleep(msg.ms), [msg.echo, s] as const),
  handleCast: (_: unknown, s: number) => s
})

const codec = makeCodec()

const joined = (port: number, name: string) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const peer = yield* Effect.promise(() => connectRaw(port))
      const answer = yield* Effect.promise(() =>
        join(peer, {
          nodeId: `${name}@127.0.0.1:9` as NodeId,
          incarnation: "1111111111111111",
          cookie: Redacted.value(cookie)
        })
      )
      expect(answer?._tag).toBe("Welcome")
      return peer
    }),
    (peer: RawPeer) => Effect.sync(() => peer.close())
  )

const HANDSHAKE_TAGS = new Set(["Hello", "Proof", "Welcome", "Reject"])

/**
 * Every message a peer can send after the handshake, well-formed (a late handshake
 * message just closes its own link, test/Link.test.ts); gossip names only a closed
 * port, so no storm of real dials.
 */
const hostileMessage: fc.Arbitrary<WireMessage> = Arbitrary.make(Protocol.WireMessage).filter((m) =>
  !HANDSHAKE_TAGS.has(m._tag)
).map((message) =>
  message._tag === "Gossip"
    ? { ...message, members: message.members.slice(0, 3).map((m) => ({ ...m, nodeId: "m@127.0.0.1:1" as NodeId })) }
    : message
)

/** Counts casts slowly: a flood piles up in its mailbox. */
const sluggish = GenServer.behavior({
  init: () => 0,
  handleCall: (_: "get", n: number) => [n, n] as const,
  handleCast: (_: unknown, n: number) => Effect.as(Effect.sleep("10 millis"), n + 1)
})

/** A call to nobody sent after everything else: once answered (or the link closed), the node has read it all. */
const drained = (peer: RawPeer, probe: number) =>
  Effect.promise(async () => {
    peer.send({ _tag: "Call", callId: probe, serverId: "nobody", timeoutMs: 5000, payload: codec.encode(0) })
    for (let m = await peer.next(); m !== undefined; m = await peer.next()) {
      if (m._tag === "CallFailed" && m.callId === probe) return
    }
  })

describe("a hostile authenticated peer", () => {
  it.scopedLive("a poisoned registry seq is dropped, not propagated, and the link stays", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a")
      const x = yield* startNode("x", { seeds: [a.id] })
      expect(yield* eventually(() => a.up.includes(x.id))).toBe(true)
      const poisoner = yield* joined(a.port, "poisoner")
      poisoner.send({
        _tag: "RegistryRegister",
        entry: {
          name: "poison",
          serverId: "p.1",
          nodeId: "poisoner@127.0.0.1:9" as NodeId,
          incarnation: "1111111111111111",
          seq: 2 ** 53 - 1
        }
      })
      yield* drained(poisoner, 1)
      expect(poisoner.closed()).toBe(false)
      expect((yield* a.run(GlobalRegistry.whereis("poison")))._tag).toBe("None")
      // The clocks still work: a name registered now replicates to x.
      yield* a.run(GlobalRegistry.register("after", yield* a.run(GenServer.start(slow))))
      yield* x.run(GlobalRegistry.whereis("after")).pipe(
        Effect.repeat({ until: (found) => found._tag === "Some", schedule: Schedule.spaced("20 millis") }),
        Effect.timeout("10 seconds")
      )
      expect((yield* x.run(GlobalRegistry.whereis("poison")))._tag).toBe("None")
      expect(a.down).toEqual([])
    }))

  it.scopedLive("a cast flood to a slow process is bounded by the mailbox limit; drops are counted", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { mailboxLimit: 100 })
      const ref = yield* a.run(GenServer.start(sluggish))
      const flooder = yield* joined(a.port, "flooder")
      const casts = 5000
      for (let i = 0; i < casts; i++) flooder.send({ _tag: "Cast", serverId: ref.id, payload: codec.encode(i) })
      yield* drained(flooder, 1)
      const dropped = (yield* Metric.value(mailboxDrops(a.id))).count
      // The mailbox is still full of the flood: ask until there is room.
      const handled = yield* a.run(GenServer.call<number>(ref, "get", { timeout: "30 seconds" })).pipe(
        Effect.retry({ while: (e) => e._tag === "MailboxFullError", schedule: Schedule.spaced("50 millis") })
      )
      expect(handled + dropped).toBe(casts)
      expect(handled).toBeLessThan(1000)
      expect(flooder.closed()).toBe(false)
    }))

  it.scopedLive("cannot answer another node's call: a forged Reply is ignored and the real one arrives", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a")
      const x = yield* startNode("x", { seeds: [a.id], behaviors: { slow } })
      expect(yield* eventually(() => a.up.includes(x.id))).toBe(true)
      const ref = yield* x.run(GenServer.start(slow))
      const forger = yield* joined(a.port, "forger")
      const call = yield* a.run(RemoteCall.call(ref, { echo: "real", ms: 300 }, { timeout: "10 seconds" })).pipe(
        Effect.fork
      )
      // Every id a's calls could have: the forger's answers are not from the node the call went to.
      for (let callId = 1; callId <= 2000; callId++) {
        forger.send({ _tag: "Reply", callId, payload: codec.encode("forged") })
      }
      expect(yield* call.await.pipe(Effect.flatten)).toBe("real")
      expect(forger.closed()).toBe(false)
    }))

  it.scopedLive("no sequence of well-formed messages from it breaks the calls between honest nodes", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a")
      const x = yield* startNode("x", { seeds: [a.id] })
      expect(yield* eventually(() => a.up.includes(x.id))).toBe(true)
      const ref: ServerRef = yield* a.run(GenServer.start(slow))
      const name = `honest-${Math.random().toString(36).slice(2)}`
      yield* x.run(GlobalRegistry.register(name, yield* x.run(GenServer.start(slow))))
      let run = 0
      let closedLinks = 0
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(hostileMessage, { minLength: 1, maxLength: 30 }), async (messages) => {
            const program = Effect.gen(function*() {
              const hostile = yield* joined(a.port, `h${run++}`)
              for (const message of messages) hostile.send(message)
              // A call to nobody behind them: once it is answered (or the link is closed), a has read them all.
              const probe = 0x7fff_0000 + run
              hostile.send({
                _tag: "Call",
                callId: probe,
                serverId: "nobody",
                timeoutMs: 5000,
                payload: codec.encode(0)
              })
              yield* Effect.promise(async () => {
                for (let m = await hostile.next(); m !== undefined; m = await hostile.next()) {
                  if (m._tag === "CallFailed" && m.callId === probe) return
                }
              })
              if (hostile.closed()) closedLinks++
              // The honest call goes after the whole sequence on its own link.
              expect(yield* x.run(RemoteCall.call(ref, { echo: run, ms: 0 }, { timeout: "5 seconds" }))).toBe(run)
              expect(yield* a.cluster.isNodeConnected(x.id)).toBe(true)
              expect((yield* a.run(GlobalRegistry.whereis(name)))._tag).toBe("Some")
            })
            await Effect.runPromise(Effect.scoped(program))
          }),
          { numRuns: 60 }
        )
      )
      expect(a.down.filter((d) => d.nodeId === x.id)).toEqual([])
      console.log(`hostile sequences: ${run}, of which a closed the hostile link on ${closedLinks}`)
    }))
})
