import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck, Schema } from "effect"
import { Packr } from "msgpackr"
import * as Protocol from "../src/wire/Protocol.js"

const pack = (value: unknown) => new Packr({ useRecords: false }).pack(value)

/** ES2024 `String.prototype.isWellFormed` (Node >= 20; the project's lib is older). */
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed()

/**
 * Buffers and Uint8Arrays compare as their bytes; class instances as their fields; -0 as 0
 * (msgpack writes a float that is an integer as an integer, and integers have no -0: a
 * number field of an error, such as a limit, arrives as 0).
 */
const plain = (value: unknown): unknown =>
  Object.is(value, -0)
    ? 0
    : value instanceof Uint8Array
    ? { bytes: Array.from(value) }
    : Array.isArray(value)
    ? value.map(plain)
    : typeof value === "object" && value !== null
    ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]))
    : value

describe("Protocol", () => {
  it.prop("round-trips every wire message", [Arbitrary.make(Protocol.WireMessage)], ([message]) => {
    const decoded = Protocol.decode(Protocol.encode(message))
    expect(plain(Either.getOrThrow(decoded))).toEqual(plain(message))
  })

  it.prop(
    "decodes calls, replies and casts exactly as the Schema does, whatever their fields hold",
    [
      FastCheck.record({
        _tag: FastCheck.constantFrom("Call", "Reply", "Cast"),
        callId: FastCheck.oneof(FastCheck.nat(), FastCheck.integer(), FastCheck.double(), FastCheck.string()),
        serverId: FastCheck.oneof(FastCheck.string(), FastCheck.nat()),
        timeoutMs: FastCheck.oneof(FastCheck.nat(), FastCheck.double(), FastCheck.constant(2 ** 53)),
        payload: FastCheck.oneof(FastCheck.uint8Array(), FastCheck.string()),
        extra: FastCheck.string()
      }, { requiredKeys: ["_tag"] })
    ],
    ([raw]) => {
      const fast = Protocol.decode(pack(raw))
      const schema = Schema.decodeUnknownEither(Protocol.WireMessage, { onExcessProperty: "ignore" })(
        new Packr({ useRecords: false, mapsAsObjects: true }).unpack(pack(raw))
      )
      expect(Either.isRight(fast)).toBe(Either.isRight(schema))
      if (Either.isRight(fast) && Either.isRight(schema)) expect(plain(fast.right)).toEqual(plain(schema.right))
    }
  )

  it.prop(
    "writes calls, replies and casts in the binary layout when they fit it, and reads both forms alike",
    [
      FastCheck.record({
        _tag: FastCheck.constantFrom("Call" as const, "Reply" as const, "Cast" as const),
        callId: FastCheck.oneof(FastCheck.nat(), FastCheck.constant(0xffff_ffff), FastCheck.constant(2 ** 32)),
        serverId: FastCheck.oneof(
          FastCheck.string(),
          FastCheck.string({ unit: "binary" }),
          FastCheck.string({ unit: "grapheme", minLength: 60, maxLength: 120 }),
          FastCheck.constant("\ud800"),
          FastCheck.string({ minLength: 255, maxLength: 256 })
        ),
        timeoutMs: FastCheck.oneof(FastCheck.nat(), FastCheck.constant(2 ** 31 - 1), FastCheck.constant(2 ** 40)),
        payload: FastCheck.uint8Array({ maxLength: 64 })
      })
    ],
    ([m]) => {
      const message = m._tag === "Reply"
        ? { _tag: m._tag, callId: m.callId, payload: m.payload }
        : m._tag === "Cast"
        ? { _tag: m._tag, serverId: m.serverId, payload: m.payload }
        : m
      const bytes = Protocol.encode(message)
      const idFits = Buffer.byteLength(m.serverId) <= 255 && isWellFormed(m.serverId)
      const fits = m._tag === "Reply"
        ? m.callId <= 0xffff_ffff
        : m._tag === "Cast"
        ? idFits
        : idFits && m.callId <= 0xffff_ffff && m.timeoutMs <= 0xffff_ffff
      expect(bytes[0] === 0xc1).toBe(fits)
      const binary = Either.getOrThrow(Protocol.decode(bytes))
      const map = Either.getOrThrow(Protocol.decode(pack(message)))
      // msgpack's UTF-8 cannot carry a lone surrogate (the payload codec checks for them; ids are not user values).
      if (m._tag === "Reply" || isWellFormed(m.serverId)) expect(plain(binary)).toEqual(plain(message))
      expect(plain(map)).toEqual(plain(binary))
    }
  )

  it("refuses a binary frame cut inside its header as invalid, with the tag it claimed", () => {
    const call = Protocol.encode({
      _tag: "Call",
      callId: 7,
      serverId: "p1",
      timeoutMs: 5000,
      payload: new Uint8Array([1])
    })
    const reply = Protocol.encode({ _tag: "Reply", callId: 7, payload: new Uint8Array() })
    const cast = Protocol.encode({ _tag: "Cast", serverId: "p1", payload: new Uint8Array() })
    const cuts = [[call, "Call", 12], [reply, "Reply", 5], [cast, "Cast", 4]] as const
    for (const [bytes, tag, keep] of cuts) {
      for (let length = 2; length <= keep; length++) {
        const result = Protocol.decode(bytes.subarray(0, length))
        expect(Either.isLeft(result) && result.left.kind === "invalid" && result.left.tag === tag).toBe(true)
      }
      expect(Either.isRight(Protocol.decode(bytes))).toBe(true)
    }
    const unknown = Protocol.decode(new Uint8Array([0xc1, 0x09, 0, 0, 0, 1]))
    expect(Either.isLeft(unknown) && unknown.left.kind === "unreadable").toBe(true)
  })

  it.prop(
    "never throws on arbitrary bytes after the binary mark",
    [FastCheck.integer({ min: 0, max: 4 }), FastCheck.uint8Array({ maxLength: 64 })],
    ([kind, rest]) => {
      const result = Protocol.decode(new Uint8Array([0xc1, kind, ...rest]))
      expect(Either.isLeft(result) || Either.isRight(result)).toBe(true)
    }
  )

  it("gives a typed ProtocolError for an unknown tag, a malformed field, or bytes that are not msgpack", () => {
    const unknown = Protocol.decode(pack({ _tag: "TakeOver" }))
    const malformed = Protocol.decode(
      pack({ _tag: "Call", callId: -1, serverId: "x", timeoutMs: 5, payload: new Uint8Array() })
    )
    const missing = Protocol.decode(pack({ _tag: "Reply", callId: 1 }))
    const garbage = Protocol.decode(new Uint8Array([0xc1, 0xff, 0x00]))
    const empty = Protocol.decode(new Uint8Array())
    for (const result of [unknown, malformed, missing, garbage, empty]) {
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) expect(result.left._tag).toBe("ProtocolError")
    }
  })

  it.prop("never throws on arbitrary bytes", [FastCheck.uint8Array({ maxLength: 256 })], ([bytes]) => {
    const result = Protocol.decode(bytes)
    expect(Either.isLeft(result) || Either.isRight(result)).toBe(true)
  })

  it("carries typed errors across the wire as their classes", () => {
    const error = { _tag: "RemoteServerNotRunningError", serverId: "s1", nodeId: "a@127.0.0.1:1" }
    const decoded = Either.getOrThrow(Protocol.decode(pack({ _tag: "CallFailed", callId: 3, error })))
    expect(decoded._tag).toBe("CallFailed")
    if (decoded._tag === "CallFailed") {
      expect(decoded.error._tag).toBe("RemoteServerNotRunningError")
      expect(decoded.error).toBeInstanceOf(Error)
    }
  })

  it("refuses an error whose node id is not a NodeId: an id a peer sends is checked like any other", () => {
    for (const nodeId of ["not an id", "a@127.0.0.1:0", "", "a@@b:1"]) {
      const error = { _tag: "RemoteServerNotRunningError", serverId: "s1", nodeId }
      const decoded = Protocol.decode(pack({ _tag: "CallFailed", callId: 3, error }))
      expect(Either.isLeft(decoded)).toBe(true)
    }
  })
})
