/**
 * Payload codec candidates side by side: speed (encode, decode, both) next to a raw
 * `JSON.stringify` + `JSON.parse` baseline measured in the same run, and a fidelity
 * checklist per candidate. Run with `npx tsx bench/codec.ts`; figures go to `docs/wire.md`.
 * Machines are noisy: read the ratios, and compare the baseline at start and end.
 */
import { Packr } from "msgpackr"
import * as v8 from "node:v8"
import { makeCodec } from "../src/wire/Codec.js"

interface Candidate {
  readonly name: string
  readonly encode: (value: unknown) => Uint8Array
  readonly decode: (bytes: Uint8Array) => unknown
}

// ---------------------------------------------------------------------------------------------
// (a) JSON with escape-safe markers. A marker is an object with the key "$"; user keys that
// start with "$" get one more "$", so no user object can carry the key "$" on the wire.
// Every object gets an id in visit order; a repeat is sent as { $: "r", v: id }.

const TYPED_ARRAYS: Record<string, new(b: ArrayBuffer) => ArrayBufferView> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array
}
const b64 = (v: ArrayBufferView) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64")

const toJson = (v: unknown, ids: Map<object, number>): unknown => {
  switch (typeof v) {
    case "number":
      return Number.isFinite(v) && !Object.is(v, -0) ? v : { $: "n", v: Object.is(v, -0) ? "-0" : String(v) }
    case "string":
    case "boolean":
      return v
    case "undefined":
      return { $: "u" }
    case "bigint":
      return { $: "b", v: v.toString() }
    case "object":
      break
    default:
      throw new TypeError(`cannot encode a ${typeof v}`)
  }
  if (v === null) return null
  const id = ids.get(v)
  if (id !== undefined) return { $: "r", v: id }
  ids.set(v, ids.size)
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length)
    for (let i = 0; i < v.length; i++) out[i] = i in v ? toJson(v[i], ids) : { $: "h" }
    return out
  }
  if (v instanceof Date) return { $: "D", v: v.getTime() }
  if (v instanceof Map) {
    const out: Array<unknown> = []
    for (const [k, x] of v) out.push(toJson(k, ids), toJson(x, ids))
    return { $: "M", v: out }
  }
  if (v instanceof Set) return { $: "S", v: Array.from(v, (x) => toJson(x, ids)) }
  if (Buffer.isBuffer(v)) return { $: "B", v: b64(v) }
  if (ArrayBuffer.isView(v)) return { $: "T", t: v.constructor.name, v: b64(v) }
  if (v instanceof Error) {
    return { $: "E", t: v.name, m: v.message, s: v.stack, c: "cause" in v ? toJson(v.cause, ids) : { $: "h" } }
  }
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(v)) {
    const wireKey = key.charCodeAt(0) === 36 ? "$" + key : key
    Object.defineProperty(out, wireKey, { value: toJson((v as any)[key], ids), enumerable: true, writable: true })
  }
  return out
}

const fromJson = (j: unknown, refs: Array<unknown>): unknown => {
  if (typeof j !== "object" || j === null) return j
  if (Array.isArray(j)) {
    const out = new Array<unknown>(j.length)
    refs.push(out)
    for (let i = 0; i < j.length; i++) {
      const x = j[i]
      if (!(typeof x === "object" && x !== null && x.$ === "h")) out[i] = fromJson(x, refs)
    }
    return out
  }
  const m = j as Record<string, any>
  switch (m.$) {
    case undefined: {
      const out: Record<string, unknown> = {}
      refs.push(out)
      for (const key of Object.keys(m)) {
        const userKey = key.charCodeAt(0) === 36 ? key.slice(1) : key
        Object.defineProperty(out, userKey, {
          value: fromJson(m[key], refs),
          enumerable: true,
          writable: true,
          configurable: true
        })
      }
      return out
    }
    case "u":
      return undefined
    case "n":
      return m.v === "-0" ? -0 : Number(m.v)
    case "b":
      return BigInt(m.v)
    case "r":
      return refs[m.v]
    case "D": {
      const d = new Date(m.v ?? NaN)
      refs.push(d)
      return d
    }
    case "B": {
      const b = Buffer.from(m.v, "base64")
      refs.push(b)
      return b
    }
    case "T": {
      const raw = Buffer.from(m.v, "base64")
      const t = new TYPED_ARRAYS[m.t]!(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length))
      refs.push(t)
      return t
    }
    case "M": {
      const map = new Map()
      refs.push(map)
      for (let i = 0; i < m.v.length; i += 2) map.set(fromJson(m.v[i], refs), fromJson(m.v[i + 1], refs))
      return map
    }
    case "S": {
      const set = new Set()
      refs.push(set)
      for (const x of m.v) set.add(fromJson(x, refs))
      return set
    }
    case "E": {
      const e = new Error(m.m)
      refs.push(e)
      e.name = m.t
      e.stack = m.s
      if (!(m.c && m.c.$ === "h")) e.cause = fromJson(m.c, refs)
      return e
    }
  }
  throw new Error(`unknown marker ${String(m.$)}`)
}

const jsonMarkers: Candidate = {
  name: "(a) JSON + escape-safe markers",
  encode: (v) => Buffer.from(JSON.stringify(toJson(v, new Map()))),
  decode: (b) => fromJson(JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString()), [])
}

// ---------------------------------------------------------------------------------------------

const packrCandidate = (name: string, options: ConstructorParameters<typeof Packr>[0]): Candidate => {
  const packr = new Packr(options)
  return { name, encode: (v) => packr.pack(v), decode: (b) => packr.unpack(b) }
}
const chosen = makeCodec()

const candidates: ReadonlyArray<Candidate> = [
  jsonMarkers,
  packrCandidate("(b1) msgpackr structuredClone, no records", {
    structuredClone: true,
    useRecords: false,
    moreTypes: true
  }),
  packrCandidate("(b2) msgpackr records, maps as Map", {
    structuredClone: true,
    moreTypes: true,
    mapsAsObjects: false
  }),
  packrCandidate("(b3) msgpackr plain (useRecords: false)", { useRecords: false }),
  { name: "(c) node:v8 serialize", encode: (v) => v8.serialize(v), decode: (b) => v8.deserialize(b) },
  { name: "chosen: Codec.makeCodec()", encode: chosen.encode, decode: chosen.decode }
]

// ---------------------------------------------------------------------------------------------
// Messages: a small call and a ~1 KB one, each with a JSON-safe twin for the baseline.

const small = { type: "get_stats", id: 42 }
const kilobyte = {
  type: "order_updated",
  id: 981_234,
  at: new Date(1_700_000_000_123),
  customer: { name: "Ada Lovelace", email: "ada@example.com", tier: "gold", roles: ["admin", "dev"], verified: true },
  items: Array.from({ length: 6 }, (_, i) => ({
    sku: `SKU-${1000 + i}`,
    title: `Widget number ${i}`,
    qty: i + 1,
    price: 9.99 * (i + 1),
    tags: ["blue", "large"]
  })),
  shipping: { street: "12 Analytical Engine Way", city: "London", zip: "NW1 6XE", country: "GB", express: false },
  meta: new Map<string, unknown>([["region", "eu-west-1"], ["shard", 7], [
    "trace",
    "a3f9c2e1-77b2-4d1e-9c55-0d3c9b1f2a64"
  ]]),
  note: "Leave at the door if nobody answers; ring twice. The parcel contains fragile brass gears."
}
const jsonSafe = (v: typeof kilobyte) => ({ ...v, at: v.at.toISOString(), meta: Object.fromEntries(v.meta) })
const withoutMap = { ...kilobyte, meta: Object.fromEntries(kilobyte.meta) }
const messages = [
  { name: "small message", value: small as unknown, json: small as unknown },
  { name: "1 KB message with a Map", value: kilobyte as unknown, json: jsonSafe(kilobyte) as unknown },
  // the same message with `meta` as a plain object: shows what a Map costs
  {
    name: "1 KB message, meta as a plain object (no Map)",
    value: withoutMap as unknown,
    json: jsonSafe(kilobyte) as unknown
  }
]

// ---------------------------------------------------------------------------------------------

let sink = 0
const rate = (f: () => unknown, ms: number): number => {
  let n = 0
  const start = performance.now()
  let elapsed = 0
  do {
    for (let i = 0; i < 200; i++) if (f() === sink) sink++
    n += 200
    elapsed = performance.now() - start
  } while (elapsed < ms)
  return (n / elapsed) * 1000
}
/** Median of five 120 ms samples after a 120 ms warm-up. */
const opsPerSec = (f: () => unknown): number => {
  rate(f, 120)
  const samples = [0, 1, 2, 3, 4].map(() => rate(f, 120)).sort((a, b) => a - b)
  return samples[2]!
}
const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`)
const pad = (s: string, n: number) => s.padEnd(n)
const lpad = (s: string, n: number) => s.padStart(n)

console.log(`node ${process.version}, ${process.arch}; ops/s are medians of five 120 ms samples`)
console.log("ratio = enc+dec/s over the baseline's; enc+dec decodes a fresh buffer each time, as a socket does,")
console.log("while decode/s reuses one buffer (msgpackr caches a DataView on it, so its decode/s is optimistic)\n")
for (const message of messages) {
  const jsonText = JSON.stringify(message.json)
  const baseline = opsPerSec(() => JSON.parse(JSON.stringify(message.json)))
  console.log(`${message.name} (${Buffer.byteLength(jsonText)} bytes as JSON)`)
  console.log(
    `  ${pad("candidate", 44)}${lpad("bytes", 6)}${lpad("encode/s", 10)}${lpad("decode/s", 10)}${
      lpad("enc+dec/s", 11)
    }${lpad("ratio", 7)}`
  )
  console.log(
    `  ${pad("baseline: JSON.stringify + JSON.parse", 44)}${lpad(String(Buffer.byteLength(jsonText)), 6)}${
      lpad("", 20)
    }${lpad(fmt(baseline), 11)}${lpad("1.00", 7)}`
  )
  for (const c of candidates) {
    const bytes = c.encode(message.value)
    const enc = opsPerSec(() => c.encode(message.value))
    const dec = opsPerSec(() => c.decode(bytes))
    const both = opsPerSec(() => c.decode(c.encode(message.value)))
    console.log(
      `  ${pad(c.name, 44)}${lpad(String(bytes.length), 6)}${lpad(fmt(enc), 10)}${lpad(fmt(dec), 10)}${
        lpad(fmt(both), 11)
      }${lpad((both / baseline).toFixed(2), 7)}`
    )
  }
  const again = opsPerSec(() => JSON.parse(JSON.stringify(message.json)))
  console.log(
    `  baseline measured again at the end: ${fmt(again)} (${((again / baseline - 1) * 100).toFixed(0)}% drift)\n`
  )
}

// ---------------------------------------------------------------------------------------------
// Fidelity: does each type survive a round trip exactly?

const errWithEverything = () => {
  const e = new TypeError("boom", { cause: new Error("inner") })
  e.name = "ParseError"
  return Object.assign(e, { code: "E_PARSE" })
}
const shared = { s: 1 }
const circular: Record<string, unknown> = { a: 1 }
circular.self = circular
const sparse = [1, , 3]
const proto = JSON.parse("{\"__proto__\": {\"x\": 1}}")
const checks: ReadonlyArray<readonly [string, unknown, (d: any, v: any) => boolean]> = [
  ["Date", new Date(5), (d) => d instanceof Date && d.getTime() === 5],
  ["Map (object keys) stays a Map", new Map([[{ k: 1 }, 2]]), (d) => d instanceof Map && d.size === 1],
  [
    "object next to a Map stays an object",
    { o: { a: 1 }, m: new Map([["a", 1]]) },
    (d) => d.o.constructor === Object && d.m instanceof Map
  ],
  ["Set", new Set([1, "x"]), (d) => d instanceof Set && d.has("x")],
  ["BigInt (1n, 2^70)", [1n, 2n ** 70n], (d) => d[0] === 1n && d[1] === 2n ** 70n],
  ["Buffer stays a Buffer", Buffer.from("hi"), (d) => Buffer.isBuffer(d) && d.toString() === "hi"],
  ["Uint8Array stays a Uint8Array", Uint8Array.of(1), (d) => d instanceof Uint8Array && !Buffer.isBuffer(d)],
  ["Float64Array", new Float64Array([1.5, NaN]), (d) => d instanceof Float64Array && Number.isNaN(d[1])],
  ["NaN, ±Infinity", [NaN, Infinity, -Infinity], (d) => Number.isNaN(d[0]) && d[1] === Infinity && d[2] === -Infinity],
  ["-0", [-0], (d) => Object.is(d[0], -0)],
  [
    "undefined: value, property, in array",
    { u: undefined, a: [undefined] },
    (d) => "u" in d && d.u === undefined && d.a.length === 1 && 0 in d.a
  ],
  ["array hole", sparse, (d) => d.length === 3 && !(1 in d)],
  ["shared reference", [shared, shared], (d) => d[0] === d[1]],
  ["circular reference", circular, (d) => d.self === d],
  [
    "Error custom name + message",
    errWithEverything(),
    (d) => d instanceof Error && d.name === "ParseError" && d.message === "boom"
  ],
  ["Error keeps built-in class (TypeError)", errWithEverything(), (d) => d instanceof TypeError],
  ["Error cause", errWithEverything(), (d) => d.cause instanceof Error && d.cause.message === "inner"],
  ["Error stack (the sender's)", errWithEverything(), (d, v) => d.stack === v.stack],
  ["Error own properties (code)", errWithEverything(), (d) => d.code === "E_PARSE"],
  [
    "marker-like user keys",
    [{ __type: "Date", v: 1 }, { $date: 1 }, { $: "D", v: 2 }, { _tag: "Map" }],
    (d) =>
      JSON.stringify(d) === "[{\"__type\":\"Date\",\"v\":1},{\"$date\":1},{\"$\":\"D\",\"v\":2},{\"_tag\":\"Map\"}]"
  ],
  [
    "__proto__ own key kept as data",
    proto,
    (d) => Object.hasOwn(d, "__proto__") && Object.getPrototypeOf(d) === Object.prototype
  ],
  ["lone surrogate", "a\uD800", (d) => d === "a\uD800"],
  ["function is rejected, not dropped", { f: () => 1 }, () => false]
]

console.log("fidelity (✓ survives exactly, ✗ altered or lost, ! throws)")
const header = candidates.map((_, i) => lpad(["a", "b1", "b2", "b3", "c", "ours"][i]!, 5)).join("")
console.log(`  ${pad("", 42)}${header}`)
for (const [name, value, ok] of checks) {
  const cells = candidates.map((c) => {
    let decoded: unknown
    try {
      decoded = c.decode(c.encode(value))
    } catch {
      return name.startsWith("function") ? "✓" : "!"
    }
    try {
      return ok(decoded, value) ? "✓" : "✗"
    } catch {
      return "✗"
    }
  })
  console.log(`  ${pad(name, 42)}${cells.map((s) => lpad(s, 5)).join("")}`)
}
if (sink === -1) console.log(sink)
