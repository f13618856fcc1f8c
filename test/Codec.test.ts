import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import * as v8 from "node:v8"
import { CodecError, makeCodec } from "../src/wire/Codec.js"

const codec = makeCodec()
const roundTrip = <A>(value: A): A => codec.decode(codec.encode(value)) as A

/**
 * Structural equality that also checks what `toEqual` glosses over: prototypes
 * (Buffer vs Uint8Array, Map vs object), -0, holes, own `undefined` properties, and
 * the sharing topology (a → b must be a bijection between original and decoded objects).
 */
const same = (
  a: unknown,
  b: unknown,
  there = new Map<object, unknown>(),
  back = new Map<unknown, object>()
): boolean => {
  if (typeof a !== "object" || a === null) return Object.is(a, b)
  if (typeof b !== "object" || b === null) return false
  if (there.has(a)) return there.get(a) === b
  if (back.has(b)) return false
  there.set(a, b)
  back.set(b, a)
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false
  const eq = (x: unknown, y: unknown) => same(x, y, there, back)
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime())
  if (a instanceof RegExp) return a.source === (b as RegExp).source && a.flags === (b as RegExp).flags
  if (ArrayBuffer.isView(a)) return Buffer.compare(bytesOf(a), bytesOf(b as ArrayBufferView)) === 0
  if (a instanceof Map) {
    const xs = [...a], ys = [...(b as Map<unknown, unknown>)]
    return xs.length === ys.length && xs.every(([k, v], i) => eq(k, ys[i]![0]) && eq(v, ys[i]![1]))
  }
  if (a instanceof Set) {
    const xs = [...a], ys = [...(b as Set<unknown>)]
    return xs.length === ys.length && xs.every((x, i) => eq(x, ys[i]))
  }
  if (Array.isArray(a)) {
    const ys = b as Array<unknown>
    if (a.length !== ys.length) return false
    for (let i = 0; i < a.length; i++) if ((i in a) !== (i in ys) || !eq(a[i], ys[i])) return false
    return true
  }
  if (a instanceof Error) {
    const e = b as Error
    // structurally, not by identity: a generated own property may set `name` to an object
    if (!eq(a.name, e.name) || !eq(a.message, e.message) || !eq(a.stack, e.stack)) return false
    if (("cause" in a) !== ("cause" in e) || !eq(a.cause, e.cause)) return false
  }
  const ka = Object.keys(a), kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && eq((a as any)[k], (b as any)[k]))
}
const bytesOf = (v: ArrayBufferView) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)

const lone = fc.constantFrom("\uD800", "a\uDC00b", "\uDBFF")
const text = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: "binary", maxLength: 8 }), lone)
const key = fc.oneof(text, fc.constantFrom("__type", "$date", "$", "$$", "__proto__", "constructor", "v", "0", "-1"))
const leaf = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, 2 ** 53, -(2 ** 31) - 1),
  text,
  fc.boolean(),
  fc.constantFrom(undefined, null),
  fc.bigInt(),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
  fc.date({ noInvalidDate: false }),
  fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
  fc.uint8Array({ maxLength: 8 }),
  fc.float64Array({ maxLength: 4 }),
  fc.int32Array({ maxLength: 4 }),
  fc.bigInt64Array({ maxLength: 4 })
)
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof(
    { depthSize: "small" },
    leaf,
    tie("array"),
    tie("object"),
    tie("map"),
    tie("set"),
    tie("error"),
    tie("shared")
  ),
  array: fc.oneof(fc.array(tie("tree"), { maxLength: 5 }), fc.sparseArray(tie("tree"), { maxLength: 5 })),
  object: fc.dictionary(key, tie("tree"), { maxKeys: 5, noNullPrototype: true }),
  map: fc.array(fc.tuple(tie("tree"), tie("tree")), { maxLength: 4 }).map((entries) => new Map(entries)),
  set: fc.array(tie("tree"), { maxLength: 4 }).map((items) => new Set(items)),
  error: fc.record({
    Ctor: fc.constantFrom(Error, TypeError, RangeError),
    name: fc.option(text, { nil: undefined }),
    message: text,
    cause: fc.option(tie("tree"), { nil: undefined }),
    props: fc.dictionary(key, tie("tree"), { maxKeys: 2, noNullPrototype: true })
  }).map(({ Ctor, cause, message, name, props }) => {
    const error = cause === undefined ? new Ctor(message) : new Ctor(message, { cause })
    if (name !== undefined) error.name = name
    for (const [k, v] of Object.entries(props)) {
      Object.defineProperty(error, k, { value: v, enumerable: true, writable: true, configurable: true })
    }
    return error
  }),
  // the same object reached twice must decode to one object reached twice
  shared: tie("tree").map((x) => ({ a: x, b: [x] }))
}))

/** Values the fast path takes whole: no -0, holes, Errors, lone surrogates or `__proto__` keys. */
const { fastTree } = fc.letrec((tie) => ({
  fastTree: fc.oneof(
    { depthSize: "small" },
    leaf.filter((x) => !Object.is(x, -0) && (typeof x !== "string" || !/[\uD800-\uDFFF]/.test(x))),
    fc.array(tie("fastTree"), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie("fastTree"), { maxKeys: 5, noNullPrototype: true })
      .filter((o) => !Object.hasOwn(o, "__proto__")),
    fc.array(fc.tuple(tie("fastTree"), tie("fastTree")), { maxLength: 4 }).map((entries) => new Map(entries)),
    fc.array(tie("fastTree"), { maxLength: 4 }).map((items) => new Set(items)),
    tie("fastTree").map((x) => ({ a: x, b: [x] }))
  )
}))
describe("Codec", () => {
  it.prop("round-trips arbitrary nested values with full fidelity", [tree], ([value]) => {
    const decoded = roundTrip(value)
    expect(same(value, decoded)).toBe(true)
  }, { fastCheck: { numRuns: 500 } })

  it.prop("round-trips values on the msgpackr paths exactly", [fastTree], ([value]) => {
    const bytes = codec.encode(value)
    expect([0x01, 0x02]).toContain(bytes[0])
    expect(same(value, codec.decode(bytes))).toBe(true)
  }, { fastCheck: { numRuns: 500 } })

  it("keeps the common case on msgpackr and switches to records when a Map is inside", () => {
    expect(codec.encode({ type: "get_stats", id: 42 })[0]).toBe(0x01)
    expect(codec.encode({ m: new Map([["a", 1]]) })[0]).toBe(0x02)
    expect(codec.encode({ z: -0 })[0]).toBe(0xff)
  })

  it("keeps Date, including an invalid one", () => {
    expect(roundTrip(new Date(1_700_000_000_123)).getTime()).toBe(1_700_000_000_123)
    expect(roundTrip(new Date(-1500)).getTime()).toBe(-1500)
    expect(roundTrip(new Date(NaN)).getTime()).toBeNaN()
  })

  it("keeps Map apart from plain objects, with non-string keys", () => {
    const decoded = roundTrip({ plain: { a: 1 }, map: new Map<unknown, unknown>([[1, "one"], [{ k: 1 }, [2]]]) })
    expect(decoded.plain.constructor).toBe(Object)
    expect(decoded.map).toBeInstanceOf(Map)
    expect([...decoded.map]).toEqual([[1, "one"], [{ k: 1 }, [2]]])
  })

  it("keeps Set and BigInt", () => {
    expect(roundTrip(new Set([1, "1", 1n]))).toEqual(new Set([1, "1", 1n]))
    for (const n of [0n, -1n, 2n ** 63n, -(2n ** 64n), 2n ** 200n]) expect(roundTrip(n)).toBe(n)
  })

  it("keeps Buffer a Buffer and Uint8Array a Uint8Array, whatever the input view", () => {
    const bytes = codec.encode({ buf: Buffer.from("hi"), u8: Uint8Array.of(1, 2) })
    const asPlainView = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const decoded = codec.decode(asPlainView) as { buf: Buffer; u8: Uint8Array }
    expect(Buffer.isBuffer(decoded.buf)).toBe(true)
    expect(decoded.buf.toString()).toBe("hi")
    expect(Buffer.isBuffer(decoded.u8)).toBe(false)
    expect(decoded.u8).toEqual(Uint8Array.of(1, 2))
  })

  it("decodes binary data into its own memory, not a view of the frame", () => {
    for (const value of [{ b: Buffer.from("abc") }, { b: Buffer.from("abc"), z: -0 }]) {
      const bytes = Buffer.from(codec.encode(value))
      const decoded = codec.decode(bytes) as { b: Buffer }
      bytes.fill(0)
      expect(decoded.b.toString()).toBe("abc")
    }
  })

  it("keeps typed arrays", () => {
    const value = [new Float64Array([1.5, NaN, -0]), new Int16Array([-3]), new BigUint64Array([2n ** 64n - 1n])]
    expect(same(value, roundTrip(value))).toBe(true)
  })

  it("keeps NaN, ±Infinity and -0", () => {
    const [nan, inf, ninf, nz, z] = roundTrip([NaN, Infinity, -Infinity, -0, 0])
    expect(nan).toBeNaN()
    expect([inf, ninf]).toEqual([Infinity, -Infinity])
    expect(Object.is(nz, -0)).toBe(true)
    expect(Object.is(z, 0)).toBe(true)
  })

  it("keeps undefined as a value, as a property and inside arrays, and keeps holes", () => {
    expect(roundTrip(undefined)).toBeUndefined()
    const decoded = roundTrip({ u: undefined, arr: [1, undefined, 3] })
    expect(Object.keys(decoded)).toEqual(["u", "arr"])
    expect(1 in decoded.arr).toBe(true)

    const holey = roundTrip([1, , 3])
    expect(holey.length).toBe(3)
    expect(1 in holey).toBe(false)
  })

  it("decodes one object referenced twice as one object referenced twice", () => {
    const shared = { n: 1 }
    const decoded = roundTrip({ a: shared, b: [shared], m: new Map([[shared, shared]]) })
    expect(decoded.a).toBe(decoded.b[0])
    expect([...decoded.m.keys()][0]).toBe(decoded.a)
    expect([...decoded.m.values()][0]).toBe(decoded.a)
  })

  it("supports circular references", () => {
    const node: { name: string; self?: unknown; list: Array<unknown> } = { name: "n", list: [] }
    node.self = node
    node.list.push(node)
    const decoded = roundTrip(node)
    expect(decoded.self).toBe(decoded)
    expect(decoded.list[0]).toBe(decoded)
  })

  it("keeps an Error's name, message, stack, cause and own properties", () => {
    const error = new TypeError("boom", { cause: new Error("inner", { cause: { code: 7 } }) })
    error.name = "ParseError"
    Object.assign(error, { code: "E_PARSE", detail: new Map([["line", 3]]) })
    const decoded = roundTrip({ error })
    expect(decoded.error).toBeInstanceOf(TypeError)
    expect(decoded.error.name).toBe("ParseError")
    expect(decoded.error.message).toBe("boom")
    expect(decoded.error.stack).toBe(error.stack)
    expect((decoded.error.cause as Error).message).toBe("inner")
    expect((decoded.error.cause as Error).cause).toEqual({ code: 7 })
    expect(decoded.error).toMatchObject({ code: "E_PARSE", detail: new Map([["line", 3]]) })
  })

  it("carries typed errors and AggregateError members", () => {
    const decoded = roundTrip(new CodecError({ message: "bad" }))
    expect(decoded).toBeInstanceOf(Error)
    expect(decoded).toMatchObject({ _tag: "CodecError", message: "bad" })
    const agg = roundTrip(new AggregateError([new RangeError("r")], "many"))
    expect(agg.errors.map((e: Error) => [e.name, e.message])).toEqual([["RangeError", "r"]])
  })

  it("never mistakes a user key for a type marker", () => {
    const lookalikes = [
      { __type: "Date", v: 1 },
      { $date: "2020-01-01T00:00:00.000Z" },
      { $: "D", v: 0 },
      { $$: 1, $ref: 0, __ref: 1 },
      { _tag: "Map", entries: [[1, 2]] }
    ]
    for (const value of lookalikes) {
      const decoded = roundTrip(value)
      expect(decoded).toStrictEqual(value)
      expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    }
  })

  it("keeps a __proto__ own key as data without touching prototypes", () => {
    const value = JSON.parse("{\"__proto__\": {\"polluted\": true}, \"a\": 1}")
    const decoded = roundTrip(value)
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect(Object.hasOwn(decoded, "__proto__")).toBe(true)
    expect((decoded as { polluted?: boolean }).polluted).toBeUndefined()
  })

  it("keeps lone surrogates in strings and keys", () => {
    expect(roundTrip({ "k\uD800": "v\uDC00" })).toStrictEqual({ "k\uD800": "v\uDC00" })
  })

  it("handles deep nesting, exponential sharing, many shapes and very wide objects", () => {
    let deep: unknown = "bottom"
    for (let i = 0; i < 2000; i++) deep = [deep]
    expect(same(deep, roundTrip(deep))).toBe(true)

    let dag: unknown = { leaf: 1 }
    for (let i = 0; i < 40; i++) dag = [dag, dag] // 2^40 paths, 41 objects
    const decodedDag = roundTrip(dag) as Array<unknown>
    expect(decodedDag[0]).toBe(decodedDag[1])

    const shapes = Array.from({ length: 300 }, (_, i) => ({ [`k${i}`]: i, [`j${i % 7}`]: [i] }))
    const wide = Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`key${i}`, i]))
    for (const value of [shapes, { shapes, m: new Map([[1, shapes]]) }, wide, { wide, m: new Map() }]) {
      expect(same(value, roundTrip(value))).toBe(true)
    }
  })

  it("fails with a CodecError for values that cannot cross the wire", () => {
    for (const value of [() => 1, { f: Symbol("s") }, new WeakMap()]) {
      expect(Either.isLeft(codec.encodeEither(value))).toBe(true)
      expect(() => codec.encode(value)).toThrow(CodecError)
    }
  })

  it.prop("gives a CodecError, never a throw, for garbage bytes", [fc.uint8Array({ maxLength: 64 })], ([bytes]) => {
    const result = codec.decodeEither(bytes)
    if (Either.isLeft(result)) expect(result.left).toBeInstanceOf(CodecError)
  }, { fastCheck: { numRuns: 2000 } })

  it.prop("gives a CodecError for garbage behind a valid format tag", [
    fc.constantFrom(0x01, 0x02, 0xff),
    fc.uint8Array({ maxLength: 64 })
  ], ([tag, body]) => {
    const bytes = Uint8Array.of(tag, ...(tag === 0xff ? [0x0f] : []), ...body)
    const result = codec.decodeEither(bytes)
    if (Either.isLeft(result)) expect(result.left).toBeInstanceOf(CodecError)
  }, { fastCheck: { numRuns: 2000 } })

  it("gives a CodecError for every truncation of a valid payload", () => {
    const values = [
      { type: "get_stats", id: 42, tags: ["a"] },
      { m: new Map([["k", [1, 2]]]), at: new Date(0) },
      { z: -0, e: new Error("x", { cause: 1 }) }
    ]
    for (const value of values) {
      const bytes = codec.encode(value)
      for (let n = 0; n < bytes.length; n++) {
        const result = codec.decodeEither(bytes.subarray(0, n))
        expect(Either.isLeft(result) && result.left instanceof CodecError).toBe(true)
      }
    }
  })

  it("rejects an unknown format tag and a forged error table", () => {
    expect(Either.getLeft(codec.decodeEither(Uint8Array.of(0x7f, 1)))._tag).toBe("Some")
    const forged = new v8.DefaultSerializer()
    forged.writeHeader()
    forged.writeUint32(1)
    forged.writeValue({ a: 1 })
    forged.writeValue([{ not: "an error" }])
    forged.writeValue([{ props: [] }])
    const result = codec.decodeEither(forged.releaseBuffer())
    expect(Either.isLeft(result) && result.left.message).toBe("malformed error table entry")
  })
})
