/**
 * GenServer: a process with private state that handles one message at a time.
 * `call` waits for a reply, `cast` does not. Refs are location transparent: a ref
 * whose `nodeId` is this node is served by the local {@link GenServerRuntime}
 * without touching the network; any other ref is routed through the cluster
 * (when `Cluster.layer` installed one) or fails with `NodeNotReachableError`.
 *
 * Behaviors are the guide's plain objects: every handler may answer with a value,
 * a Promise or an Effect.
 */
import {
  Context,
  Deferred,
  Effect,
  Exit,
  FiberRef,
  Layer,
  Option as OptionRuntime,
  Queue,
  Schema as SchemaRuntime,
  Stream
} from "effect"
import type { Duration } from "effect"
import type { Either, Option, Schema, Scope } from "effect"
import type {
  CallError,
  GenServerInitError,
  NameAlreadyRegisteredError,
  NodeNotReachableError,
  RemoteServerNotRunningError
} from "./errors.js"
import type { ExitReason } from "./ExitReason.js"
import * as Runtime from "./internal/runtime.js"
import { currentProcess } from "./internal/self.js"
import { accessor } from "./internal/tracing.js"
import type { Down, Monitor } from "./Monitor.js"
import { NodeId } from "./NodeId.js"
import type { ServerRef } from "./ServerRef.js"

export type { ExitReason } from "./ExitReason.js"
export type { ExitSignal } from "./internal/links.js"
export { isExitSignal } from "./internal/links.js"
export type { Down, DownReason, Monitor } from "./Monitor.js"
export { isDown } from "./Monitor.js"

/** Something that is either a value, a Promise of it, or an Effect producing it. */
export type Answer<A, R = never> = A | Promise<A> | Effect.Effect<A, unknown, R>

/**
 * A process definition: how to build the initial state and how to handle calls and casts.
 * `schemas`, when present, validate messages arriving from other nodes.
 */
export interface GenServerBehavior<State, CallMsg, CastMsg, Reply, R = never> {
  readonly init: (...args: ReadonlyArray<any>) => Answer<State, R>
  readonly handleCall: (msg: CallMsg, state: State) => Answer<readonly [Reply, State], R>
  readonly handleCast: (msg: CastMsg, state: State) => Answer<State, R>
  /**
   * Info messages: a monitor's {@link Down} for a monitor this process owns, and what
   * {@link send} sent. Without it they are logged and dropped. `msg` is whatever arrived:
   * narrow it (`GenServer.isDown`). `from` is the node a `send` came from, as the link it
   * arrived on authenticated it (a peer cannot speak for another); `undefined` for what
   * this node sent, a `Down` or an `ExitSignal`.
   */
  readonly handleInfo?: ((msg: any, state: State, from?: NodeId) => Answer<State, R>) | undefined
  /**
   * What a failing handler does to its process. `"reply"` (the default): the caller gets
   * `RemoteHandlerError` and the process goes on. `"crash"` (OTP's way): after that
   * answer, the process exits with `{ error }`, which its monitors, links and supervisors
   * see. A typed request's declared failure is an answer either way, not a crash.
   */
  readonly onError?: "reply" | "crash" | undefined
  readonly terminate?:
    | ((reason: ExitReason, state: State) => void | Promise<void> | Effect.Effect<void, never, R>)
    | undefined
  readonly schemas?: BehaviorSchemas<CallMsg, CastMsg, Reply> | undefined
}

/**
 * Effect Schemas for a behavior's messages; inbound remote messages are decoded with them.
 * Each accepts a `never` side too (`cast: Schema.Never` for a behavior with no casts):
 * Schemas are invariant, so `any` alone would not admit them.
 */
export interface BehaviorSchemas<CallMsg, CastMsg, Reply> {
  readonly call?: Schema.Schema<CallMsg, any> | Schema.Schema<CallMsg, never> | undefined
  readonly cast?: Schema.Schema<CastMsg, any> | Schema.Schema<CastMsg, never> | undefined
  readonly reply?: Schema.Schema<Reply, any> | Schema.Schema<Reply, never> | undefined
}

/** Any behavior, whatever its types. */
export type AnyBehavior = GenServerBehavior<any, any, any, any, any>

/** Options of {@link start}. */
export interface StartOptions {
  /** Registers the process under this name on this node; refs may use it as their `id`. */
  readonly name?: string | undefined
  /** How long `init` may take (default 5 s). */
  readonly initTimeout?: Duration.DurationInput | undefined
  /** Arguments handed to `init`. */
  readonly args?: ReadonlyArray<unknown> | undefined
  /**
   * Links the new process with this one (any node) in the step that registers it: no
   * window where it runs unlinked ({@link link}).
   */
  readonly link?: ServerRef | undefined
  /** Partners' exits arrive in `handleInfo` as {@link ExitSignal}s instead of taking the process down. */
  readonly trapExit?: boolean | undefined
}

/** Options of {@link call}. */
export interface CallOptions {
  /** How long to wait for the reply (default 5 s; a number is milliseconds). */
  readonly timeout?: Duration.DurationInput | undefined
}

/** Defaults of the local runtime, each with its reason. */
export const defaults = Runtime.defaults

/** The local GenServer runtime of one node. */
export interface Service {
  readonly nodeId: NodeId
  readonly start: <State, CallMsg, CastMsg, Reply, R>(
    behavior: GenServerBehavior<State, CallMsg, CastMsg, Reply, R>,
    options?: StartOptions
  ) => Effect.Effect<ServerRef, GenServerInitError | NameAlreadyRegisteredError, R>
  readonly call: <Reply = unknown>(
    ref: ServerRef,
    msg: unknown,
    options?: CallOptions
  ) => Effect.Effect<Reply, CallError>
  readonly cast: (ref: ServerRef, msg: unknown) => Effect.Effect<void>
  readonly stop: (
    ref: ServerRef,
    reason?: ExitReason
  ) => Effect.Effect<void, RemoteServerNotRunningError | NodeNotReachableError>
  /**
   * Starts a monitor of `ref` (any node); `notify` gets its `Down` once. With `owner` (a
   * live process of this node) the monitor is that process's: its `handleInfo` gets the
   * `Down` too, and the monitor ends when it exits.
   */
  readonly watch: (
    ref: ServerRef,
    notify: (down: Down) => void,
    owner?: ServerRef
  ) => Either.Either<number, RemoteServerNotRunningError>
  /** Drops a monitor (and withdraws its `Down` from its owner's mailbox); `false` when it had already been answered or dropped. */
  readonly unwatch: (id: number) => boolean
  /** Links two processes, one of them a live process of this node. */
  readonly link: (a: ServerRef, b: ServerRef) => Effect.Effect<void, RemoteServerNotRunningError>
  /** Removes the link between two processes, one of them a live process of this node. */
  readonly unlink: (a: ServerRef, b: ServerRef) => Effect.Effect<void, RemoteServerNotRunningError>
  /** Sends an info message to a process's `handleInfo`; never fails (dropped when it cannot arrive). */
  readonly send: (ref: ServerRef, msg: unknown) => Effect.Effect<void>
  /** Live local processes. */
  readonly processCount: () => number
  /** The local process registered under `name`. */
  readonly whereis: (name: string) => Option.Option<ServerRef>
}

/** The local GenServer runtime service. */
export class GenServerRuntime extends Context.Tag("noex-effect/GenServerRuntime")<GenServerRuntime, Service>() {}

/** Options of {@link make}. */
export interface MakeOptions {
  /** The node this runtime belongs to (default `nonode@nohost:4369`, Erlang's name for a node outside a cluster). */
  readonly nodeId?: NodeId | undefined
  /** Prefix of process ids; unique per incarnation so refs to a previous run never resolve. */
  readonly incarnation?: string | undefined
}

/** The NodeId of a runtime that is not part of a cluster. */
export const standaloneNodeId: NodeId = NodeId.make("nonode", "nohost", 4369)

/** Builds a runtime in the current scope; closing the scope stops every process with reason `shutdown`. */
export const make = (options: MakeOptions = {}): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.map(
    Runtime.makeTable(options.nodeId ?? standaloneNodeId, options.incarnation),
    (table) => Runtime.register(Runtime.makeService(table, undefined), table)
  )

/** A standalone runtime: local processes only, for programs that never cluster. */
export const layer: Layer.Layer<GenServerRuntime> = Layer.scoped(GenServerRuntime, make())

/** A runtime with explicit options (the cluster builds its own with the node's id). */
export const layerWith = (options: MakeOptions): Layer.Layer<GenServerRuntime> =>
  Layer.scoped(GenServerRuntime, make(options))

/** Identity helper that infers a behavior's types. */
export const behavior = <State, CallMsg, CastMsg, Reply, R = never>(
  b: GenServerBehavior<State, CallMsg, CastMsg, Reply, R>
): GenServerBehavior<State, CallMsg, CastMsg, Reply, R> => b

/** The request of a union with this `_tag`. */
type RequestOf<Req, Tag> = Extract<Req, { readonly _tag: Tag }>

/** A handler of one typed request: its declared reply with the new state; in an Effect, only its declared errors. */
export type RequestHandler<Req, State, R = never> = (
  req: Req,
  state: State
) =>
  | readonly [Schema.WithResult.Success<Req>, State]
  | Promise<readonly [Schema.WithResult.Success<Req>, State]>
  | Effect.Effect<readonly [Schema.WithResult.Success<Req>, State], Schema.WithResult.Failure<Req>, R>

/** What {@link typedBehavior} builds a behavior from. */
export interface TypedBehaviorOptions<State, Req extends TypedRequest & { readonly _tag: string }, CastMsg, R> {
  /** The requests, as one Schema (a `Schema.Union` of `Schema.TaggedRequest` classes, or one class). */
  readonly requests: Schema.Schema<Req, any> | Schema.Schema<Req, never>
  /** The casts' Schema; without it the process takes no casts from other nodes. */
  readonly casts?: Schema.Schema<CastMsg, any> | Schema.Schema<CastMsg, never> | undefined
  readonly init: (...args: ReadonlyArray<any>) => Answer<State, R>
  /** One handler per request `_tag`, each typed by its request. */
  readonly handlers: { readonly [Tag in Req["_tag"]]: RequestHandler<RequestOf<Req, Tag>, State, R> }
  /** Handles casts (default: keeps the state). */
  readonly handleCast?: ((msg: CastMsg, state: State) => Answer<State, R>) | undefined
  /** Info messages (monitors' `Down`s, trapped `Exit`s, what `send` sent), as {@link GenServerBehavior.handleInfo}. */
  readonly handleInfo?: ((msg: any, state: State, from?: NodeId) => Answer<State, R>) | undefined
  /** What a failing handler does to the process, as {@link GenServerBehavior.onError}. */
  readonly onError?: "reply" | "crash" | undefined
  readonly terminate?:
    | ((reason: ExitReason, state: State) => void | Promise<void> | Effect.Effect<void, never, R>)
    | undefined
}

/**
 * A behavior with a typed protocol: its requests are `Schema.TaggedRequest` classes, each
 * handled by its own handler that must answer the request's declared reply and may fail
 * only with its declared errors. Inbound messages are decoded with `requests` and
 * `casts`; callers get the reply type and the errors from the request they send.
 */
export const typedBehavior = <
  State,
  Req extends TypedRequest & { readonly _tag: string },
  CastMsg = never,
  R = never
>(
  options: TypedBehaviorOptions<State, Req, CastMsg, R>
): GenServerBehavior<State, Req, CastMsg, Schema.WithResult.Success<Req>, R> => {
  const handlers = options.handlers as unknown as Record<string, (req: Req, state: State) => any>
  const handleCast = options.handleCast
  return {
    init: options.init,
    // Own handlers only: a local caller's `{ _tag: "constructor" }` must not reach Object's.
    handleCall: (req, state) => {
      const handler = Object.hasOwn(handlers, req._tag) ? handlers[req._tag] : undefined
      if (handler === undefined) throw new Error(`no handler for request ${String(req._tag)}`)
      return handler(req, state)
    },
    handleCast: handleCast === undefined ? (_msg, state) => state : handleCast,
    handleInfo: options.handleInfo,
    onError: options.onError,
    terminate: options.terminate,
    schemas: { call: options.requests, cast: options.casts ?? NoCasts }
  }
}

/** A process without casts refuses every cast from another node (dropped and counted). */
const NoCasts = SchemaRuntime.Never as unknown as SchemaRuntime.Schema<any, never>

/** Starts a process on this node. */
export const start = <State, CallMsg, CastMsg, Reply, R = never>(
  b: GenServerBehavior<State, CallMsg, CastMsg, Reply, R>,
  options?: StartOptions
): Effect.Effect<ServerRef, GenServerInitError | NameAlreadyRegisteredError, GenServerRuntime | R> =>
  Effect.flatMap(GenServerRuntime, (rt) => rt.start(b, options))

const callTraced = accessor(
  "GenServer.call",
  GenServerRuntime,
  (rt, ref: ServerRef, msg: unknown, options?: CallOptions) => rt.call(ref, msg, options)
)

/**
 * A typed request: a `Schema.TaggedRequest`, whose class declares its reply (`success`)
 * and the errors its handler may fail with (`failure`).
 */
export type TypedRequest = Schema.WithResult.All

/** A call's outcome: a typed request's declared reply and errors, or the `Reply` the caller names. */
export type CallResult<Msg, Reply, R> = 0 extends 1 & Msg ? Effect.Effect<Reply, CallError, R>
  : [Msg] extends [TypedRequest]
    ? Effect.Effect<Schema.WithResult.Success<Msg>, Schema.WithResult.Failure<Msg> | CallError, R>
  : Effect.Effect<Reply, CallError, R>

/**
 * Sends a request and waits for the reply; local or remote ref alike. A typed request
 * (`Schema.TaggedRequest`) gives its declared reply type, and its declared errors in the
 * error channel, as themselves on every node. Traced as `GenServer.call`.
 */
export const call = <Reply = unknown, const Msg = unknown>(
  ref: ServerRef,
  msg: Msg,
  options?: CallOptions
): CallResult<Msg, Reply, GenServerRuntime> => callTraced(ref, msg, options) as any

/**
 * Sends a message without waiting; never fails (a message to a missing process is
 * dropped, as in Erlang). Traced as `GenServer.cast`.
 */
export const cast: (ref: ServerRef, msg: unknown) => Effect.Effect<void, never, GenServerRuntime> = accessor(
  "GenServer.cast",
  GenServerRuntime,
  (rt, ref: ServerRef, msg: unknown) => rt.cast(ref, msg)
)

/** Stops a process (default reason `normal`) and waits until `terminate` has run. Traced as `GenServer.stop`. */
export const stop: (
  ref: ServerRef,
  reason?: ExitReason
) => Effect.Effect<void, RemoteServerNotRunningError | NodeNotReachableError, GenServerRuntime> = accessor(
  "GenServer.stop",
  GenServerRuntime,
  (rt, ref: ServerRef, reason?: ExitReason) => rt.stop(ref, reason)
)

/** Live processes on this node. */
export const processCount: Effect.Effect<number, never, GenServerRuntime> = Effect.map(
  GenServerRuntime,
  (rt) => rt.processCount()
)

/** The local process registered under `name`. */
export const whereis = (name: string): Effect.Effect<Option.Option<ServerRef>, never, GenServerRuntime> =>
  Effect.map(GenServerRuntime, (rt) => rt.whereis(name))

/**
 * Monitors a process, local or remote (Erlang's `monitor/2`): the {@link Monitor}'s `down`
 * completes once with a {@link Down} — how the process exited, `noproc` at once if it was
 * not alive, `noconnection` the moment its node goes. With one ref, the monitor lasts
 * until {@link demonitor} or until the scope closes. With an `owner` first (a process of
 * this node, usually the caller's own ref), the `Down` also reaches the owner's
 * `handleInfo`, and the monitor ends with the owner; it fails only when the owner is not
 * a live process here.
 */
export const monitor: {
  (ref: ServerRef): Effect.Effect<Monitor, never, GenServerRuntime | Scope.Scope>
  (owner: ServerRef, ref: ServerRef): Effect.Effect<Monitor, RemoteServerNotRunningError, GenServerRuntime>
} = ((first: ServerRef, second?: ServerRef) =>
  Effect.flatMap(GenServerRuntime, (rt) => {
    const ref = second ?? first
    const owner = second === undefined ? undefined : first
    const start = Effect.flatMap(Deferred.make<Down>(), (deferred) =>
      Effect.map(
        rt.watch(ref, (d) => Deferred.unsafeDone(deferred, Exit.succeed(d)), owner),
        (id): Monitor => ({ id, ref, down: Deferred.await(deferred) })
      ))
    return owner === undefined
      ? Effect.acquireRelease(start, (m) => Effect.sync(() => rt.unwatch(m.id)))
      : start
  })) as any

/** Drops a monitor: no `Down` for it after this (its `down` never completes). */
export const demonitor = (m: Monitor): Effect.Effect<void, never, GenServerRuntime> =>
  Effect.map(GenServerRuntime, (rt) => void rt.unwatch(m.id))

/**
 * Monitors every ref: a `Stream` of their `Down`s in the order they happen, which ends
 * once each has answered (a coordinator's view of its workers). Monitors still waiting
 * when the stream stops early are dropped.
 */
export const monitorAll = (refs: Iterable<ServerRef>): Stream.Stream<Down, never, GenServerRuntime> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const rt = yield* GenServerRuntime
    const all = Array.from(refs)
    const downs = yield* Queue.unbounded<Down>()
    yield* Effect.acquireRelease(
      Effect.sync(() => all.map((ref) => rt.watch(ref, (d) => void downs.unsafeOffer(d)))),
      (ids) =>
        Effect.sync(() => {
          for (const id of ids) if (id._tag === "Right") rt.unwatch(id.right)
        })
    )
    return Stream.take(Stream.fromQueue(downs), all.length)
  }))

/**
 * Sends an info message to a process (Erlang's `!`): handled by its `handleInfo`, in
 * order with what else the sender sends it. Never fails; dropped when the process does
 * not run or its node is not reachable. Traced as `GenServer.send`.
 */
export const send: (ref: ServerRef, msg: unknown) => Effect.Effect<void, never, GenServerRuntime> = accessor(
  "GenServer.send",
  GenServerRuntime,
  (rt, ref: ServerRef, msg: unknown) => rt.send(ref, msg)
)

/**
 * Links two processes, local or remote (Erlang's `link/1`); one must be a live process of
 * this node. When either exits with a reason other than `normal`, the other exits with the
 * same reason, unless it was started with `trapExit`: then it receives an
 * {@link ExitSignal} in `handleInfo`. A partner that is not alive sends `noproc` at once;
 * a partner's node going down sends `noconnection`.
 */
export const link = (a: ServerRef, b: ServerRef): Effect.Effect<void, RemoteServerNotRunningError, GenServerRuntime> =>
  Effect.flatMap(GenServerRuntime, (rt) => rt.link(a, b))

/** Removes the link between two processes; one must be a live process of this node. */
export const unlink = (
  a: ServerRef,
  b: ServerRef
): Effect.Effect<void, RemoteServerNotRunningError, GenServerRuntime> =>
  Effect.flatMap(GenServerRuntime, (rt) => rt.unlink(a, b))

/**
 * The ref of the process whose Effect handler is running (Erlang's `self()`): what a
 * handler passes as the owner of its monitors (`GenServer.monitor(self, ref)`) or links.
 * `None` outside a handler's Effect (in `init`, or in a plain fiber).
 */
export const self: Effect.Effect<Option.Option<ServerRef>> = Effect.map(
  FiberRef.get(currentProcess),
  OptionRuntime.fromNullable
)
