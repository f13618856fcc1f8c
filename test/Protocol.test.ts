import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck, Schema } from "effect"
import { Packr } from "msgpackr"
import * as Protocol from "../src/wire/Protocol.js"

const pack = (value: unknown) => new Packr({ useRecords: false }).pack(value)

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
