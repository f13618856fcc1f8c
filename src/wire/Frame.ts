/**
 * Length-prefixed framing: every message on a peer connection is one frame, a
 * 4-byte big-endian unsigned length followed by that many payload bytes.
 *
 * Writers use {@link encodeFrame} / {@link encodeFrames} (the batching writer turns
 * a whole queue into one buffer and one socket write). The reader feeds socket
 * chunks to a {@link FrameDecoder}, which parses incrementally and synchronously:
 * it never concatenates the buffered input, checks the length prefix against the
 * limit before allocating anything, and hands out frames that fit in one chunk as
 * views of that chunk. What a payload means is the business of `Protocol` and `Codec`.
 */
import { Schema } from "effect"

/**
 * Default upper bound of a frame's payload: 16 MiB. It bounds the memory a
 * connection can make us allocate before we know who is talking (the limit is
 * enforced on the length prefix, ahead of the handshake and of any allocation).
 */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024

/** Size of the length prefix in front of every payload. */
export const FRAME_HEADER_BYTES = 4

/** The largest length a 4-byte unsigned prefix can carry. */
export const MAX_FRAME_PREFIX = 0xffff_ffff

/**
 * A length prefix announced more than the limit. The decoder is failed from then
 * on: the stream can no longer be resynchronised, so the owner closes the connection.
 */
export class FrameTooLargeError extends Schema.TaggedError<FrameTooLargeError>()("FrameTooLargeError", {
  bytes: Schema.Number,
  limit: Schema.Number
}) {
  override get message() {
    return `frame of ${this.bytes} bytes exceeds the limit of ${this.limit} bytes`
  }
}

/**
 * One frame: prefix and payload in a fresh buffer. The caller enforces its own
 * limit first (a sender fails with `MessageTooLargeError` instead of writing).
 */
export const encodeFrame = (payload: Uint8Array): Buffer => {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length)
  out.writeUInt32BE(payload.length, 0)
  out.set(payload, FRAME_HEADER_BYTES)
  return out
}

/** Many frames back to back in one buffer, so a batching writer issues one socket write. */
export const encodeFrames = (payloads: ReadonlyArray<Uint8Array>): Buffer => {
  let total = 0
  for (let i = 0; i < payloads.length; i++) total += FRAME_HEADER_BYTES + payloads[i]!.length
  const out = Buffer.allocUnsafe(total)
  let offset = 0
  for (let i = 0; i < payloads.length; i++) {
    const payload = payloads[i]!
    out.writeUInt32BE(payload.length, offset)
    out.set(payload, offset + FRAME_HEADER_BYTES)
    offset += FRAME_HEADER_BYTES + payload.length
  }
  return out
}

/** Receives each complete frame, in stream order. */
export type FrameHandler = (frame: Uint8Array) => void

/**
 * Incremental frame parser for one connection. Feed it chunks in arrival order
 * with {@link FrameDecoder.push}; complete frames are handed to the callback
 * synchronously (no array per chunk, no fiber per frame).
 *
 * Memory: a frame that lies inside one chunk is a `subarray` view of it (no copy;
 * Node never reuses a socket chunk, so the view stays valid). A frame spread over
 * chunks is copied once into a buffer allocated when its prefix is complete, and
 * only after the prefix passed the limit. A prefix split across chunks is
 * accumulated byte by byte, so nothing is ever concatenated.
 */
export class FrameDecoder {
  /** Bytes of the current length prefix seen so far (0..3). */
  private headerFill = 0
  /** The prefix value accumulated from those bytes. */
  private headerValue = 0
  /** The frame being filled across chunks, if any. */
  private partial: Buffer | undefined = undefined
  private partialFill = 0
  private failure: FrameTooLargeError | undefined = undefined

  constructor(readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** The error that failed this decoder, if one did. */
  get failed(): FrameTooLargeError | undefined {
    return this.failure
  }

  /** Bytes held for a frame (or prefix) that is not complete yet. */
  get pendingBytes(): number {
    return this.partial !== undefined ? FRAME_HEADER_BYTES + this.partialFill : this.headerFill
  }

  /**
   * Parses one chunk, calling `onFrame` for every frame it completes. Returns the
   * error when a prefix is over the limit (frames completed earlier in the chunk
   * were already delivered); once failed, every later push returns the same error.
   */
  push(chunk: Uint8Array, onFrame: FrameHandler): FrameTooLargeError | undefined {
    if (this.failure !== undefined) return this.failure
    const end = chunk.length
    let offset = 0
    while (offset < end) {
      if (this.partial !== undefined) {
        offset = this.fill(chunk, offset, onFrame)
        continue
      }
      let length: number
      if (this.headerFill === 0 && end - offset >= FRAME_HEADER_BYTES) {
        // Multiplying the top byte keeps the value unsigned (<< 24 would go negative).
        length = chunk[offset]! * 0x1000000 +
          ((chunk[offset + 1]! << 16) | (chunk[offset + 2]! << 8) | chunk[offset + 3]!)
        offset += FRAME_HEADER_BYTES
      } else {
        this.headerValue = this.headerValue * 256 + chunk[offset++]!
        if (++this.headerFill < FRAME_HEADER_BYTES) continue
        length = this.headerValue
        this.headerFill = 0
        this.headerValue = 0
      }
      if (length > this.maxFrameBytes) {
        this.failure = new FrameTooLargeError({ bytes: length, limit: this.maxFrameBytes })
        return this.failure
      }
      if (end - offset >= length) {
        onFrame(chunk.subarray(offset, offset + length))
        offset += length
      } else {
        this.partial = Buffer.allocUnsafe(length)
        this.partialFill = 0
      }
    }
    return undefined
  }

  /**
   * Convenience for tests and cold paths: every frame completed by `chunk`, or the error.
   * Allocates an array per call; readers on the hot path use {@link push}.
   */
  pushAll(chunk: Uint8Array): Array<Uint8Array> | FrameTooLargeError {
    const frames: Array<Uint8Array> = []
    const error = this.push(chunk, (frame) => frames.push(frame))
    return error ?? frames
  }

  /** Copies as much of `chunk` as the partial frame still needs; returns the new offset. */
  private fill(chunk: Uint8Array, offset: number, onFrame: FrameHandler): number {
    const partial = this.partial!
    const take = Math.min(partial.length - this.partialFill, chunk.length - offset)
    partial.set(chunk.subarray(offset, offset + take), this.partialFill)
    this.partialFill += take
    if (this.partialFill === partial.length) {
      this.partial = undefined
      this.partialFill = 0
      onFrame(partial)
    }
    return offset + take
  }
}
