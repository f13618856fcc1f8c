/**
 * Every message two nodes exchange, as one Effect Schema tagged union. A frame's
 * payload is a msgpack map that must decode against {@link WireMessage} (or, for calls,
 * replies and casts, the same fields in a fixed binary layout); user data
 * (call and cast messages, replies, spawn arguments) rides inside as opaque bytes
 * encoded by the payload `Codec`, so the envelope is validated here and the user
 * value only when it is delivered. An unknown `_tag` or a malformed field is a
 * {@link ProtocolError} value, never an exception.
 */
import { Either, ParseResult, Schema } from "effect"
import { Packr } from "msgpackr"
import { bounded } from "../internal/handler.js"
import * as HandshakeProtocol from "./HandshakeProtocol.js"
import * as InspectProtocol from "./InspectProtocol.js"
import { decodeHotLayout, encodeHot, HOT_MARK } from "./internal/hotLayout.js"
import * as MembershipProtocol from "./MembershipProtocol.js"
import * as RegistryProtocol from "./RegistryProtocol.js"
import * as RequestProtocol from "./RequestProtocol.js"
import * as SignalProtocol from "./SignalProtocol.js"

export { PROTOCOL_NAME, PROTOCOL_VERSION } from "./HandshakeProtocol.js"
export type { RegistryFailure } from "./RegistryProtocol.js"
export type { CallFailure, SpawnFailure } from "./RequestProtocol.js"

/**
 * Every wire message: the sub-protocols side by side. Adding one is a module with
 * its `messages` here and its handlers in the cluster's dispatch table (docs/wire.md).
 */
export const WireMessage = Schema.Union(
  ...HandshakeProtocol.messages,
  ...MembershipProtocol.messages,
  ...RequestProtocol.messages,
  ...RegistryProtocol.messages,
  ...InspectProtocol.messages,
  ...SignalProtocol.messages
)

/** A decoded wire message. */
export type WireMessage = typeof WireMessage.Type

/** The tag of a wire message. */
export type Tag = WireMessage["_tag"]

/** The wire message with tag `K`. */
export type MessageOf<K extends Tag> = Extract<WireMessage, { readonly _tag: K }>

/**
 * A frame that is not a valid wire message. `unreadable`: not msgpack at all, and the
 * connection it came from is closed (its peer does not speak the protocol). `invalid`:
 * readable, but not a message this node knows (an unknown tag, a field of the wrong
 * type); after the handshake that costs only the message.
 */
export class ProtocolError extends Schema.TaggedError<ProtocolError>()("ProtocolError", {
  kind: Schema.Literal("unreadable", "invalid"),
  /** The `_tag` an invalid message claimed, when it had one. */
  tag: Schema.optional(Schema.String),
  message: Schema.String
}) {}

/**
 * The messages that answer a request. One of them that arrives unreadable leaves a
 * request waiting for an answer that will not come (a stop has no deadline), so it is
 * not dropped like other invalid messages: the link is closed, and the requests waiting
 * on it fail at once.
 */
export const ANSWER_TAGS: ReadonlySet<string> = new Set<Tag>([
  "Reply",
  "CallFailed",
  "Spawned",
  "SpawnFailed",
  "Stopped",
  "StopFailed",
  "RegistryAck",
  "RegistryFailed",
  "Inspected"
])

/**
 * The envelope codec. Plain msgpack (no records, no extensions): the envelope holds
 * only strings, numbers, byte arrays and arrays of those, and a stateless format
 * means one hostile frame cannot change how the next one is read.
 */
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false, mapsAsObjects: true })

const decodeEnvelope = Schema.decodeUnknownEither(WireMessage, { errors: "first", onExcessProperty: "ignore" })
const encodeEnvelope = Schema.encodeSync(WireMessage)

/**
 * Encodes a wire message into a frame payload. Calls, replies and casts go in their
 * binary layout when their fields fit it (wire/internal/hotLayout.ts). Messages are
 * built by this node, so only those holding error classes go through the Schema encoder
 * (to become plain tagged objects); the rest are already in their encoded form.
 */
export const encode = (message: WireMessage): Uint8Array => {
  if (message._tag === "Call" || message._tag === "Reply" || message._tag === "Cast") {
    const hot = encodeHot(message)
    if (hot !== undefined) return hot
  }
  return packr.pack(CARRY_ERRORS.has(message._tag) ? encodeEnvelope(message) : message)
}

/** The messages that hold error class instances. */
const CARRY_ERRORS: ReadonlySet<Tag> = new Set<Tag>(["CallFailed", "SpawnFailed", "StopFailed", "RegistryFailed"])

const isId = (u: unknown): u is number => typeof u === "number" && u >= 0 && Number.isSafeInteger(u)

/**
 * The messages of every call, answered or not (`Call`, `Reply`, `Cast`), when they come as
 * msgpack maps (the form of those that do not fit the binary layout), checked field by
 * field instead of through the Schema union, which costs a call about 1 KB of garbage and
 * a few µs each way. The checks are exactly the Schemas' (non-negative safe integers,
 * strings, byte arrays, excess properties dropped; test/Protocol.test.ts compares the two
 * on arbitrary input); anything they do not accept goes through the Schema, which
 * accepts or names what is wrong.
 */
const decodeHot = (raw: unknown): WireMessage | undefined => {
  if (typeof raw !== "object" || raw === null) return undefined
  const m = raw as Record<string, unknown>
  switch (m._tag) {
    case "Reply":
      return isId(m.callId) && m.payload instanceof Uint8Array
        ? { _tag: "Reply", callId: m.callId, payload: m.payload }
        : undefined
    case "Call":
      return isId(m.callId) && typeof m.serverId === "string" && isId(m.timeoutMs) && m.payload instanceof Uint8Array
        ? { _tag: "Call", callId: m.callId, serverId: m.serverId, timeoutMs: m.timeoutMs, payload: m.payload }
        : undefined
    case "Cast":
      return typeof m.serverId === "string" && m.payload instanceof Uint8Array
        ? { _tag: "Cast", serverId: m.serverId, payload: m.payload }
        : undefined
    default:
      return undefined
  }
}

/** Decodes a frame payload; malformed bytes or an invalid message give a {@link ProtocolError}. */
export const decode = (bytes: Uint8Array): Either.Either<WireMessage, ProtocolError> => {
  if (bytes[0] === HOT_MARK) {
    const result = decodeHotLayout(bytes)
    if (result.ok) return Either.right(result.message)
    // An unknown kind is a peer that does not speak this version's layout: unreadable, like bytes that are not msgpack.
    return Either.left(
      new ProtocolError({
        kind: result.tag === undefined ? "unreadable" : "invalid",
        ...(result.tag === undefined ? {} : { tag: result.tag }),
        message: result.reason
      })
    )
  }
  let raw: unknown
  try {
    raw = packr.unpack(bytes)
  } catch (error) {
    return Either.left(
      new ProtocolError({
        kind: "unreadable",
        message: `not msgpack: ${bounded(error instanceof Error ? error.message : String(error))}`
      })
    )
  }
  const hot = decodeHot(raw)
  if (hot !== undefined) return Either.right(hot)
  return Either.mapLeft(
    decodeEnvelope(raw),
    (error) => {
      const tag = typeof raw === "object" && raw !== null ? (raw as { _tag?: unknown })._tag : undefined
      return new ProtocolError({
        kind: "invalid",
        ...(typeof tag === "string" ? { tag: bounded(tag) } : {}),
        message: bounded(ParseResult.TreeFormatter.formatErrorSync(error))
      })
    }
  )
}
