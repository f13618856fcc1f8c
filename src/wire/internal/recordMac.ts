/**
 * The MAC of a record, HMAC-SHA256(key, seq | body) truncated to 16 bytes, computed in
 * the cheapest way for the record's size. Why two ways: `node:crypto.createHmac` costs
 * about 2 µs of object setup and native calls per record whatever its size, which is
 * most of a small record's cost and ~10% of a loopback round trip; a SHA-256 compression
 * in JavaScript over the key's precomputed inner and outer pad states does a small
 * record in under 1 µs. Large records go to `node:crypto`, whose compression is faster
 * per byte. Both compute the same function (checked against each other by test/Record.test.ts).
 * SHA-256 has no secret-dependent branches or table lookups, so neither way leaks timing.
 */
import * as crypto from "node:crypto"

/** Bodies up to this size are MAC'd in JavaScript: past it `node:crypto` is faster (measured: equal near 200 bytes). */
export const JS_MAC_MAX_BYTES = 192

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2
])

const IV = new Int32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19
])

const BLOCK = 64

/** The SHA-256 compression of the 64-byte block at `b[o..]` into state `h` (FIPS 180-4, 6.2.2). */
const compress = (h: Int32Array, w: Int32Array, b: Uint8Array, o: number): void => {
  for (let i = 0; i < 16; i++, o += 4) w[i] = (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!
  for (let i = 16; i < 64; i++) {
    const w15 = w[i - 15]!
    const w2 = w[i - 2]!
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3)
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10)
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0
  }
  let a = h[0]!, b1 = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!, f = h[5]!, g = h[6]!, hh = h[7]!
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (S0 + ((a & b1) ^ (a & c) ^ (b1 & c))) | 0
    hh = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b1
    b1 = a
    a = (t1 + t2) | 0
  }
  h[0] = (h[0]! + a) | 0
  h[1] = (h[1]! + b1) | 0
  h[2] = (h[2]! + c) | 0
  h[3] = (h[3]! + d) | 0
  h[4] = (h[4]! + e) | 0
  h[5] = (h[5]! + f) | 0
  h[6] = (h[6]! + g) | 0
  h[7] = (h[7]! + hh) | 0
}

const putWord = (out: Uint8Array, at: number, v: number) => {
  out[at] = v >>> 24
  out[at + 1] = v >>> 16
  out[at + 2] = v >>> 8
  out[at + 3] = v
}

/** HMAC-SHA256(key, seq | body)[0..16] for one session key. */
export class RecordMac {
  private readonly inner = new Int32Array(8)
  private readonly outer = new Int32Array(8)
  private readonly state = new Int32Array(8)
  private readonly schedule = new Int32Array(64)
  private readonly block = new Uint8Array(BLOCK)
  private readonly seq = Buffer.alloc(8)
  private readonly native: crypto.KeyObject

  /** `key`: at most one block (a session key is 32 bytes). */
  constructor(key: Uint8Array) {
    if (key.length > BLOCK) throw new Error("a record key is at most 64 bytes")
    this.native = crypto.createSecretKey(key)
    const pad = new Uint8Array(BLOCK)
    for (const [state, byte] of [[this.inner, 0x36], [this.outer, 0x5c]] as const) {
      pad.fill(0)
      pad.set(key)
      for (let i = 0; i < BLOCK; i++) pad[i]! ^= byte
      state.set(IV)
      compress(state, this.schedule, pad, 0)
    }
  }

  /** Writes the 16-byte MAC of record `seq` with `body` to `out[at..]`. */
  sign(seq: number, body: Uint8Array, out: Uint8Array, at: number): void {
    const hi = Math.floor(seq / 0x1_0000_0000)
    const lo = seq >>> 0
    if (body.length > JS_MAC_MAX_BYTES) {
      this.seq.writeUInt32BE(hi, 0)
      this.seq.writeUInt32BE(lo, 4)
      const digest = crypto.createHmac("sha256", this.native).update(this.seq).update(body).digest()
      out.set(digest.subarray(0, 16), at)
      return
    }
    const h = this.state
    const w = this.schedule
    const blk = this.block
    h.set(this.inner)
    putWord(blk, 0, hi)
    putWord(blk, 4, lo)
    let fill = 8
    for (let i = 0; i < body.length;) {
      const take = Math.min(BLOCK - fill, body.length - i)
      blk.set(body.subarray(i, i + take), fill)
      fill += take
      i += take
      if (fill === BLOCK) {
        compress(h, w, blk, 0)
        fill = 0
      }
    }
    // Padding: 0x80, zeros, the message length in bits (the pad block included) in 8 bytes.
    blk[fill++] = 0x80
    if (fill > BLOCK - 8) {
      blk.fill(0, fill)
      compress(h, w, blk, 0)
      fill = 0
    }
    blk.fill(0, fill, BLOCK - 8)
    const bits = (BLOCK + 8 + body.length) * 8
    putWord(blk, 56, Math.floor(bits / 0x1_0000_0000))
    putWord(blk, 60, bits >>> 0)
    compress(h, w, blk, 0)
    // Outer hash: the inner digest, padded, after the outer pad block.
    for (let k = 0; k < 8; k++) putWord(blk, k * 4, h[k]!)
    blk[32] = 0x80
    blk.fill(0, 33, 56)
    putWord(blk, 56, 0)
    putWord(blk, 60, (BLOCK + 32) * 8)
    h.set(this.outer)
    compress(h, w, blk, 0)
    for (let k = 0; k < 4; k++) putWord(out, at + k * 4, h[k]!)
  }
}
