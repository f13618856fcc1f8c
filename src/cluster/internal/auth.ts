/**
 * Cookie authentication primitives on Web Crypto (platform independent): fresh
 * random nonces, HMAC-SHA256 proofs over the handshake transcript and a constant-time
 * comparison.
 */
import { Effect, Redacted } from "effect"

/** Challenge size: 32 random bytes, the HMAC-SHA256 block of security; never reused. */
export const CHALLENGE_BYTES = 32

/** A fresh random challenge. */
export const challenge = (): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(CHALLENGE_BYTES))

const encoder = new TextEncoder()

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
): Effect.Effect<Uint8Array> =>
  Effect.promise(async () => {
    const key = await globalThis.crypto.subtle.importKey(
      "raw",
      encoder.encode(Redacted.value(cookie)),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"]
    )
    const label = encoder.encode(`noex-effect/handshake/v3/${role}`)
    const data = new Uint8Array(label.length + 8 + dialerHello.length + acceptorHello.length)
    const view = new DataView(data.buffer)
    data.set(label, 0)
    let offset = label.length
    for (const hello of [dialerHello, acceptorHello]) {
      // Length-prefixed, so no two transcripts share their bytes.
      view.setUint32(offset, hello.length)
      data.set(hello, offset + 4)
      offset += 4 + hello.length
    }
    return new Uint8Array(await globalThis.crypto.subtle.sign("HMAC", key, data))
  })

/** Compares two byte arrays in time independent of where they differ. */
export const timingSafeEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  let diff = a.length ^ b.length
  const n = Math.max(a.length, b.length)
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0)
  return diff === 0
}
