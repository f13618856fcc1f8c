/**
 * A key-value store as one GenServer: `get`, `put`, `delete` and `keys` are calls. The
 * store is spawned once in the cluster and registered globally as `kv:store`; the client
 * functions below find it by that name from any node (`GlobalRegistry.lookup`) and call it
 * there — local or remote, the same code. Values are any structured data the payload codec
 * carries: Date, Map, Set, BigInt, typed arrays, NaN, undefined, ... arrive as they left.
 */
import { Effect } from "effect"
import { GenServer, GlobalRegistry, RemoteCall } from "noex-effect"

/** The cluster-wide name of the store. */
export const KV_NAME = "kv:store"

export type KvCall =
  | { readonly type: "get"; readonly key: string }
  | { readonly type: "put"; readonly key: string; readonly value: unknown }
  | { readonly type: "delete"; readonly key: string }
  | { readonly type: "keys" }

type State = ReadonlyMap<string, unknown>

/** The behavior, registered as `kv` on every node so the store can be spawned anywhere. */
export const kvBehavior = GenServer.behavior({
  init: (): State => new Map(),
  handleCall: (msg: KvCall, state: State): readonly [unknown, State] => {
    switch (msg.type) {
      case "get":
        return [state.get(msg.key), state]
      case "put":
        return [state.has(msg.key) ? "updated" : "created", new Map(state).set(msg.key, msg.value)]
      case "delete": {
        const next = new Map(state)
        return [next.delete(msg.key), next]
      }
      case "keys":
        return [Array.from(state.keys()), state]
    }
  },
  handleCast: (_: unknown, state: State) => state
})

const callStore = <A>(msg: KvCall) =>
  Effect.flatMap(GlobalRegistry.lookup(KV_NAME), (store) => RemoteCall.call<A>(store, msg))

/** The value under `key` (`undefined` when absent). */
export const get = (key: string) => callStore<unknown>({ type: "get", key })
/** Stores `value` under `key`: "created" or "updated". */
export const put = (key: string, value: unknown) => callStore<"created" | "updated">({ type: "put", key, value })
/** Removes `key`: whether it was there. */
export const remove = (key: string) => callStore<boolean>({ type: "delete", key })
/** Every key, in insertion order. */
export const keys = callStore<ReadonlyArray<string>>({ type: "keys" })
