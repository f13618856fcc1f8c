/**
 * `Cluster.monitorNode`: one node's going down, as an Effect that completes once.
 * Subscribed to node events before the first look, so a link that goes in between is
 * seen either way: as not connected, or as its `NodeDown`.
 */
import { Deferred, Effect, PubSub } from "effect"
import type { Scope } from "effect"
import type { NodeId } from "../../NodeId.js"
import type { NodeMonitor, NodeMonitorReason } from "../Cluster.js"
import type { NodeEvent } from "../NodeEvent.js"

/** Watches `nodeId` for as long as the scope lives. */
export const monitorNode = (
  nodeId: NodeId,
  events: PubSub.PubSub<NodeEvent>,
  isConnected: () => boolean
): Effect.Effect<NodeMonitor, never, Scope.Scope> =>
  Effect.gen(function*() {
    const down = yield* Deferred.make<NodeMonitorReason>()
    const queue = yield* PubSub.subscribe(events)
    if (!isConnected()) {
      yield* Deferred.succeed(down, "noconnection")
    } else {
      const watch: Effect.Effect<void> = Effect.flatMap(
        queue.take,
        (event) =>
          event._tag === "NodeDown" && event.nodeId === nodeId
            ? Effect.asVoid(Deferred.succeed(down, event.reason))
            : watch
      )
      yield* Effect.forkScoped(watch)
    }
    return { nodeId, down: Deferred.await(down) }
  })
