/**
 * `Cluster.awaitNodes`: waits until enough nodes, or the named ones, are connected.
 * It wakes on node events, not on a poll: subscribed before the first look, so a node
 * that comes up in between is not missed.
 */
import { Duration, Effect, PubSub } from "effect"
import { AwaitNodesTimeoutError } from "../../errors.js"
import type { NodeId } from "../../NodeId.js"
import type { NodeEvent, NodeInfo } from "../NodeEvent.js"

/** What to wait for: at least `count` other nodes and every one of `ids` (default: one node). */
export interface AwaitNodesOptions {
  /** At least this many other nodes connected. Default 1 when `ids` is not given, else 0. */
  readonly count?: number | undefined
  /** Each of these nodes connected (this node's own id is always present). */
  readonly ids?: ReadonlyArray<NodeId | string> | undefined
  /** How long to wait before failing with `AwaitNodesTimeoutError`. Default 30 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
}

/** Long enough for seeds on a loaded machine to finish their handshakes and gossip. */
export const DEFAULT_AWAIT_TIMEOUT = Duration.seconds(30)

/** Waits on `events` until `connected()` satisfies `options`; answers the connected nodes then. */
export const awaitNodes = (
  self: NodeId,
  events: PubSub.PubSub<NodeEvent>,
  connected: () => Array<NodeInfo>,
  options: AwaitNodesOptions = {}
): Effect.Effect<ReadonlyArray<NodeInfo>, AwaitNodesTimeoutError> => {
  const ids = (options.ids ?? []).filter((id) => id !== self)
  const count = options.count ?? (options.ids === undefined ? 1 : 0)
  if (!Number.isSafeInteger(count) || count < 0) {
    return Effect.dieMessage(`Cluster.awaitNodes: count must be a non-negative integer, got ${count}`)
  }
  const timeout = Duration.decode(options.timeout ?? DEFAULT_AWAIT_TIMEOUT)
  const missing = (nodes: ReadonlyArray<NodeInfo>) => ids.filter((id) => !nodes.some((n) => n.id === id))
  const satisfied = (nodes: ReadonlyArray<NodeInfo>) => nodes.length >= count && missing(nodes).length === 0
  const wanted = [
    ...(count > 0 ? [`${count} node${count === 1 ? "" : "s"}`] : []),
    ...(ids.length > 0 ? [ids.join(", ")] : [])
  ].join(" and ")
  return Effect.scoped(Effect.gen(function*() {
    const queue = yield* PubSub.subscribe(events)
    let nodes = connected()
    while (!satisfied(nodes)) {
      yield* queue.take
      nodes = connected()
    }
    return nodes
  })).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => {
        const nodes = connected()
        return new AwaitNodesTimeoutError({
          wanted: wanted.length === 0 ? "no node" : wanted,
          missing: missing(nodes),
          connected: nodes.map((n) => n.id),
          timeoutMs: Duration.toMillis(timeout)
        })
      }
    })
  )
}
