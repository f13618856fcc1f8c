/**
 * The messages of every call (`Call`, `Reply`, `Cast`) in a fixed binary layout instead of
 * a msgpack map. Decoding a map costs a call a DataView on the frame, an object and three
 * key strings on each side (msgpack was ~11 µs of a sequential call's ~86 µs of caller CPU
 * in a profile); this layout is read with a few byte loads, and the payload that follows is
 * the only part msgpack reads. The Schemas in RequestProtocol stay the definition: the
 * layout carries exactly their fields, a message that does not fit it (a server id past
 * MAX_ID_BYTES, an id or timeout past 32 bits, a string with a lone surrogate) goes as a
 * map, and both forms decode to the same message (test/Protocol.test.ts).
 *
 *   Call   c1 01 callId:u32 timeoutMs:u32 idLength:u8 serverId:utf8 payload…
 *   Reply  c1 02 callId:u32 payload…
 *   Cast   c1 03 idLength:u8 serverId:utf8 payload…
 */
import type { MessageOf } from "../Protocol.js"

/** The first byte of a message in this layout: msgpack's "never used" byte, which starts no msgpack value. */
export const HOT_MARK = 0xc1

const CALL = 1
const REPLY = 2
const CAST = 3

/** A server id is written after one length byte; a longer one goes as a msgpack map. */
const MAX_ID_BYTES = 255

/** The largest id or timeout of the layout (a u32); the rest go as a map. */
const MAX_U32 = 0xffff_ffff

/** A message of this layout. */
export type Hot = MessageOf<"Call"> | MessageOf<"Reply"> | MessageOf<"Cast">

/** What a frame that starts with HOT_MARK decoded to: the message, or why not (and what it claimed to be). */
export type HotResult =
  | { readonly ok: true; readonly message: Hot }
  | { readonly ok: false; readonly tag: Hot["_tag"] | undefined; readonly reason: string }

const fitsU32 = (n: number) => n <= MAX_U32

/** The bytes of `id` when it fits the layout: ASCII is copied byte by byte, the rest through UTF-8. */
const idBytes = (id: string): Uint8Array | string | undefined => {
  if (id.length > MAX_ID_BYTES) return undefined
  for (let i = 0; i < id.length; i++) {
    if (id.charCodeAt(i) > 0x7f) {
      if (!(id as unknown as { isWellFormed(): boolean }).isWellFormed()) return undefined
      const bytes = Buffer.from(id, "utf8")
      return bytes.length <= MAX_ID_BYTES ? bytes : undefined
    }
  }
  return id
}

const writeId = (out: Uint8Array, at: number, id: Uint8Array | string): number => {
  out[at] = id.length
  if (typeof id === "string") {
    for (let i = 0; i < id.length; i++) out[at + 1 + i] = id.charCodeAt(i)
  } else {
    out.set(id, at + 1)
  }
  return at + 1 + id.length
}

const writeU32 = (out: Uint8Array, at: number, n: number) => {
  out[at] = n >>> 24
  out[at + 1] = (n >>> 16) & 0xff
  out[at + 2] = (n >>> 8) & 0xff
  out[at + 3] = n & 0xff
}

/** `message` in the binary layout, or `undefined` when a field does not fit it. */
export const encodeHot = (message: Hot): Uint8Array | undefined => {
  const payload = message.payload
  switch (message._tag) {
    case "Reply": {
      if (!fitsU32(message.callId)) return undefined
      const out = Buffer.allocUnsafe(6 + payload.length)
      out[0] = HOT_MARK
      out[1] = REPLY
      writeU32(out, 2, message.callId)
      out.set(payload, 6)
      return out
    }
    case "Call": {
      const id = idBytes(message.serverId)
      if (id === undefined || !fitsU32(message.callId) || !fitsU32(message.timeoutMs)) return undefined
      const out = Buffer.allocUnsafe(11 + id.length + payload.length)
      out[0] = HOT_MARK
      out[1] = CALL
      writeU32(out, 2, message.callId)
      writeU32(out, 6, message.timeoutMs)
      out.set(payload, writeId(out, 10, id))
      return out
    }
    case "Cast": {
      const id = idBytes(message.serverId)
      if (id === undefined) return undefined
      const out = Buffer.allocUnsafe(3 + id.length + payload.length)
      out[0] = HOT_MARK
      out[1] = CAST
      out.set(payload, writeId(out, 2, id))
      return out
    }
  }
}

const readU32 = (bytes: Uint8Array, at: number) =>
  bytes[at]! * 0x100_0000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!)

/** The server id at `at` (after its length byte); ASCII without a TextDecoder. */
const readId = (bytes: Uint8Array, at: number, length: number): string => {
  let ascii = true
  for (let i = 0; i < length; i++) {
    if (bytes[at + i]! > 0x7f) {
      ascii = false
      break
    }
  }
  if (!ascii) return Buffer.from(bytes.buffer, bytes.byteOffset + at, length).toString("utf8")
  // Short ids (process ids are ~10 characters): one call per id is cheaper than a decoder.
  return String.fromCharCode.apply(null, bytes.subarray(at, at + length) as unknown as Array<number>)
}

const truncated = (tag: Hot["_tag"]): HotResult => ({
  ok: false,
  tag,
  reason: `${tag}: the frame ends inside its header`
})

/** Decodes a frame whose first byte is HOT_MARK. */
export const decodeHotLayout = (bytes: Uint8Array): HotResult => {
  switch (bytes[1]) {
    case REPLY:
      return bytes.length < 6
        ? truncated("Reply")
        : { ok: true, message: { _tag: "Reply", callId: readU32(bytes, 2), payload: bytes.subarray(6) } }
    case CALL: {
      if (bytes.length < 11) return truncated("Call")
      const length = bytes[10]!
      if (bytes.length < 11 + length) return truncated("Call")
      return {
        ok: true,
        message: {
          _tag: "Call",
          callId: readU32(bytes, 2),
          timeoutMs: readU32(bytes, 6),
          serverId: readId(bytes, 11, length),
          payload: bytes.subarray(11 + length)
        }
      }
    }
    case CAST: {
      if (bytes.length < 3) return truncated("Cast")
      const length = bytes[2]!
      if (bytes.length < 3 + length) return truncated("Cast")
      return {
        ok: true,
        message: { _tag: "Cast", serverId: readId(bytes, 3, length), payload: bytes.subarray(3 + length) }
      }
    }
    default:
      return { ok: false, tag: undefined, reason: `unknown binary message kind ${bytes[1] ?? "(none)"}` }
  }
}
