/**
 * Cookie authentication primitives: fresh random nonces, HMAC-SHA256 proofs over the
 * handshake transcript, and the session keys that authenticate every record after it
 * (`wire/Record.ts`).
 */
import { Redacted } from "effect"
import * as crypto from "node:crypto"
import { sessionKeys as keysOf, transcriptMac } from "../../wire/Record.js"
import type { SessionKeys } from "../../wire/Record.js"

/** Challenge size: 32 random bytes, the HMAC-SHA256 block of security; never reused. */
export const CHALLENGE_BYTES = 32

/** A fresh random challenge. */
export const challenge = (): Uint8Array => crypto.randomBytes(CHALLENGE_BYTES)

/** Which side of a handshake a proof speaks for. */
export type Role = "dialer" | "acceptor"

/**
 * The proof a node gives: HMAC-SHA256(cookie, label | role | dialer's Hello | acceptor's
 * Hello), each Hello as the exact bytes of its frame. The transcript binds both ids,
 * both incarnations, both nonces, the versions, the auth mode and the frame limits, and
 * the role binds the direction: a proof is good for one connection, one direction, and
 * nothing else — it cannot be relayed to another connection nor reflected to its sender.
 */
export const proof = (
  cookie: Redacted.Redacted<string>,
  role: Role,
  dialerHello: Uint8Array,
  acceptorHello: Uint8Array
): Uint8Array => transcriptMac(Redacted.value(cookie), `noex-effect/handshake/v3/${role}`, dialerHello, acceptorHello)

/** The connection's session keys, once both proofs verified. */
export const sessionKeys = (
  cookie: Redacted.Redacted<string>,
  dialerHello: Uint8Array,
  acceptorHello: Uint8Array
): SessionKeys => keysOf(Redacted.value(cookie), dialerHello, acceptorHello)

/** Compares two byte arrays in time independent of where they differ. */
export const timingSafeEqual = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && crypto.timingSafeEqual(a, b)
