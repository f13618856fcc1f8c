/** Behaviors every test node process registers (see node-main.ts), for spawn tests across OS processes. */
import { Effect } from "effect"
import { GenServer } from "../../src/index.js"

/** Counts casts; `get` answers the count. */
export const counter = GenServer.behavior({
  init: (start: number = 0) => start,
  handleCall: (_: "get", n: number) => [n, n] as const,
  handleCast: (_: unknown, n: number) => n + 1
})

/** Appends every cast; `get` answers the list. */
export const list = GenServer.behavior({
  init: () => [] as Array<unknown>,
  handleCall: (_: "get", items: Array<unknown>) => [items, items] as const,
  handleCast: (item: unknown, items: Array<unknown>) => {
    items.push(item)
    return items
  }
})

/** Answers every call with the message itself. */
export const echo = GenServer.behavior({
  init: () => null,
  handleCall: (msg: unknown, s: null) => [msg, s] as const,
  handleCast: (_: unknown, s: null) => s
})

/** Answers `{ sleep: ms }` after sleeping that long. */
export const slow = GenServer.behavior({
  init: () => null,
  handleCall: (msg: { readonly sleep: number }, s: null) => Effect.as(Effect.sleep(msg.sleep), ["slept", s] as const),
  handleCast: (_: unknown, s: null) => s
})

/** Describes what arrived: the type of every value, as the receiving node sees it. */
const describe = (u: unknown, seen = new Set<unknown>()): unknown => {
  if (u === undefined) return "undefined"
  if (u === null) return "null"
  if (typeof u === "bigint") return `bigint:${u}`
  if (typeof u === "number") return Object.is(u, -0) ? "number:-0" : `number:${u}`
  if (typeof u !== "object") return `${typeof u}:${String(u)}`
  if (seen.has(u)) return "(shared)"
  seen.add(u)
  if (u instanceof Date) return `Date:${u.toISOString()}`
  if (Buffer.isBuffer(u)) return `Buffer:${u.toString("hex")}`
  if (u instanceof Uint8Array) return `Uint8Array:${Buffer.from(u).toString("hex")}`
  if (u instanceof Error) return { error: u.name, message: u.message, cause: describe(u.cause, seen) }
  if (u instanceof Map) return { Map: Array.from(u, ([k, v]) => [describe(k, seen), describe(v, seen)]) }
  if (u instanceof Set) return { Set: Array.from(u, (v) => describe(v, seen)) }
  if (Array.isArray(u)) return u.map((v) => describe(v, seen))
  return Object.fromEntries(Object.entries(u).map(([k, v]) => [k, describe(v, seen)]))
}

/** Answers with a description of the message as this node decoded it. */
export const inspect = GenServer.behavior({
  init: () => null,
  handleCall: (msg: unknown, s: null) => [describe(msg), s] as const,
  handleCast: (_: unknown, s: null) => s
})

/** OTP's way: `"boom"` fails the call, then the process exits with the error. */
export const crasher = GenServer.behavior({
  init: () => null,
  handleCall: (msg: "get" | "boom", s: null) => {
    if (msg === "boom") throw new RangeError("crasher exploded")
    return [msg, s] as const
  },
  handleCast: (_: unknown, s: null) => s,
  onError: "crash"
})

/** A distributed child: `"where"` answers its id (its `init` argument) and the node it runs on now. */
export const located = GenServer.behavior({
  init: (id: string = "") => id,
  handleCall: (_: "where", id: string) =>
    Effect.map(GenServer.self, (self) => [{ id, node: self._tag === "Some" ? self.value.nodeId : null }, id] as const),
  handleCast: (_: unknown, id: string) => id
})

/** Every behavior, by name. */
export const all = { counter, list, echo, slow, inspect, crasher, located }
