/**
 * The payload codec: how user messages (call and cast bodies, replies, spawn
 * arguments) become bytes inside a frame. Wire envelopes are Effect Schemas
 * (`Protocol`); what users put inside them is arbitrary structured data and must
 * arrive as it left: Date, Map, Set, BigInt, Buffer and typed arrays, NaN/±Infinity/-0,
 * undefined, holes, shared and circular references, and Errors with name, message,
 * stack, cause and own properties. Markers never live in user keys, so no user
 * object can be mistaken for one.
 *
 * Two engines, chosen per message (figures and the reasoning are in `docs/wire.md`):
 * - msgpackr for the common case: a cheap scan checks that the value holds only
 *   what msgpackr carries exactly, and whether it contains a Map (then plain objects
 *   go as msgpackr records, so Map and object stay distinct on decode).
 * - `node:v8` structured serialization for everything else (-0, Errors, holes,
 *   cycles, class instances, lone surrogates, ...), with a side table that restores
 *   what V8 drops from Errors (custom name, own properties).
 *
 * Class instances arrive as plain objects with their own enumerable properties
 * (the receiver may not have the class); Errors keep the built-in class they derive
 * from. Functions, symbols, WeakMaps, Promises and the like cannot be encoded.
 */
import { Either, Schema } from "effect"
import { Packr, RESERVE_START_SPACE } from "msgpackr"
import * as v8 from "node:v8"
import { describe } from "../internal/handler.js"

/** Payload bytes that cannot be decoded, or a value that cannot be encoded. */
export class CodecError extends Schema.TaggedError<CodecError>()("CodecError", {
  message: Schema.String
}) {}

/**
 * Turns user values into payload bytes and back. `decode` throws {@link CodecError};
 * bytes from the network go through `decodeEither`, which never throws.
 */
export interface PayloadCodec {
  /** Encodes `value`; throws a {@link CodecError} for values that cannot cross the wire. */
  readonly encode: (value: unknown) => Uint8Array
  /** {@link PayloadCodec.encode} without throwing. */
  readonly encodeEither: (value: unknown) => Either.Either<Uint8Array, CodecError>
  /** Decodes bytes made by `encode`; throws a {@link CodecError} on anything else. */
  readonly decode: (bytes: Uint8Array) => unknown
  /** {@link PayloadCodec.decode} without throwing: garbage and truncated input give a `Left`. */
  readonly decodeEither: (bytes: Uint8Array) => Either.Either<unknown, CodecError>
}

/** Identifies this payload format; peers compare it in the handshake. */
export const CODEC_ID = "noex-payload/1"

/** First byte of a payload: msgpackr without records (the value holds no Map). */
const TAG_MSGPACK = 0x01
/** First byte of a payload: msgpackr with records for objects, msgpack maps for Maps. */
const TAG_MSGPACK_RECORDS = 0x02
/** First byte of a payload: V8 serialization (its own header starts with 0xFF). */
const TAG_V8 = 0xff
/** V8 payload flag: an Error side table follows the value. */
const V8_FLAG_ERRORS = 1

/** Deeper values take the V8 path: a cycle shows up as unbounded depth. */
const MAX_FAST_DEPTH = 100
/** The scan visits at most this many values: shared subgraphs cannot make it explode. */
const SCAN_BUDGET = 1_000_000

/** Objects msgpackr (`moreTypes`) encodes exactly and that contain no user values. */
const LEAF_PROTOTYPES: ReadonlySet<object> = new Set<object>([
  Date.prototype,
  RegExp.prototype,
  ArrayBuffer.prototype,
  DataView.prototype,
  Buffer.prototype,
  Int8Array.prototype,
  Uint8Array.prototype,
  Uint8ClampedArray.prototype,
  Int16Array.prototype,
  Uint16Array.prototype,
  Int32Array.prototype,
  Uint32Array.prototype,
  Float32Array.prototype,
  Float64Array.prototype,
  BigInt64Array.prototype,
  BigUint64Array.prototype
])

interface ScanState {
  budget: number
  maps: boolean
  /** Objects seen (containers and leaves): with at most one, no object can be shared. */
  objects: number
}

/** ES2024 `String.prototype.isWellFormed` (Node >= 20); msgpackr's UTF-8 loses lone surrogates. */
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed()

/**
 * True when msgpackr carries `value` exactly. Only plain objects and arrays, Maps,
 * Sets and leaf types qualify: anything with another prototype, -0, holes, a
 * `__proto__` own key or a lone surrogate goes to V8, which defines their behaviour.
 */
const fitsMsgpack = (value: unknown, depth: number, state: ScanState): boolean => {
  if (--state.budget < 0) return false
  switch (typeof value) {
    case "number":
      return value !== 0 || 1 / value > 0
    case "string":
      return isWellFormed(value)
    case "boolean":
    case "undefined":
    case "bigint":
      return true
    case "object":
      break
    default:
      return false
  }
  if (value === null) return true
  state.objects++
  if (depth >= MAX_FAST_DEPTH) return false
  const proto = Object.getPrototypeOf(value)
  if (proto === Object.prototype) {
    const record = value as Record<string, unknown>
    for (const key in record) {
      // msgpackr renames a "__proto__" key (to keep prototypes safe); V8 keeps it as data.
      if (key === "__proto__" || !isWellFormed(key) || !fitsMsgpack(record[key], depth + 1, state)) return false
    }
    return true
  }
  if (proto === Array.prototype) {
    const array = value as ReadonlyArray<unknown>
    for (let i = 0; i < array.length; i++) {
      const item = array[i]
      if (item === undefined ? !(i in array) : !fitsMsgpack(item, depth + 1, state)) return false
    }
    return true
  }
  if (proto === Map.prototype) {
    state.maps = true
    for (const [key, item] of value as Map<unknown, unknown>) {
      if (!fitsMsgpack(key, depth + 1, state) || !fitsMsgpack(item, depth + 1, state)) return false
    }
    return true
  }
  if (proto === Set.prototype) {
    for (const item of value as Set<unknown>) {
      if (!fitsMsgpack(item, depth + 1, state)) return false
    }
    return true
  }
  return LEAF_PROTOTYPES.has(proto)
}

/** What V8 loses from an Error, carried next to the value (the Error itself keeps its identity). */
interface ErrorInfo {
  readonly kind: unknown
  readonly name: unknown
  readonly message: unknown
  readonly stack: unknown
  readonly hasCause: boolean
  readonly cause: unknown
  readonly errors: unknown
  readonly props: ReadonlyArray<readonly [string, unknown]>
}

/**
 * Every Error reachable in the parts of `value` V8 serializes, each once. Iterative:
 * values too deep for msgpackr come here, and recursion would hit the stack limit first.
 */
const collectErrors = (value: unknown): Array<Error> => {
  const errors: Array<Error> = []
  const seen = new Set<object>()
  const stack: Array<unknown> = [value]
  while (stack.length > 0) {
    const item = stack.pop()
    if (typeof item !== "object" || item === null || seen.has(item)) continue
    seen.add(item)
    if (item instanceof Map) {
      for (const [key, entry] of item) stack.push(key, entry)
    } else if (item instanceof Set) {
      for (const entry of item) stack.push(entry)
    } else if (ArrayBuffer.isView(item) || item instanceof Date || item instanceof RegExp) {
      continue
    } else if (Array.isArray(item)) {
      for (let i = 0; i < item.length; i++) stack.push(item[i])
    } else {
      if (item instanceof Error) {
        errors.push(item)
        if ("cause" in item) stack.push(item.cause)
        if (item instanceof AggregateError) stack.push(item.errors)
      }
      const record = item as Record<string, unknown>
      for (const key of Object.keys(record)) stack.push(record[key])
    }
  }
  return errors
}

/**
 * The built-in Error classes, most derived first. V8 picks the class from `name`,
 * so a `TypeError` renamed "ParseError" would come back as a plain `Error`.
 */
const BUILTIN_ERRORS: ReadonlyArray<ErrorConstructor | AggregateErrorConstructor> = [
  AggregateError,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
  Error
]

const errorInfo = (error: Error): ErrorInfo => ({
  kind: BUILTIN_ERRORS.findIndex((Ctor) => error instanceof Ctor),
  name: error.name,
  message: error.message,
  stack: error.stack,
  hasCause: "cause" in error,
  cause: error.cause,
  errors: error instanceof AggregateError ? error.errors : undefined,
  props: Object.keys(error).map((key) => [key, (error as unknown as Record<string, unknown>)[key]] as const)
})

const defineHidden = (target: object, key: string, value: unknown): void => {
  Object.defineProperty(target, key, { value, writable: true, enumerable: false, configurable: true })
}

/** Puts back what {@link errorInfo} recorded; the side table is untrusted input like the rest. */
const restoreErrors = (errors: unknown, infos: unknown): void => {
  if (!Array.isArray(errors) || !Array.isArray(infos) || errors.length !== infos.length) {
    throw new CodecError({ message: "malformed error table" })
  }
  for (let i = 0; i < errors.length; i++) {
    const error: unknown = errors[i]
    const info = infos[i] as ErrorInfo | null
    if (!(error instanceof Error) || typeof info !== "object" || info === null || !Array.isArray(info.props)) {
      throw new CodecError({ message: "malformed error table entry" })
    }
    const Ctor = typeof info.kind === "number" ? BUILTIN_ERRORS[info.kind] : undefined
    if (Ctor !== undefined && Object.getPrototypeOf(error) !== Ctor.prototype) {
      Object.setPrototypeOf(error, Ctor.prototype)
    }
    const own = new Set<string>()
    for (const entry of info.props) {
      if (!Array.isArray(entry) || typeof entry[0] !== "string") {
        throw new CodecError({ message: "malformed error property" })
      }
      own.add(entry[0])
      Object.defineProperty(error, entry[0], { value: entry[1], writable: true, enumerable: true, configurable: true })
    }
    if (!own.has("name") && error.name !== info.name) defineHidden(error, "name", info.name)
    if (!own.has("message") && error.message !== info.message) defineHidden(error, "message", info.message)
    if (!own.has("stack") && error.stack !== info.stack) defineHidden(error, "stack", info.stack)
    if (!own.has("cause") && info.hasCause && error.cause !== info.cause) defineHidden(error, "cause", info.cause)
    if (info.errors !== undefined) defineHidden(error, "errors", info.errors)
  }
}

const encodeV8 = (value: unknown): Uint8Array => {
  const errors = collectErrors(value)
  const serializer = new v8.DefaultSerializer()
  serializer.writeHeader()
  serializer.writeUint32(errors.length > 0 ? V8_FLAG_ERRORS : 0)
  // References are shared across writeValue calls, so the table points at the very Errors in `value`.
  serializer.writeValue(value)
  if (errors.length > 0) {
    serializer.writeValue(errors)
    serializer.writeValue(errors.map(errorInfo))
  }
  return serializer.releaseBuffer()
}

const decodeV8 = (bytes: Buffer): unknown => {
  // V8 returns typed arrays as views of its input: give it a private, exactly sized copy
  // so they neither alias the connection's chunk nor expose a shared pool slab.
  const own = new Uint8Array(bytes.length)
  own.set(bytes)
  const deserializer = new v8.DefaultDeserializer(Buffer.from(own.buffer))
  deserializer.readHeader()
  const flags = deserializer.readUint32()
  const value = deserializer.readValue()
  if ((flags & V8_FLAG_ERRORS) !== 0) restoreErrors(deserializer.readValue(), deserializer.readValue())
  return value
}

/**
 * Builds a codec. Each codec owns its msgpackr instances. msgpackr keeps its write
 * buffer in module state shared by every instance, which is safe because encoding is
 * synchronous and each result is a slice that later encodes never overwrite; the
 * record definitions travel inside every message (no structures shared between
 * messages), so one codec may serve any number of peers.
 */
export const makeCodec = (): PayloadCodec => {
  const options = { structuredClone: true, moreTypes: true, copyBuffers: true } as const
  const plain = new Packr({ ...options, useRecords: false, variableMapSize: true })
  const records = new Packr({ ...options, mapsAsObjects: false })
  // For a value with at most one object nothing can be shared, and `structuredClone`
  // costs a Map per message to look for it (most calls and replies are such values).
  // The bytes are the same format: the decoders above read them.
  const plainFlat = new Packr({ ...options, structuredClone: false, useRecords: false, variableMapSize: true })
  const recordsFlat = new Packr({ ...options, structuredClone: false, mapsAsObjects: false })

  const encode = (value: unknown): Uint8Array => {
    const state: ScanState = { budget: SCAN_BUDGET, maps: false, objects: 0 }
    if (fitsMsgpack(value, 0, state)) {
      const flat = state.objects <= 1
      const packr = state.maps ? (flat ? recordsFlat : records) : flat ? plainFlat : plain
      let bytes: Buffer | undefined
      try {
        bytes = packr.pack(value, RESERVE_START_SPACE | 1)
      } catch {
        // msgpackr's own limits (e.g. a record with too many keys): V8 has none of them.
      }
      if (bytes !== undefined) {
        bytes[0] = state.maps ? TAG_MSGPACK_RECORDS : TAG_MSGPACK
        return bytes
      }
    }
    try {
      return encodeV8(value)
    } catch (cause) {
      throw new CodecError({ message: `cannot encode payload: ${describe(cause).message}` })
    }
  }

  const decode = (input: Uint8Array): unknown => {
    // msgpackr returns binary data as the input's type: a Buffer keeps Buffers Buffers.
    const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength)
    if (bytes.length === 0) throw new CodecError({ message: "empty payload" })
    try {
      switch (bytes[0]) {
        // `start` rather than a subarray: no view to allocate, and msgpackr caches its DataView on `bytes`.
        case TAG_MSGPACK:
          return plain.unpack(bytes, { start: 1 })
        case TAG_MSGPACK_RECORDS:
          return records.unpack(bytes, { start: 1 })
        case TAG_V8:
          return decodeV8(bytes)
      }
    } catch (cause) {
      throw cause instanceof CodecError
        ? cause
        : new CodecError({ message: `malformed payload: ${describe(cause).message}` })
    }
    throw new CodecError({ message: `unknown payload format 0x${bytes[0]!.toString(16).padStart(2, "0")}` })
  }

  const toCodecError = (cause: unknown): CodecError =>
    cause instanceof CodecError ? cause : new CodecError({ message: describe(cause).message })

  // Plain try/catch rather than `Either.try({ try, catch })`: these run for every message,
  // and an options object with two closures per call is measurable there.
  return {
    encode,
    decode,
    encodeEither(value) {
      try {
        return Either.right(encode(value))
      } catch (cause) {
        return Either.left(toCodecError(cause))
      }
    },
    decodeEither(bytes) {
      try {
        return Either.right(decode(bytes))
      } catch (cause) {
        return Either.left(toCodecError(cause))
      }
    }
  }
}
