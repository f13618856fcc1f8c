/**
 * Authenticated records: with a cookie, every byte after the handshake travels in
 * records. A record is one frame whose payload is a run of ordinary frames (each with
 * its length prefix) followed by a MAC:
 *
 *   record payload = frame* | HMAC-SHA256(key, seq | frames)[0..16]
 *
 * `key` is the session key of the record's direction ({@link sessionKeys}: derived from
 * the cookie and the handshake transcript, so fresh for every connection and different
 * each way) and `seq` the record's number on the connection (0, 1, 2, ... as 8 bytes
 * big-endian; never sent, both ends count). A relay or a man in the middle who does not
 * hold the cookie can therefore neither inject, alter, reorder, replay nor reflect a
 * record: the receiver closes the connection at the first one whose MAC is wrong. The
 * contents are not encrypted; use TLS for secrecy (docs/security.md).
 *
 * One record per outbox batch: a batch of 32 small frames costs one MAC, so the cost
 * on the hot path is one HMAC per socket write each way.
 */
import * as crypto from "node:crypto"
import { FRAME_HEADER_BYTES } from "./Frame.js"
import { RecordMac } from "./internal/recordMac.js"

/** Bytes of the MAC that ends a record: HMAC-SHA256 truncated to 128 bits (as RFC 4868). */
export const RECORD_MAC_BYTES = 16

/**
 * What a message costs in a record beyond its payload when it travels alone: its length
 * prefix and the MAC. A link with records lowers its frame limit by this much, so a
 * record of one largest message still fits the peer's frame limit.
 */
export const RECORD_OVERHEAD_BYTES = FRAME_HEADER_BYTES + RECORD_MAC_BYTES

/** The two session keys of a connection, one per direction. */
export interface SessionKeys {
  readonly dialerToAcceptor: Uint8Array
  readonly acceptorToDialer: Uint8Array
}

/**
 * The session keys: HMAC-SHA256(cookie, "noex-effect/session/v3/<direction>" | dialer's
 * Hello | acceptor's Hello), each Hello as the bytes of its frame with a 4-byte length in
 * front. Both Hellos hold a fresh nonce, so no two connections share a key.
 */
export const sessionKeys = (cookie: string, dialerHello: Uint8Array, acceptorHello: Uint8Array): SessionKeys => ({
  dialerToAcceptor: transcriptMac(cookie, "noex-effect/session/v3/dialer-to-acceptor", dialerHello, acceptorHello),
  acceptorToDialer: transcriptMac(cookie, "noex-effect/session/v3/acceptor-to-dialer", dialerHello, acceptorHello)
})

/** HMAC-SHA256(key, label | length-prefixed dialer's Hello | length-prefixed acceptor's Hello). */
export const transcriptMac = (
  key: string | Uint8Array,
  label: string,
  dialerHello: Uint8Array,
  acceptorHello: Uint8Array
): Uint8Array => {
  const hmac = crypto.createHmac("sha256", key).update(label)
  for (const hello of [dialerHello, acceptorHello]) {
    const length = Buffer.allocUnsafe(4)
    length.writeUInt32BE(hello.length, 0)
    // Length-prefixed, so no two transcripts share their bytes.
    hmac.update(length).update(hello)
  }
  return hmac.digest()
}

/** The writing end of one direction: turns batches of frames into records. */
export class RecordSealer {
  private seq = 0
  private readonly mac: RecordMac

  /** `maxRecordBytes`: the largest frame the peer accepts. */
  constructor(key: Uint8Array, private readonly maxRecordBytes: number) {
    this.mac = new RecordMac(key)
  }

  /**
   * The records carrying `frames`, in order: as few as the peer's frame limit allows
   * (one for any ordinary batch). A frame is never split; each fits one record because
   * the link's own limit is lowered by {@link RECORD_OVERHEAD_BYTES}.
   */
  seal(frames: ReadonlyArray<Uint8Array>): Array<Uint8Array> {
    const records: Array<Uint8Array> = []
    let i = 0
    while (i < frames.length) {
      let size = FRAME_HEADER_BYTES + frames[i]!.length
      let j = i + 1
      while (
        j < frames.length && size + FRAME_HEADER_BYTES + frames[j]!.length + RECORD_MAC_BYTES <= this.maxRecordBytes
      ) {
        size += FRAME_HEADER_BYTES + frames[j]!.length
        j++
      }
      const record = Buffer.allocUnsafe(size + RECORD_MAC_BYTES)
      let offset = 0
      for (; i < j; i++) {
        const frame = frames[i]!
        record.writeUInt32BE(frame.length, offset)
        record.set(frame, offset + FRAME_HEADER_BYTES)
        offset += FRAME_HEADER_BYTES + frame.length
      }
      this.mac.sign(this.seq++, record.subarray(0, size), record, size)
      records.push(record)
    }
    return records
  }
}

/** The reading end of one direction: checks each record and hands out its frames. */
export class RecordOpener {
  private seq = 0
  private readonly mac: RecordMac
  private readonly expected = new Uint8Array(RECORD_MAC_BYTES)

  constructor(key: Uint8Array) {
    this.mac = new RecordMac(key)
  }

  /**
   * Checks `record` against the next sequence number and, when its MAC is right, calls
   * `onFrame` with each frame it carries. Returns why it refused the record otherwise
   * (then nothing in it was delivered, and the connection must be closed: the sequence
   * is broken from here on).
   */
  open(record: Uint8Array, onFrame: (frame: Uint8Array) => void): string | undefined {
    if (record.length < RECORD_MAC_BYTES) return "record shorter than its MAC"
    const size = record.length - RECORD_MAC_BYTES
    this.mac.sign(this.seq, record.subarray(0, size), this.expected, 0)
    // Constant time: every byte is compared whatever the first difference.
    let diff = 0
    for (let i = 0; i < RECORD_MAC_BYTES; i++) diff |= this.expected[i]! ^ record[size + i]!
    if (diff !== 0) {
      return `record ${this.seq} failed authentication (altered, replayed, reordered or injected)`
    }
    this.seq++
    // Checked before any frame is delivered: an authenticated record is delivered whole or not at all.
    let offset = 0
    while (offset < size) {
      if (size - offset < FRAME_HEADER_BYTES) return "truncated frame in a record"
      const length = record[offset]! * 0x1000000 +
        ((record[offset + 1]! << 16) | (record[offset + 2]! << 8) | record[offset + 3]!)
      offset += FRAME_HEADER_BYTES + length
      if (offset > size) return "truncated frame in a record"
    }
    for (offset = 0; offset < size;) {
      const length = record[offset]! * 0x1000000 +
        ((record[offset + 1]! << 16) | (record[offset + 2]! << 8) | record[offset + 3]!)
      onFrame(record.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length))
      offset += FRAME_HEADER_BYTES + length
    }
    return undefined
  }
}
