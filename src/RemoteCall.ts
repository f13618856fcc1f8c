/**
 * RemoteCall: request–response (`call`) and fire-and-forget (`cast`) to a process
 * anywhere in the cluster. A ref on this node never touches the network, so there
 * is no "smart call" to write: `RemoteCall.call` and `GenServer.call` are the same
 * path. Every call ends exactly once: with the reply, a typed error, or a timeout.
 */
import { Context, Effect } from "effect"
import type { CallError, InvalidMessageError, MessageTooLargeError } from "./errors.js"
import type { CallOptions, CallResult } from "./GenServer.js"
import { accessor } from "./internal/tracing.js"
import type { ServerRef } from "./ServerRef.js"

export type { CallOptions } from "./GenServer.js"

/** The RemoteCall service of one node. */
export interface Service {
  /**
   * Sends `msg` and waits for the reply. Fails with `NodeNotReachableError` (not
   * connected, or the node went down meanwhile), `RemoteCallTimeoutError`,
   * `RemoteServerNotRunningError`, `RemoteHandlerError`, `InvalidMessageError` or
   * `MessageTooLargeError`.
   */
  readonly call: <Reply = unknown>(
    ref: ServerRef,
    msg: unknown,
    options?: CallOptions
  ) => Effect.Effect<Reply, CallError>
  /**
   * Sends `msg` without waiting. A cast to a node that is not connected, or to a
   * process that does not exist, is dropped (and counted in `noex_casts_dropped_total`);
   * one that cannot be encoded or is over `maxFrameBytes` fails here, on the sender.
   */
  readonly cast: (ref: ServerRef, msg: unknown) => Effect.Effect<void, MessageTooLargeError | InvalidMessageError>
}

/** The RemoteCall service. */
export class RemoteCall extends Context.Tag("noex-effect/RemoteCall")<RemoteCall, Service>() {}

const callTraced = accessor(
  "RemoteCall.call",
  RemoteCall,
  (s, ref: ServerRef, msg: unknown, options?: CallOptions) => s.call(ref, msg, options)
)

/**
 * Calls a process, local or remote (the guide's `RemoteCall.call`). A typed request
 * (`Schema.TaggedRequest`) gives its declared reply type and declared errors, which
 * cross the wire as themselves (`catchTag` works across nodes). Traced as `RemoteCall.call`.
 */
export const call = <Reply = unknown, const Msg = unknown>(
  ref: ServerRef,
  msg: Msg,
  options?: CallOptions
): CallResult<Msg, Reply, RemoteCall> => callTraced(ref, msg, options) as any

/** Casts to a process, local or remote (the guide's `RemoteCall.cast`). Traced as `RemoteCall.cast`. */
export const cast: (
  ref: ServerRef,
  msg: unknown
) => Effect.Effect<void, MessageTooLargeError | InvalidMessageError, RemoteCall> = accessor(
  "RemoteCall.cast",
  RemoteCall,
  (s, ref: ServerRef, msg: unknown) => s.cast(ref, msg)
)
