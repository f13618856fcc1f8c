import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  encodeFrames,
  FrameDecoder,
  FrameTooLargeError
} from "../src/wire/Frame.js"

/** Feeds `chunks` in order and collects every frame, copied (views alias the chunks). */
const decodeChunks = (decoder: FrameDecoder, chunks: ReadonlyArray<Uint8Array>) => {
  const frames: Array<Uint8Array> = []
  let error: FrameTooLargeError | undefined
  for (const chunk of chunks) {
    error = decoder.push(chunk, (frame) => frames.push(Uint8Array.from(frame)))
    if (error !== undefined) break
  }
  return { frames, error }
}

/** Cuts `bytes` at the given (unsorted, possibly repeated) offsets. */
const splitAt = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point))
    start = point
  }
  return chunks
}

const prefix = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n, 0)
  return b
}

describe("Frame", () => {
  it("encodes a 4-byte big-endian length in front of the payload", () => {
    const frame = encodeFrame(Uint8Array.of(7, 8, 9))
    expect([...frame]).toEqual([0, 0, 0, 3, 7, 8, 9])
    expect([...encodeFrames([Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3)])])
      .toEqual([0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 2, 2, 3])
  })

  it.prop(
    "yields the same frames for any split of the byte stream into chunks",
    [
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 30 })
    ],
    ([payloads, cuts]) => {
      const stream = encodeFrames(payloads)
      const whole = decodeChunks(new FrameDecoder(), [stream])
      const split = decodeChunks(new FrameDecoder(), splitAt(stream, cuts))
      expect(whole.error).toBeUndefined()
      expect(split.error).toBeUndefined()
      expect(whole.frames).toEqual(payloads.map((p) => Uint8Array.from(p)))
      expect(split.frames).toEqual(whole.frames)
    },
    { fastCheck: { numRuns: 300 } }
  )

  it("hands out a frame that fits in one chunk as a view of that chunk", () => {
    const stream = encodeFrames([Uint8Array.of(1, 2), Uint8Array.of(3)])
    const frames: Array<Uint8Array> = []
    new FrameDecoder().push(stream, (f) => frames.push(f))
    expect(frames.map((f) => f.buffer === stream.buffer)).toEqual([true, true])
    expect(frames[0]!.byteOffset).toBe(stream.byteOffset + 4)
  })

  it("parses a prefix split over four single-byte chunks", () => {
    const stream = encodeFrame(Uint8Array.of(42, 43))
    const chunks = [0, 1, 2, 3].map((i) => stream.subarray(i, i + 1))
    const decoder = new FrameDecoder()
    const { error, frames } = decodeChunks(decoder, [...chunks, stream.subarray(4, 5)])
    expect(error).toBeUndefined()
    expect(frames).toEqual([])
    expect(decoder.pendingBytes).toBe(5)
    expect(decodeChunks(decoder, [stream.subarray(5)]).frames).toEqual([Uint8Array.of(42, 43)])
    expect(decoder.pendingBytes).toBe(0)
  })

  it("delivers zero-length frames", () => {
    const stream = encodeFrames([new Uint8Array(0), Uint8Array.of(1), new Uint8Array(0)])
    expect(decodeChunks(new FrameDecoder(), splitAt(stream, [2, 4, 6, 10])).frames)
      .toEqual([new Uint8Array(0), Uint8Array.of(1), new Uint8Array(0)])
  })

  it("accepts a frame exactly at the limit and rejects one byte over", () => {
    const limit = 1024
    const atLimit = decodeChunks(new FrameDecoder(limit), [encodeFrame(new Uint8Array(limit))])
    expect(atLimit.error).toBeUndefined()
    expect(atLimit.frames.map((f) => f.length)).toEqual([limit])

    const over = decodeChunks(new FrameDecoder(limit), [encodeFrame(new Uint8Array(limit + 1))])
    expect(over.frames).toEqual([])
    expect(over.error).toBeInstanceOf(FrameTooLargeError)
    expect(over.error).toMatchObject({ _tag: "FrameTooLargeError", bytes: limit + 1, limit })
  })

  it("fails on a 2^31 prefix before allocating anything for it", () => {
    const before = process.memoryUsage().arrayBuffers
    const decoder = new FrameDecoder()
    const result = decoder.pushAll(prefix(2 ** 31))
    const after = process.memoryUsage().arrayBuffers
    expect(result).toBeInstanceOf(FrameTooLargeError)
    expect(result).toMatchObject({ bytes: 2 ** 31, limit: DEFAULT_MAX_FRAME_BYTES })
    expect(after - before).toBeLessThan(1024 * 1024)
    expect(decoder.pendingBytes).toBe(0)
  })

  it("checks a prefix split across chunks against the limit too", () => {
    const decoder = new FrameDecoder(10)
    const p = prefix(0xffff_ffff)
    expect(decoder.pushAll(p.subarray(0, 3))).toEqual([])
    expect(decoder.pushAll(p.subarray(3))).toMatchObject({ bytes: 0xffff_ffff, limit: 10 })
  })

  it("stays failed after an oversized prefix, keeping frames delivered before it", () => {
    const decoder = new FrameDecoder(8)
    const stream = Buffer.concat([encodeFrame(Uint8Array.of(1)), prefix(9), encodeFrame(Uint8Array.of(2))])
    const { error, frames } = decodeChunks(decoder, [stream])
    expect(frames).toEqual([Uint8Array.of(1)])
    expect(error).toBeInstanceOf(FrameTooLargeError)
    expect(decoder.failed).toBe(error)
    expect(decoder.pushAll(encodeFrame(Uint8Array.of(3)))).toBe(error)
  })
})
