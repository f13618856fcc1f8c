/**
 * What a supervisor says and hears: its typed errors (published by `Supervisor.ts`),
 * the management requests as `Schema.TaggedRequest`s (so they cross the wire, their
 * declared errors as themselves), and the message it sends itself when a restart is due.
 */
import { Schema } from "effect"
import { NodeId } from "../../NodeId.js"
import { ServerRef } from "../../ServerRef.js"
import * as Spec from "./spec.js"

/** A child could not be started (its spec, its `init`, its name, its node); `childId` is empty when the supervisor's own options are wrong. */
export class SupervisorStartError extends Schema.TaggedError<SupervisorStartError>()("SupervisorStartError", {
  childId: Schema.String,
  message: Schema.String
}) {}

/** `startChild` with an id the supervisor already has, running or not (`deleteChild` frees it). */
export class ChildAlreadyExistsError extends Schema.TaggedError<ChildAlreadyExistsError>()("ChildAlreadyExistsError", {
  id: Schema.String
}) {
  override get message() {
    return `the supervisor already has a child '${this.id}'`
  }
}

/** The supervisor has no child with that id. */
export class ChildNotFoundError extends Schema.TaggedError<ChildNotFoundError>()("ChildNotFoundError", {
  id: Schema.String
}) {
  override get message() {
    return `the supervisor has no child '${this.id}'`
  }
}

/** `restartChild` or `deleteChild` of a child that is running or waiting for its restart. */
export class ChildRunningError extends Schema.TaggedError<ChildRunningError>()("ChildRunningError", {
  id: Schema.String,
  status: Schema.Literal("running", "restarting")
}) {
  override get message() {
    return `the child '${this.id}' is ${this.status}`
  }
}

/** Why a supervisor exited (as `{ error }`): more than `maxRestarts` restarts within `period`. */
export class MaxRestartIntensityError extends Schema.TaggedError<MaxRestartIntensityError>()(
  "MaxRestartIntensityError",
  { childId: Schema.String, maxRestarts: Schema.Number, periodMs: Schema.Number }
) {
  override get message() {
    return `max restart intensity reached: more than ${this.maxRestarts} restarts within ${this.periodMs} ms (the last of '${this.childId}')`
  }
}

/** Why a supervisor exited (as `{ error }`): a child's `backoff` schedule ended, so it gets no more restarts. */
export class BackoffExhaustedError extends Schema.TaggedError<BackoffExhaustedError>()("BackoffExhaustedError", {
  childId: Schema.String
}) {
  override get message() {
    return `the backoff schedule of '${this.childId}' ended: no more restarts`
  }
}

/** A child's `start`: a behavior value or a nested supervisor's spec only from this process. */
const Start = Schema.Union(
  Schema.String,
  Schema.declare(Spec.isBehavior, { identifier: "GenServerBehavior" }),
  Schema.declare(Spec.isSupervisorSpec, { identifier: "SupervisorSpec" })
)

/** A checked child spec as a request carries it: from another node only a behavior name fits. */
export const SpecSchema = Schema.Struct({
  id: Schema.String,
  start: Start,
  args: Schema.Array(Schema.Unknown),
  restart: Schema.Literal("permanent", "transient", "temporary"),
  shutdown: Schema.Duration,
  node: Schema.optional(NodeId.schema),
  name: Schema.optional(Schema.String)
})

/** A child as `whichChildren` answers it (its ref an `Option`, encoded as data on the wire). */
export const ChildInfoSchema = Schema.Struct({
  id: Schema.String,
  ref: Schema.Option(ServerRef.schema),
  restart: Schema.Literal("permanent", "transient", "temporary"),
  status: Schema.Literal("running", "restarting", "stopped"),
  type: Schema.Literal("worker", "supervisor")
})

/** Starts the children; sent once by whoever started the process, since `init` has no `self` to link them with. */
export class Boot extends Schema.TaggedRequest<Boot>()("Supervisor.Boot", {
  failure: SupervisorStartError,
  success: Schema.Void,
  payload: { parent: Schema.optional(ServerRef.schema) }
}) {}

/** `Supervisor.startChild`. */
export class StartChild extends Schema.TaggedRequest<StartChild>()("Supervisor.StartChild", {
  failure: Schema.Union(ChildAlreadyExistsError, SupervisorStartError),
  success: ServerRef.schema,
  payload: { spec: SpecSchema }
}) {}

/** `Supervisor.terminateChild`. */
export class TerminateChild extends Schema.TaggedRequest<TerminateChild>()("Supervisor.TerminateChild", {
  failure: ChildNotFoundError,
  success: Schema.Void,
  payload: { id: Schema.String }
}) {}

/** `Supervisor.restartChild`. */
export class RestartChild extends Schema.TaggedRequest<RestartChild>()("Supervisor.RestartChild", {
  failure: Schema.Union(ChildNotFoundError, ChildRunningError, SupervisorStartError),
  success: ServerRef.schema,
  payload: { id: Schema.String }
}) {}

/** `Supervisor.deleteChild`. */
export class DeleteChild extends Schema.TaggedRequest<DeleteChild>()("Supervisor.DeleteChild", {
  failure: Schema.Union(ChildNotFoundError, ChildRunningError),
  success: Schema.Void,
  payload: { id: Schema.String }
}) {}

/** `Supervisor.whichChildren`. */
export class WhichChildren extends Schema.TaggedRequest<WhichChildren>()("Supervisor.WhichChildren", {
  failure: Schema.Never,
  success: Schema.Array(ChildInfoSchema),
  payload: {}
}) {}

/** `Supervisor.countChildren`. */
export class CountChildren extends Schema.TaggedRequest<CountChildren>()("Supervisor.CountChildren", {
  failure: Schema.Never,
  success: Schema.Struct({
    specs: Schema.Number,
    active: Schema.Number,
    supervisors: Schema.Number,
    workers: Schema.Number
  }),
  payload: {}
}) {}

/** Every request a supervisor serves: its behavior's call schema, so a remote request is decoded into its class. */
export const Requests = Schema.Union(
  Boot,
  StartChild,
  TerminateChild,
  RestartChild,
  DeleteChild,
  WhichChildren,
  CountChildren
)

/**
 * A restart whose delay passed, or a retry of one that failed, sent by the supervisor to
 * itself. A class instance: what another node sends is never one.
 */
export class RestartDue {
  constructor(readonly episode: number, readonly childId: string, readonly exhausted: boolean) {}
}
