/**
 * RemoteCall: request–response (`call`) and fire-and-forget (`cast`) to a process
 * anywhere in the cluster. A ref on this node never touches the network, so there
 * is no "smart call" to write: `RemoteCall.call` and `GenServer.call` are the same
 * path. Every call ends exactly once: with the reply, a typed error, or a timeout.
 */
import { Context, Duration, Effect } from "effect"
import type { CallError, InvalidMessageError, MessageTooLargeError } from "./errors.js"
import type { Service as GenServerService } from "./GenServer.js"
import { defaults as genServerDefaults } from "./GenServer.js"
import type { Remoting } from "./cluster/internal/remoting.js"
import { toMillis } from "./internal/timers.js"
import type { ServerRef } from "./ServerRef.js"

/** Options of {@link call}. */
export interface CallOptions {
  /** How long to wait for the reply (default 5 s; a number is milliseconds). */
  readonly timeout?: Duration.DurationInput | undefined
}

/** The RemoteCall service of one node. */
export interface Service {
  /**
   * Sends `msg` and waits for the reply. Fails with `NodeNotReachableError` (not
   * connected, or the node went down meanwhile), `RemoteCallTimeoutError`,
   * `RemoteServerNotRunningError`, `RemoteHandlerError`, `InvalidMessageError` or
   * `MessageTooLargeError`.
   */
  readonly call: <Reply = unknown>(ref: ServerRef, msg: unknown, options?: CallOptions) => Effect.Effect<Reply, CallError>
  /**
   * Sends `msg` without waiting. A cast to a node that is not connected, or to a
   * process that does not exist, is dropped (and counted in `noex_casts_dropped_total`);
   * one that cannot be encoded or is over `maxFrameBytes` fails here, on the sender.
   */
  readonly cast: (ref: ServerRef, msg: unknown) => Effect.Effect<void, MessageTooLargeError | InvalidMessageError>
}

/** The RemoteCall service. */
export class RemoteCall extends Context.Tag("noex-effect/RemoteCall")<RemoteCall, Service>() {}

/** Builds the service over the local runtime and the cluster's remoting. */
export const make = (runtime: GenServerService, remoting: Remoting): Service => {
  // Decoded once: a call without options should not pay for decoding the default.
  const defaultTimeoutMs = toMillis(genServerDefaults.callTimeout)
  return {
    call: <Reply>(ref: ServerRef, msg: unknown, options?: CallOptions) =>
      ref.nodeId === runtime.nodeId
        ? runtime.call<Reply>(ref, msg, options)
        : (remoting.call(
            ref,
            msg,
            options?.timeout === undefined ? defaultTimeoutMs : toMillis(options.timeout)
          ) as Effect.Effect<Reply, CallError>),
    cast: (ref, msg) => (ref.nodeId === runtime.nodeId ? runtime.cast(ref, msg) : remoting.cast(ref, msg))
  }
}

/** Calls a process, local or remote (the guide's `RemoteCall.call`). */
export const call = <Reply = unknown>(
  ref: ServerRef,
  msg: unknown,
  options?: CallOptions
): Effect.Effect<Reply, CallError, RemoteCall> => Effect.flatMap(RemoteCall, (s) => s.call<Reply>(ref, msg, options))

/** Casts to a process, local or remote (the guide's `RemoteCall.cast`). */
export const cast = (
  ref: ServerRef,
  msg: unknown
): Effect.Effect<void, MessageTooLargeError | InvalidMessageError, RemoteCall> => Effect.flatMap(RemoteCall, (s) => s.cast(ref, msg))
