/**
 * The request sub-protocol, owned by `cluster/internal/remoting.ts` (caller side) and
 * `cluster/internal/serving.ts` (serving side): calls, casts, spawns and stops. Each
 * request kind has its own answers, and each failure answer carries exactly the error
 * union its public function declares, so a peer's answer reaches the caller typed.
 */
import { Schema } from "effect"
import * as Errors from "../errors.js"
import { Bytes, NonNegativeInt, ServerId, tagged } from "./internal/fields.js"

/**
 * A failure the request declared (a `Schema.TaggedRequest`'s `failure`), in its encoded
 * form: the caller decodes it with the same schema and fails with the error itself. A
 * caller that does not know the schema gets a `RemoteHandlerError` from `name` and
 * `message` instead.
 */
export const DeclaredFailure = tagged("DeclaredFailure", {
  name: Schema.String,
  message: Schema.String,
  payload: Bytes
})

/** The errors a process's node answers a `Call` with (the caller adds `NodeNotReachableError`). */
export const CallFailure = Schema.Union(
  DeclaredFailure,
  Errors.RemoteServerNotRunningError,
  Errors.RemoteHandlerError,
  Errors.InvalidMessageError,
  Errors.RemoteCallTimeoutError,
  Errors.MessageTooLargeError,
  Errors.MailboxFullError
)

/** An error a `Call` is answered with. */
export type CallFailure = typeof CallFailure.Type

/** The errors a target answers a `Spawn` with (the caller adds its timeout and the network's). */
export const SpawnFailure = Schema.Union(
  Errors.BehaviorNotFoundError,
  Errors.RemoteSpawnInitError,
  Errors.RemoteSpawnRegistrationError,
  Errors.SpawnQuotaError
)

/** An error a `Spawn` is answered with. */
export type SpawnFailure = typeof SpawnFailure.Type

/** A request to a process; answered by `Reply` or `CallFailed` with the same `callId`. */
export const Call = tagged("Call", {
  callId: NonNegativeInt,
  serverId: ServerId,
  timeoutMs: NonNegativeInt,
  payload: Bytes
})

/** The reply to `Call`. */
export const Reply = tagged("Reply", { callId: NonNegativeInt, payload: Bytes })

/** A `Call` ended in a typed error. */
export const CallFailed = tagged("CallFailed", { callId: NonNegativeInt, error: CallFailure })

/** A message to a process, not answered. */
export const Cast = tagged("Cast", { serverId: ServerId, payload: Bytes })

/** Start a process from a registered behavior; answered by `Spawned` or `SpawnFailed`. */
export const Spawn = tagged("Spawn", {
  spawnId: NonNegativeInt,
  behaviorName: Schema.String,
  name: Schema.optionalWith(Schema.String, { exact: true }),
  registration: Schema.Literal("local", "global", "none"),
  initTimeoutMs: NonNegativeInt,
  args: Bytes,
  /** A process of the sender to link the new one with, once it started (before `Spawned`). */
  linkTo: Schema.optionalWith(ServerId, { exact: true })
})

/** The process a `Spawn` started. */
export const Spawned = tagged("Spawned", { spawnId: NonNegativeInt, serverId: ServerId })

/** A `Spawn` ended in a typed error. */
export const SpawnFailed = tagged("SpawnFailed", { spawnId: NonNegativeInt, error: SpawnFailure })

/** The caller gave up on a `Spawn`: stop what it started, if anything. */
export const SpawnAbandoned = tagged("SpawnAbandoned", { spawnId: NonNegativeInt })

/** Stop a process; answered by `Stopped` or `StopFailed` with the same `callId` (0: no answer). */
export const Stop = tagged("Stop", { callId: NonNegativeInt, serverId: ServerId, reason: Bytes })

/** The process a `Stop` named has terminated. */
export const Stopped = tagged("Stopped", { callId: NonNegativeInt })

/** The process a `Stop` named was not running. */
export const StopFailed = tagged("StopFailed", { callId: NonNegativeInt, error: Errors.RemoteServerNotRunningError })

/** The messages of this sub-protocol. */
export const messages = [
  Call,
  Reply,
  CallFailed,
  Cast,
  Spawn,
  Spawned,
  SpawnFailed,
  SpawnAbandoned,
  Stop,
  Stopped,
  StopFailed
] as const

/** A request or an answer. */
export type RequestMessage = Schema.Schema.Type<(typeof messages)[number]>
