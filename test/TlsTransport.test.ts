/**
 * TlsTransport with certificates made at test time by `openssl` (test/support/certs.ts):
 * TLS 1.3 only, both ends show a certificate, and a node may claim only an id its
 * certificate names. Real nodes on 127.0.0.1, hostile peers on raw `node:tls`.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Scope } from "effect"
import * as net from "node:net"
import * as tls from "node:tls"
import { GenServer, RemoteCall, TlsTransport } from "../src/node.js"
import type { NodeId } from "../src/node.js"
import { certDir, issue, makeCa } from "./support/certs.js"
import { connectRaw, hello } from "./support/rawPeer.js"
import { echo, eventually, startNode } from "./support/tcpNodes.js"

const scratch = certDir()
afterAll(() => scratch.cleanup())
const ca = makeCa(scratch.dir, "ca")
const otherCa = makeCa(scratch.dir, "other-ca")
const certA = issue(scratch.dir, ca, "a", ["a@127.0.0.1"])
const certB = issue(scratch.dir, ca, "b", ["b@127.0.0.1"])
const stranger = issue(scratch.dir, otherCa, "stranger", ["b@127.0.0.1"])

const withCa = (cert: { cert: string; key: string }) => TlsTransport.layer({ ...cert, ca: ca.cert })

/** A raw TLS client's attempt on `port`: the TLS protocol it got, or why it failed. */
const rawTls = (port: number, options: tls.ConnectionOptions) =>
  Effect.promise(() =>
    new Promise<string>((resolve) => {
      const socket = tls.connect({ ...options, port, host: "127.0.0.1", checkServerIdentity: () => undefined })
      socket.once("secureConnect", () => {
        // TLS 1.3 servers check the client certificate after the client's handshake ends:
        // a refusal arrives as the first read.
        socket.once("data", () => (resolve(socket.getProtocol() ?? "?"), socket.destroy()))
        socket.once("close", () => resolve("closed"))
      })
      socket.once("error", (error) => (resolve(`error: ${error.message}`), socket.destroy()))
    })
  )

describe("TlsTransport", () => {
  it.scopedLive("two nodes with certificates from one CA connect over TLS 1.3 and call each other", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { cookie: undefined, transport: withCa(certA), behaviors: { echo } })
      const b = yield* startNode("b", { cookie: undefined, transport: withCa(certB), seeds: [a.id] })
      expect(yield* eventually(() => b.up.includes(a.id))).toBe(true)
      const ref = yield* a.run(GenServer.start(echo))
      expect(yield* b.run(RemoteCall.call(ref, "over tls"))).toBe("over tls")
      // What a client with a good certificate gets: TLS 1.3, and the node's Hello.
      expect(yield* rawTls(a.port, { cert: certB.cert, key: certB.key, ca: ca.cert })).toBe("TLSv1.3")
      expect(yield* rawTls(a.port, { cert: certB.cert, key: certB.key, ca: ca.cert, maxVersion: "TLSv1.2" }))
        .toMatch(/^error/)
    }))

  it.scopedLive("refuses a peer without a certificate, one from another CA, and plain TCP", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { transport: withCa(certA) })
      expect(yield* rawTls(a.port, { ca: ca.cert })).not.toBe("TLSv1.3")
      expect(yield* rawTls(a.port, { cert: stranger.cert, key: stranger.key, ca: ca.cert })).not.toBe("TLSv1.3")
      const plain = yield* Effect.promise(() => connectRaw(a.port))
      yield* Effect.addFinalizer(() => Effect.sync(() => plain.close()))
      // A frame where TLS expects its ClientHello: the node drops the connection unanswered.
      plain.send({ _tag: "Welcome" })
      expect(yield* Effect.promise(() => plain.next())).toBeUndefined()
      expect(a.up).toEqual([])
    }))

  it.scopedLive("a peer may claim only an id its certificate names", () =>
    Effect.gen(function*() {
      const a = yield* startNode("a", { cookie: undefined, transport: withCa(certA) })
      const peer = yield* Effect.promise(() => connectRaw(a.port, { cert: certB.cert, key: certB.key, ca: ca.cert }))
      yield* Effect.addFinalizer(() => Effect.sync(() => peer.close()))
      const helloA = hello(yield* Effect.promise(() => peer.next()))
      // b's certificate, c's name.
      peer.send({
        ...helloA,
        nodeId: "c@127.0.0.1:9" as NodeId,
        incarnation: "1111111111111111",
        challenge: helloA.challenge
      })
      const answer = yield* Effect.promise(() => peer.next())
      expect(answer?._tag).toBe("Reject")
      expect(answer?._tag === "Reject" && answer.reason).toContain("certificate does not name c@127.0.0.1:9")
      expect(a.up).toEqual([])
    }))

  it.scopedLive("trusts pinned certificates without a CA, and only those", () =>
    Effect.gen(function*() {
      const pinned = TlsTransport.layer({ ...certA, pins: [TlsTransport.fingerprint(certB.cert)] })
      const a = yield* startNode("a", { cookie: undefined, transport: pinned })
      const b = yield* startNode("b", {
        cookie: undefined,
        transport: TlsTransport.layer({ ...certB, pins: [TlsTransport.fingerprint(certA.cert)] }),
        seeds: [a.id]
      })
      expect(yield* eventually(() => b.up.includes(a.id))).toBe(true)
      // A certificate of the same CA, unpinned: refused once the TLS handshake ends.
      const certC = issue(scratch.dir, ca, "c", ["c@127.0.0.1"])
      // Refused once the TLS handshake ends: closed, or reset.
      expect(yield* rawTls(a.port, { cert: certC.cert, key: certC.key, rejectUnauthorized: false })).toMatch(
        /^(closed|error)/
      )
    }))

  it.scopedLive("a dial to an address that never finishes TLS gives up at the handshake timeout; the node still closes", () =>
    Effect.gen(function*() {
      // Accepts TCP and never says a word of TLS.
      let connections = 0
      const held = new Set<net.Socket>()
      const mute = net.createServer((socket) => {
        connections++
        held.add(socket)
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((r) => mute.listen(0, "127.0.0.1", () => r()))),
        () => Effect.sync(() => (held.forEach((s) => s.destroy()), mute.close()))
      )
      const port = (mute.address() as net.AddressInfo).port
      const scope = yield* Scope.make()
      yield* startNode("a", {
        transport: withCa(certA),
        seeds: [`m@127.0.0.1:${port}`],
        handshakeTimeout: "300 millis"
      })
        .pipe(Scope.extend(scope))
      // The first dial gave up and the seed was dialed again.
      expect(yield* eventually(() => connections >= 2)).toBe(true)
      const closed = yield* Effect.exit(Effect.timeout(Scope.close(scope, Exit.void), "10 seconds"))
      expect(Exit.isSuccess(closed)).toBe(true)
    }))

  it.scopedLive("is configured from the environment; a bad configuration fails the layer", () =>
    Effect.gen(function*() {
      const env = (cert: { certFile: string; keyFile: string }) =>
        Layer.setConfigProvider(ConfigProvider.fromMap(
          new Map([
            [TlsTransport.envNames.cert, cert.certFile],
            [TlsTransport.envNames.key, cert.keyFile],
            [TlsTransport.envNames.ca, ca.certFile]
          ])
        ))
      const fromEnv = (cert: { certFile: string; keyFile: string }) =>
        TlsTransport.layerFromEnv.pipe(Layer.provide(env(cert)))
      const a = yield* startNode("a", { transport: fromEnv(certA) })
      const b = yield* startNode("b", { transport: fromEnv(certB), seeds: [a.id] })
      expect(yield* eventually(() => b.up.includes(a.id))).toBe(true)
      const noTrust = yield* Effect.exit(Layer.build(TlsTransport.layer({ cert: certA.cert, key: certA.key })))
      expect(Exit.isFailure(noTrust)).toBe(true)
      const badKey = yield* Effect.exit(
        Layer.build(TlsTransport.layer({ cert: certA.cert, key: certB.key, ca: ca.cert }))
      )
      expect(Exit.isFailure(badKey)).toBe(true)
    }))
})
