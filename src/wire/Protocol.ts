/**
 * Every message two nodes exchange, as one Effect Schema tagged union. A frame's
 * payload is a msgpack map that must decode against {@link WireMessage}; user data
 * (call and cast messages, replies, spawn arguments) rides inside as opaque bytes
 * encoded by the payload `Codec`, so the envelope is validated here and the user
 * value only when it is delivered. An unknown `_tag` or a malformed field is a
 * {@link ProtocolError} value, never an exception.
 */
import { Either, ParseResult, Schema } from "effect"
import { Packr } from "msgpackr"
import * as Errors from "../errors.js"
import { NodeId } from "../NodeId.js"

/** Version of this protocol; a peer speaking another one is refused at the handshake. */
export const PROTOCOL_VERSION = 1

/** The protocol's name, sent in `Hello` so a stray client of another protocol is told apart. */
export const PROTOCOL_NAME = "noex-effect"

const Int = Schema.Int
const NonNegativeInt = Schema.NonNegativeInt
const Bytes = Schema.Uint8ArrayFromSelf
const ServerId = Schema.String

const tagged = <Tag extends string, Fields extends Schema.Struct.Fields>(tag: Tag, fields: Fields) =>
  Schema.TaggedStruct(tag, fields).annotations({ identifier: tag })

// ---- handshake (docs/wire.md, "Handshake") -----------------------------------------------------

/** Step 1, both sides: who I am and, when a cookie is configured, a fresh challenge. */
export const Hello = tagged("Hello", {
  protocol: Schema.Literal(PROTOCOL_NAME),
  version: Int,
  nodeId: NodeId.schema,
  incarnation: Schema.String,
  auth: Schema.Literal("none", "hmac-sha256"),
  challenge: Bytes,
  /** The largest frame the sender accepts: the peer checks what it sends against it (absent: the peer's own limit). */
  maxFrameBytes: Schema.optionalWith(NonNegativeInt, { exact: true })
})

/** Step 3, both sides: HMAC-SHA256 over the peer's challenge, proving the cookie without sending it. */
export const Proof = tagged("Proof", { mac: Bytes })

/** Step 4, both sides: I accept you; the link is up once both have sent and received it. */
export const Welcome = tagged("Welcome", {})

/** Any step: I refuse this connection, and why; the sender closes it. */
export const Reject = tagged("Reject", { reason: Schema.String })

// ---- membership -------------------------------------------------------------------------------

/** A member as gossiped: its id and incarnation. */
export const Member = Schema.Struct({ nodeId: NodeId.schema, incarnation: Schema.String })

/** Liveness and load: sent every heartbeat interval (any frame counts as life). */
export const Heartbeat = tagged("Heartbeat", { processCount: NonNegativeInt, uptimeMs: NonNegativeInt })

/** The members the sender is connected to, so every node connects to every other. */
export const Gossip = tagged("Gossip", { members: Schema.Array(Member) })

/** The sender is shutting down gracefully; the receiver reports `graceful_shutdown`. */
export const Goodbye = tagged("Goodbye", {})

// ---- processes --------------------------------------------------------------------------------

/** Errors a remote call or stop can be answered with. */
export const CallFailure = Schema.Union(
  Errors.NodeNotReachableError,
  Errors.GlobalNameConflictError,
  Errors.RemoteServerNotRunningError,
  Errors.RemoteHandlerError,
  Errors.InvalidMessageError,
  Errors.RemoteCallTimeoutError,
  Errors.MessageTooLargeError
)

/** An error a remote call or stop can be answered with. */
export type CallFailure = typeof CallFailure.Type

/** Errors a remote spawn can be answered with. */
export const SpawnFailure = Schema.Union(
  Errors.BehaviorNotFoundError,
  Errors.RemoteSpawnInitError,
  Errors.RemoteSpawnRegistrationError,
  Errors.RemoteSpawnTimeoutError
)

/** An error a remote spawn can be answered with. */
export type SpawnFailure = typeof SpawnFailure.Type

/** A request to a process; answered by `Reply` or `CallFailed` with the same `callId`. */
export const Call = tagged("Call", { callId: NonNegativeInt, serverId: ServerId, timeoutMs: NonNegativeInt, payload: Bytes })

/** The reply to `Call`. */
export const Reply = tagged("Reply", { callId: NonNegativeInt, payload: Bytes })

/** A `Call` (or `Stop`) ended in a typed error. */
export const CallFailed = tagged("CallFailed", { callId: NonNegativeInt, error: CallFailure })

/** A message to a process, not answered. */
export const Cast = tagged("Cast", { serverId: ServerId, payload: Bytes })

/** Start a process from a registered behavior; answered by `Spawned` or `SpawnFailed`. */
export const Spawn = tagged("Spawn", {
  spawnId: NonNegativeInt,
  behaviorName: Schema.String,
  name: Schema.optionalWith(Schema.String, { exact: true }),
  registration: Schema.Literal("local", "global", "none"),
  initTimeoutMs: NonNegativeInt,
  args: Bytes
})

/** The process a `Spawn` started. */
export const Spawned = tagged("Spawned", { spawnId: NonNegativeInt, serverId: ServerId })

/** A `Spawn` ended in a typed error. */
export const SpawnFailed = tagged("SpawnFailed", { spawnId: NonNegativeInt, error: SpawnFailure })

/** The caller gave up on a `Spawn`: stop what it started, if anything. */
export const SpawnAbandoned = tagged("SpawnAbandoned", { spawnId: NonNegativeInt })

/** Stop a process; answered by `Stopped` or `CallFailed` with the same `callId`. */
export const Stop = tagged("Stop", { callId: NonNegativeInt, serverId: ServerId, reason: Bytes })

/** The process a `Stop` named has terminated. */
export const Stopped = tagged("Stopped", { callId: NonNegativeInt })

// ---- global registry --------------------------------------------------------------------------

/** One global name: who holds it and the clock-free tiebreak data. */
export const RegistryEntry = Schema.Struct({
  name: Schema.String,
  serverId: ServerId,
  nodeId: NodeId.schema,
  incarnation: Schema.String,
  seq: NonNegativeInt
})

/**
 * The sender's own names, in full: sent at handshake and after a partition heals, in
 * as many frames as the frame limit needs. `more` marks every frame but the last: the
 * receiver drops the names it holds for the sender and none of the frames listed only
 * once the last has arrived.
 */
export const RegistrySync = tagged("RegistrySync", {
  entries: Schema.Array(RegistryEntry),
  more: Schema.optionalWith(Schema.Literal(true), { exact: true })
})

/** The sender registered a name. */
export const RegistryRegister = tagged("RegistryRegister", { entry: RegistryEntry })

/**
 * The sender's name is gone (unregistered, or its process ended). `winner` is set when
 * it lost a conflict, so a node that never saw both entries still reports the conflict.
 */
export const RegistryUnregister = tagged("RegistryUnregister", {
  name: Schema.String,
  serverId: ServerId,
  winner: Schema.optionalWith(Schema.Struct({ serverId: ServerId, nodeId: NodeId.schema }), { exact: true })
})

/** Asks the node owning a process to register or unregister a global name for it; answered by `RegistryAck` or `CallFailed`. */
export const RegistryRequest = tagged("RegistryRequest", {
  callId: NonNegativeInt,
  op: Schema.Literal("register", "unregister"),
  name: Schema.String,
  serverId: ServerId
})

/** A `RegistryRequest` was carried out. */
export const RegistryAck = tagged("RegistryAck", { callId: NonNegativeInt })

/** Every wire message. */
export const WireMessage = Schema.Union(
  Hello,
  Proof,
  Welcome,
  Reject,
  Heartbeat,
  Gossip,
  Goodbye,
  Call,
  Reply,
  CallFailed,
  Cast,
  Spawn,
  Spawned,
  SpawnFailed,
  SpawnAbandoned,
  Stop,
  Stopped,
  RegistrySync,
  RegistryRegister,
  RegistryUnregister,
  RegistryRequest,
  RegistryAck
)

/** A decoded wire message. */
export type WireMessage = typeof WireMessage.Type

/** A frame that is not a valid wire message; the connection it came from is closed. */
export class ProtocolError extends Schema.TaggedError<ProtocolError>()("ProtocolError", {
  message: Schema.String
}) {}

/**
 * The envelope codec. Plain msgpack (no records, no extensions): the envelope holds
 * only strings, numbers, byte arrays and arrays of those, and a stateless format
 * means one hostile frame cannot change how the next one is read.
 */
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false, mapsAsObjects: true })

const decodeEnvelope = Schema.decodeUnknownEither(WireMessage, { errors: "first", onExcessProperty: "ignore" })
const encodeEnvelope = Schema.encodeSync(WireMessage)

/**
 * Encodes a wire message into a frame payload. Messages are built by this node, so
 * only those holding error classes go through the Schema encoder (to become plain
 * tagged objects); the rest are already in their encoded form.
 */
export const encode = (message: WireMessage): Uint8Array =>
  packr.pack(message._tag === "CallFailed" || message._tag === "SpawnFailed" ? encodeEnvelope(message) : message)

/** Decodes a frame payload; malformed bytes or an invalid message give a {@link ProtocolError}. */
export const decode = (bytes: Uint8Array): Either.Either<WireMessage, ProtocolError> => {
  let raw: unknown
  try {
    raw = packr.unpack(bytes)
  } catch (error) {
    return Either.left(new ProtocolError({ message: `not msgpack: ${error instanceof Error ? error.message : String(error)}` }))
  }
  return Either.mapLeft(
    decodeEnvelope(raw),
    (error) => new ProtocolError({ message: ParseResult.TreeFormatter.formatErrorSync(error) })
  )
}
