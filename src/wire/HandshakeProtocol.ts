/**
 * The handshake sub-protocol (docs/wire.md, "Handshake"): the first frames on every
 * connection, owned by `cluster/Link.ts`. After the handshake, any of these is a
 * protocol violation that closes the link.
 */
import { Schema } from "effect"
import { NodeId } from "../NodeId.js"
import { Bytes, NonNegativeInt, tagged } from "./internal/fields.js"

/** Version of the protocol; a peer speaking another one is refused at the handshake. */
export const PROTOCOL_VERSION = 7

/** The protocol's name, sent in `Hello` so a stray client of another protocol is told apart. */
export const PROTOCOL_NAME = "noex-effect"

/** Step 1, both sides: who I am and, when a cookie is configured, a fresh challenge. */
export const Hello = tagged("Hello", {
  protocol: Schema.Literal(PROTOCOL_NAME),
  version: Schema.Int,
  nodeId: NodeId.schema,
  incarnation: Schema.String,
  auth: Schema.Literal("none", "hmac-sha256"),
  challenge: Bytes,
  /** The largest frame the sender accepts: the peer checks what it sends against it (absent: the peer's own limit). */
  maxFrameBytes: Schema.optionalWith(NonNegativeInt, { exact: true }),
  /** The sender is a hidden node (a tool, not a member); absent: a member. Covered by the proofs, like every field. */
  hidden: Schema.optionalWith(Schema.Boolean, { exact: true })
})

/** Step 3, both sides: HMAC-SHA256 over the peer's challenge, proving the cookie without sending it. */
export const Proof = tagged("Proof", { mac: Bytes })

/** Step 4, both sides: I accept you; the link is up once both have sent and received it. */
export const Welcome = tagged("Welcome", {})

/** Any step: I refuse this connection, and why; the sender closes it. */
export const Reject = tagged("Reject", { reason: Schema.String })

/** The messages of this sub-protocol. */
export const messages = [Hello, Proof, Welcome, Reject] as const

/** A handshake message. */
export type HandshakeMessage = Schema.Schema.Type<(typeof messages)[number]>
