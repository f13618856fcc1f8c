/**
 * Authenticated records (src/wire/Record.ts): whatever frames go in come out, in order,
 * at the other end of the same direction; any other key, order or byte is refused
 * before a single frame of the record is delivered.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as crypto from "node:crypto"
import { JS_MAC_MAX_BYTES, RecordMac } from "../src/wire/internal/recordMac.js"
import { RECORD_MAC_BYTES, RecordOpener, RecordSealer, sessionKeys } from "../src/wire/Record.js"

const helloA = new Uint8Array([1, 2, 3])
const helloB = new Uint8Array([4, 5])
const keys = sessionKeys("cookie", helloA, helloB)

const openAll = (opener: RecordOpener, records: ReadonlyArray<Uint8Array>) => {
  const frames: Array<Array<number>> = []
  for (const record of records) {
    const refused = opener.open(record, (f) => void frames.push([...f]))
    if (refused !== undefined) return { frames, refused }
  }
  return { frames, refused: undefined }
}

const batches = fc.array(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 40 }), {
  minLength: 1,
  maxLength: 6
})

describe("Record", () => {
  it("delivers every frame sealed, in order, within the record size limit", () =>
    fc.assert(fc.property(batches, fc.integer({ min: 320, max: 4000 }), (input, limit) => {
      const sealer = new RecordSealer(keys.dialerToAcceptor, limit)
      const records = input.flatMap((batch) => sealer.seal(batch))
      for (const r of records) expect(r.length).toBeLessThanOrEqual(limit)
      const { frames, refused } = openAll(new RecordOpener(keys.dialerToAcceptor), records)
      expect(refused).toBeUndefined()
      expect(frames).toEqual(input.flat().map((f) => [...f]))
    })))

  it("refuses a flipped byte, a replay, a reorder, a reflection and another connection's key", () =>
    fc.assert(fc.property(batches, fc.nat(), (input, at) => {
      const seal = () => {
        const sealer = new RecordSealer(keys.dialerToAcceptor, 1 << 20)
        return input.map((batch) => sealer.seal(batch)[0]!)
      }
      const records = seal()
      const flipped = records.map((r) => Uint8Array.from(r))
      const target = flipped[at % flipped.length]!
      target[at % target.length]! ^= 1
      const other = sessionKeys("cookie", helloA, new Uint8Array([4, 6]))
      const attempts = [
        flipped,
        [records[0]!, records[0]!],
        records.length > 1 ? [records[1]!, records[0]!] : [records[0]!.subarray(0, RECORD_MAC_BYTES - 1)]
      ]
      for (const attempt of attempts) {
        expect(openAll(new RecordOpener(keys.dialerToAcceptor), attempt).refused).toBeDefined()
      }
      expect(openAll(new RecordOpener(keys.acceptorToDialer), records).frames).toEqual([])
      expect(openAll(new RecordOpener(other.dialerToAcceptor), records).frames).toEqual([])
    })))
})

describe("RecordMac", () => {
  it("matches createHmac at every padding boundary of both paths", () => {
    const key = crypto.randomBytes(32)
    for (const length of [0, 1, 47, 48, 55, 56, 57, 63, 64, 65, 119, 120, 121, 191, 192, 193, 300]) {
      const body = crypto.randomBytes(length)
      const seqBytes = Buffer.alloc(8)
      seqBytes.writeUInt32BE(7, 4)
      const expected = crypto.createHmac("sha256", key).update(seqBytes).update(body).digest().subarray(0, 16)
      const out = new Uint8Array(16)
      new RecordMac(key).sign(7, body, out, 0)
      expect(Buffer.from(out).equals(expected), `length ${length}`).toBe(true)
    }
  })

  it("is HMAC-SHA256(key, seq | body) truncated to 16 bytes, on both of its paths", () =>
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ maxLength: JS_MAC_MAX_BYTES + 200 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        (key, body, seq) => {
          const seqBytes = Buffer.alloc(8)
          seqBytes.writeUInt32BE(Math.floor(seq / 2 ** 32), 0)
          seqBytes.writeUInt32BE(seq >>> 0, 4)
          const expected = crypto.createHmac("sha256", key).update(seqBytes).update(body).digest().subarray(0, 16)
          const out = new Uint8Array(20)
          new RecordMac(key).sign(seq, body, out, 2)
          expect(Buffer.from(out.subarray(2, 18)).equals(expected)).toBe(true)
        }
      ),
      { numRuns: 500 }
    ))
})
