/**
 * Cookie authentication primitives on Web Crypto (platform independent): fresh
 * random challenges, HMAC-SHA256 proofs and a constant-time comparison.
 */
import { Effect, Redacted } from "effect"

/** Challenge size: 32 random bytes, the HMAC-SHA256 block of security; never reused. */
export const CHALLENGE_BYTES = 32

/** A fresh random challenge. */
export const challenge = (): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(CHALLENGE_BYTES))

const encoder = new TextEncoder()

/**
 * The proof a node gives: HMAC(cookie, label | verifier's challenge | prover's challenge | prover id).
 * Binding both challenges and the prover's id means a proof cannot be replayed on another
 * connection nor reflected back to its sender.
 */
export const proof = (
  cookie: Redacted.Redacted<string>,
  verifierChallenge: Uint8Array,
  proverChallenge: Uint8Array,
  proverId: string
): Effect.Effect<Uint8Array> =>
  Effect.promise(async () => {
    const key = await globalThis.crypto.subtle.importKey(
      "raw",
      encoder.encode(Redacted.value(cookie)),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"]
    )
    const label = encoder.encode("noex-effect/handshake/v1")
    const id = encoder.encode(proverId)
    const data = new Uint8Array(label.length + verifierChallenge.length + proverChallenge.length + id.length)
    data.set(label, 0)
    data.set(verifierChallenge, label.length)
    data.set(proverChallenge, label.length + verifierChallenge.length)
    data.set(id, label.length + verifierChallenge.length + proverChallenge.length)
    return new Uint8Array(await globalThis.crypto.subtle.sign("HMAC", key, data))
  })

/** Compares two byte arrays in time independent of where they differ. */
export const timingSafeEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  let diff = a.length ^ b.length
  const n = Math.max(a.length, b.length)
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0)
  return diff === 0
}
