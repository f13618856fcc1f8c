/**
 * Remoting: calls, casts, spawns and stops between nodes. The caller side keeps a
 * table of pending requests (each ends exactly once: reply, typed error, timeout,
 * or `NodeNotReachableError` the moment its node goes down; a late reply finds no
 * entry and is dropped). The serving side hands requests to the local process table
 * through its callback API, so serving a remote call costs no fiber.
 */
import { Cause, Effect, Either, Exit, Option, ParseResult, Runtime, Schema } from "effect"
import type { RegisteredBehavior, Service as BehaviorRegistryService } from "../../BehaviorRegistry.js"
import {
  BehaviorNotFoundError,
  InvalidMessageError,
  MessageTooLargeError,
  NodeNotReachableError,
  RemoteCallTimeoutError,
  RemoteServerNotRunningError,
  RemoteSpawnInitError,
  RemoteSpawnRegistrationError,
  RemoteSpawnTimeoutError
} from "../../errors.js"
import type { CallError, GenServerInitError, GlobalNameConflictError, NameAlreadyRegisteredError } from "../../errors.js"
import type { ExitReason, ProcessTable } from "../../internal/process.js"
import type { TimerEntry } from "../../internal/timers.js"
import type { NodeId } from "../../NodeId.js"
import type { ServerRef, SpawnResult } from "../../ServerRef.js"
import type { PayloadCodec } from "../../wire/Codec.js"
import * as Protocol from "../../wire/Protocol.js"
import type { WireMessage } from "../../wire/Protocol.js"
import type { Link } from "../Link.js"
import type { Membership } from "../Membership.js"
import type { NodeMetrics } from "./metrics.js"

/** Options of a spawn, with defaults applied. */
export interface SpawnRequest {
  readonly name: string | undefined
  readonly registration: "local" | "global" | "none"
  readonly initTimeoutMs: number
  readonly timeoutMs: number
  readonly args: ReadonlyArray<unknown>
}

/** The errors a spawn can end with. */
export type SpawnError =
  | NodeNotReachableError
  | BehaviorNotFoundError
  | RemoteSpawnInitError
  | RemoteSpawnRegistrationError
  | RemoteSpawnTimeoutError

/** Registers a global name for a just-spawned process (installed by the GlobalRegistry). */
export type GlobalRegister = (name: string, ref: ServerRef) => Effect.Effect<void, GlobalNameConflictError>

/** The largest timeout a `Call` carries: a 31-bit integer of milliseconds (~24 days), i.e. "no timeout". */
const MAX_WIRE_TIMEOUT_MS = 2 ** 31 - 1

/** At most one "dropped invalid casts" log line per second: bad input must not flood the logs. */
const INVALID_CAST_LOG_INTERVAL_MS = 1000

/** `callId` 0 on a `Stop` asks for no answer (used to stop a late spawn nobody waits for). */
const NO_REPLY = 0

const ExitReasonSchema = Schema.Union(
  Schema.Literal("normal", "shutdown"),
  Schema.Struct({ error: Schema.Unknown }),
  Schema.Struct({ conflict: Schema.String })
)
const decodeExitReason = Schema.decodeUnknownOption(ExitReasonSchema)

interface CallPending {
  readonly kind: "call" | "stop"
  readonly nodeId: NodeId
  readonly serverId: string
  /** Answers are checked against the request kind's error union by the Schema of the wire; any of them may arrive. */
  readonly resume: (exit: Exit.Exit<unknown, Protocol.CallFailure>) => void
  readonly startedAt: number
  timer: TimerEntry | undefined
}

interface SpawnPending {
  readonly kind: "spawn"
  readonly nodeId: NodeId
  readonly behaviorName: string
  readonly resume: (exit: Exit.Exit<SpawnResult, SpawnError>) => void
  timer: TimerEntry | undefined
}

type Pending = CallPending | SpawnPending

const validators = new WeakMap<Schema.Schema<any, any>, (u: unknown) => Either.Either<unknown, ParseResult.ParseError>>()
/** Compiles a behavior schema's validator once: behaviors are long-lived, messages are many. */
const validatorOf = (schema: Schema.Schema<any, any>) => {
  let validate = validators.get(schema)
  if (validate === undefined) {
    validate = Schema.validateEither(schema as Schema.Schema<unknown, unknown>)
    validators.set(schema, validate)
  }
  return validate
}

const problem = (error: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(error)

/** The remoting of one node. */
export class Remoting {
  private seq = 0
  private readonly pending = new Map<number, Pending>()
  /** Spawns this node is serving, by `from|spawnId`: abandoned ones are stopped when they complete. */
  private readonly serving = new Map<string, { abandoned: boolean; readonly from: NodeId }>()
  private invalidCasts = 0
  private invalidCastLoggedAt = -Infinity
  globalRegister: GlobalRegister | undefined = undefined
  registryRouter: ((from: NodeId, message: WireMessage) => void) | undefined = undefined

  constructor(
    private readonly self: NodeId,
    private readonly membership: Membership,
    private readonly table: ProcessTable,
    private readonly registry: BehaviorRegistryService,
    private readonly codec: PayloadCodec,
    private readonly maxFrameBytes: number,
    private readonly metrics: NodeMetrics,
    private readonly runtime: Runtime.Runtime<never>
  ) {
    membership.setRouter((from, link, message) => this.route(from, link, message))
    membership.onDown((nodeId) => this.nodeDown(nodeId))
  }

  /** Requests waiting for an answer (calls, stops, spawns). */
  pendingCount(): number {
    return this.pending.size
  }

  private nextId(): number {
    // Wraps before 2^31 so ids stay small integers on the wire; 0 is reserved.
    this.seq = this.seq >= 0x7fff_ffff ? 1 : this.seq + 1
    return this.seq
  }

  private now(): number {
    return this.table.timers.now()
  }

  // ---- caller side ----------------------------------------------------------------------------

  /** Calls a process on another node. */
  call(ref: ServerRef, msg: unknown, timeoutMs: number): Effect.Effect<unknown, CallError> {
    return Effect.async<unknown, CallError>((resume) => {
      const link = this.membership.linkTo(ref.nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId: ref.nodeId })))
      const payload = this.codec.encodeEither(msg)
      if (Either.isLeft(payload)) {
        return resume(
          Exit.fail(new InvalidMessageError({ serverId: ref.id, nodeId: ref.nodeId, message: `cannot encode the message: ${payload.left.message}` }))
        )
      }
      const callId = this.nextId()
      const frame = Protocol.encode({
        _tag: "Call",
        callId,
        serverId: ref.id,
        timeoutMs: Math.min(timeoutMs, MAX_WIRE_TIMEOUT_MS),
        payload: payload.right
      })
      if (frame.length > this.maxFrameBytes) {
        return resume(Exit.fail(new MessageTooLargeError({ bytes: frame.length, limit: this.maxFrameBytes })))
      }
      const entry: Pending = {
        kind: "call",
        nodeId: ref.nodeId,
        serverId: ref.id,
        resume: resume as (exit: Exit.Exit<unknown, Protocol.CallFailure>) => void,
        startedAt: this.now(),
        timer: undefined
      }
      this.pending.set(callId, entry)
      entry.timer = this.table.timers.schedule(timeoutMs, () => {
        if (this.pending.delete(callId)) {
          resume(Exit.fail(new RemoteCallTimeoutError({ serverId: ref.id, nodeId: ref.nodeId, timeoutMs })))
        }
      })
      link.offerFrame(frame)
      return Effect.sync(() => {
        if (this.pending.delete(callId)) this.table.timers.cancel(entry.timer)
      })
    })
  }

  /**
   * Casts to a process on another node. Dropped (and counted) when the node is not
   * connected; waits while the link's outbox is full.
   */
  cast(ref: ServerRef, msg: unknown): Effect.Effect<void, MessageTooLargeError | InvalidMessageError> {
    return Effect.suspend((): Effect.Effect<void, MessageTooLargeError | InvalidMessageError> => {
      const link = this.membership.linkTo(ref.nodeId)
      if (link === undefined) {
        this.metrics.castsDropped.unsafeUpdate(1, [])
        return Effect.void
      }
      const payload = this.codec.encodeEither(msg)
      if (Either.isLeft(payload)) {
        return Effect.fail(
          new InvalidMessageError({ serverId: ref.id, nodeId: ref.nodeId, message: `cannot encode the message: ${payload.left.message}` })
        )
      }
      const frame = Protocol.encode({ _tag: "Cast", serverId: ref.id, payload: payload.right })
      if (frame.length > this.maxFrameBytes) {
        return Effect.fail(new MessageTooLargeError({ bytes: frame.length, limit: this.maxFrameBytes }))
      }
      return Effect.catchAll(link.sendFrame(frame), () => Effect.sync(() => this.metrics.castsDropped.unsafeUpdate(1, [])))
    })
  }

  /**
   * Sends a request built around a fresh call id to `nodeId` and waits for its
   * answer (`RegistryAck` or `CallFailed`), like a call: timeout, node down and late
   * answers are handled the same way.
   */
  request(
    nodeId: NodeId,
    serverId: string,
    build: (callId: number) => WireMessage,
    timeoutMs: number
  ): Effect.Effect<void, CallError | GlobalNameConflictError> {
    return Effect.async<void, CallError | GlobalNameConflictError>((resume) => {
      const link = this.membership.linkTo(nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId })))
      const callId = this.nextId()
      const entry: Pending = {
        kind: "call",
        nodeId,
        serverId,
        resume: resume as (exit: Exit.Exit<unknown, Protocol.CallFailure>) => void,
        startedAt: this.now(),
        timer: undefined
      }
      this.pending.set(callId, entry)
      entry.timer = this.table.timers.schedule(timeoutMs, () => {
        if (this.pending.delete(callId)) resume(Exit.fail(new RemoteCallTimeoutError({ serverId, nodeId, timeoutMs })))
      })
      link.offer(build(callId))
      return Effect.sync(() => {
        if (this.pending.delete(callId)) this.table.timers.cancel(entry.timer)
      })
    })
  }

  /** Stops a process on another node and waits until it has terminated. */
  stop(ref: ServerRef, reason: ExitReason): Effect.Effect<void, RemoteServerNotRunningError | NodeNotReachableError> {
    return Effect.async<void, RemoteServerNotRunningError | NodeNotReachableError>((resume) => {
      const link = this.membership.linkTo(ref.nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId: ref.nodeId })))
      const encoded = this.codec.encodeEither(reason)
      const callId = this.nextId()
      const entry: Pending = {
        kind: "stop",
        nodeId: ref.nodeId,
        serverId: ref.id,
        resume: resume as (exit: Exit.Exit<unknown, Protocol.CallFailure>) => void,
        startedAt: this.now(),
        timer: undefined
      }
      this.pending.set(callId, entry)
      link.offer({ _tag: "Stop", callId, serverId: ref.id, reason: Either.getOrElse(encoded, () => this.codec.encode("normal")) })
      return Effect.sync(() => void this.pending.delete(callId))
    })
  }

  /** Spawns a process from a registered behavior on `nodeId` (this node included). */
  spawn(behaviorName: string, nodeId: NodeId, request: SpawnRequest): Effect.Effect<SpawnResult, SpawnError> {
    if (nodeId === this.self) {
      return this.startLocal(behaviorName, request).pipe(
        Effect.timeoutFail({
          duration: request.timeoutMs,
          onTimeout: () => new RemoteSpawnTimeoutError({ behaviorName, nodeId, timeoutMs: request.timeoutMs })
        })
      )
    }
    return Effect.async<SpawnResult, SpawnError>((resume) => {
      const link = this.membership.linkTo(nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId })))
      const args = this.codec.encodeEither(request.args)
      if (Either.isLeft(args)) {
        return resume(
          Exit.fail(new RemoteSpawnInitError({ behaviorName, nodeId, message: `cannot encode the init arguments: ${args.left.message}` }))
        )
      }
      const spawnId = this.nextId()
      const entry: Pending = { kind: "spawn", nodeId, behaviorName, resume, timer: undefined }
      this.pending.set(spawnId, entry)
      const abandon = () => {
        // The target stops what it started for us, whether it is still starting or already done.
        this.membership.linkTo(nodeId)?.offer({ _tag: "SpawnAbandoned", spawnId })
      }
      entry.timer = this.table.timers.schedule(request.timeoutMs, () => {
        if (!this.pending.delete(spawnId)) return
        abandon()
        resume(Exit.fail(new RemoteSpawnTimeoutError({ behaviorName, nodeId, timeoutMs: request.timeoutMs })))
      })
      link.offer({
        _tag: "Spawn",
        spawnId,
        behaviorName,
        ...(request.name !== undefined ? { name: request.name } : {}),
        registration: request.registration,
        initTimeoutMs: Math.min(request.initTimeoutMs, MAX_WIRE_TIMEOUT_MS),
        args: args.right
      })
      return Effect.sync(() => {
        if (!this.pending.delete(spawnId)) return
        this.table.timers.cancel(entry.timer)
        abandon()
      })
    })
  }

  /** Fails every request pending on a node that went down. */
  private nodeDown(nodeId: NodeId): void {
    for (const [id, entry] of this.pending) {
      if (entry.nodeId !== nodeId) continue
      this.pending.delete(id)
      this.table.timers.cancel(entry.timer)
      entry.resume(Exit.fail(new NodeNotReachableError({ nodeId })))
    }
    // Spawns it asked for and that are still starting: nobody will take them.
    for (const entry of this.serving.values()) if (entry.from === nodeId) entry.abandoned = true
  }

  // ---- routing ------------------------------------------------------------------------------

  private route(from: NodeId, link: Link, message: WireMessage): void {
    switch (message._tag) {
      case "Call":
        return this.serveCall(link, message)
      case "Cast":
        return this.serveCast(from, message)
      case "Reply": {
        const entry = this.take(message.callId, "call")
        if (entry === undefined) return
        const value = this.codec.decodeEither(message.payload)
        this.metrics.callLatencyMs.unsafeUpdate(this.now() - entry.startedAt, [])
        return entry.resume(
          Either.isRight(value)
            ? Exit.succeed(value.right)
            : Exit.fail(new InvalidMessageError({ serverId: entry.serverId, nodeId: from, message: `cannot decode the reply: ${value.left.message}` }))
        )
      }
      case "CallFailed": {
        const entry = this.take(message.callId, "call") ?? this.take(message.callId, "stop")
        return entry?.resume(Exit.fail(message.error))
      }
      case "Stopped":
        return this.take(message.callId, "stop")?.resume(Exit.void)
      case "RegistryAck":
        return this.take(message.callId, "call")?.resume(Exit.void)
      case "Stop":
        return this.serveStop(link, message)
      case "Spawn":
        return this.serveSpawn(from, link, message)
      case "Spawned": {
        const entry = this.take(message.spawnId, "spawn")
        if (entry !== undefined) return entry.resume(Exit.succeed({ serverId: message.serverId, nodeId: from }))
        // A late answer to a spawn we gave up on: stop it, so no orphan is left behind.
        link.offer({ _tag: "Stop", callId: NO_REPLY, serverId: message.serverId, reason: this.codec.encode("shutdown") })
        return
      }
      case "SpawnFailed":
        return this.take(message.spawnId, "spawn")?.resume(Exit.fail(message.error))
      case "SpawnAbandoned": {
        const entry = this.serving.get(`${from}|${message.spawnId}`)
        if (entry !== undefined) entry.abandoned = true
        return
      }
      default:
        return this.registryRouter?.(from, message)
    }
  }

  private take(id: number, kind: "call" | "stop"): CallPending | undefined
  private take(id: number, kind: "spawn"): SpawnPending | undefined
  private take(id: number, kind: Pending["kind"]): Pending | undefined {
    const entry = this.pending.get(id)
    if (entry === undefined || entry.kind !== kind) return undefined
    this.pending.delete(id)
    this.table.timers.cancel(entry.timer)
    return entry
  }

  // ---- serving side -------------------------------------------------------------------------

  private serveCall(link: Link, message: Extract<WireMessage, { _tag: "Call" }>): void {
    const { callId, serverId } = message
    const fail = (error: Protocol.CallFailure) => void link.offer({ _tag: "CallFailed", callId, error })
    const decoded = this.codec.decodeEither(message.payload)
    if (Either.isLeft(decoded)) {
      return fail(new InvalidMessageError({ serverId, nodeId: this.self, message: `cannot decode the message: ${decoded.left.message}` }))
    }
    const behavior = this.table.resolve(serverId)?.behavior as RegisteredBehavior | undefined
    const schemas = behavior?.schemas
    if (schemas?.call !== undefined) {
      const valid = validatorOf(schemas.call)(decoded.right)
      if (Either.isLeft(valid)) return fail(new InvalidMessageError({ serverId, nodeId: this.self, message: problem(valid.left) }))
    }
    this.table.callWith(serverId, decoded.right, message.timeoutMs, (exit) => {
      if (Exit.isFailure(exit)) return fail(Option.getOrThrow(Cause.failureOption(exit.cause)))
      if (schemas?.reply !== undefined) {
        const valid = validatorOf(schemas.reply)(exit.value)
        if (Either.isLeft(valid)) {
          return fail(new InvalidMessageError({ serverId, nodeId: this.self, message: `the reply does not fit: ${problem(valid.left)}` }))
        }
      }
      const payload = this.codec.encodeEither(exit.value)
      if (Either.isLeft(payload)) {
        return fail(new InvalidMessageError({ serverId, nodeId: this.self, message: `cannot encode the reply: ${payload.left.message}` }))
      }
      const frame = Protocol.encode({ _tag: "Reply", callId, payload: payload.right })
      if (frame.length > this.maxFrameBytes) return fail(new MessageTooLargeError({ bytes: frame.length, limit: this.maxFrameBytes }))
      link.offerFrame(frame)
    })
  }

  private serveCast(from: NodeId, message: Extract<WireMessage, { _tag: "Cast" }>): void {
    const decoded = this.codec.decodeEither(message.payload)
    const behavior = this.table.resolve(message.serverId)?.behavior as RegisteredBehavior | undefined
    const invalid = Either.isLeft(decoded)
      ? `cannot decode the message: ${decoded.left.message}`
      : behavior?.schemas?.cast !== undefined
        ? Either.match(validatorOf(behavior.schemas.cast)(decoded.right), { onLeft: problem, onRight: () => undefined })
        : undefined
    if (invalid !== undefined || Either.isLeft(decoded)) {
      this.metrics.castsDropped.unsafeUpdate(1, [])
      // A flood of bad casts must not become a flood of log lines: one per second, with the count.
      this.invalidCasts++
      const now = this.now()
      if (now - this.invalidCastLoggedAt < INVALID_CAST_LOG_INTERVAL_MS) return
      const dropped = this.invalidCasts
      this.invalidCasts = 0
      this.invalidCastLoggedAt = now
      return this.log(
        Effect.logWarning("dropped invalid casts").pipe(
          Effect.annotateLogs({ peer: from, serverId: message.serverId, reason: invalid, dropped })
        )
      )
    }
    if (!this.table.cast(message.serverId, decoded.right)) this.metrics.castsDropped.unsafeUpdate(1, [])
  }

  private serveStop(link: Link, message: Extract<WireMessage, { _tag: "Stop" }>): void {
    const reason = Either.match(this.codec.decodeEither(message.reason), {
      onLeft: () => "normal" as ExitReason,
      onRight: (u) => Option.getOrElse(decodeExitReason(u), () => "normal" as ExitReason)
    })
    this.log(
      this.table.stop(message.serverId, reason).pipe(
        Effect.match({
          onFailure: (error) => {
            if (message.callId !== NO_REPLY) link.offer({ _tag: "CallFailed", callId: message.callId, error })
          },
          onSuccess: () => {
            if (message.callId !== NO_REPLY) link.offer({ _tag: "Stopped", callId: message.callId })
          }
        })
      )
    )
  }

  private serveSpawn(from: NodeId, link: Link, message: Extract<WireMessage, { _tag: "Spawn" }>): void {
    const { behaviorName, spawnId } = message
    const args = this.codec.decodeEither(message.args)
    if (Either.isLeft(args) || !Array.isArray(args.right)) {
      link.offer({
        _tag: "SpawnFailed",
        spawnId,
        error: new RemoteSpawnInitError({ behaviorName, nodeId: this.self, message: "the init arguments cannot be decoded" })
      })
      return
    }
    const request: SpawnRequest = {
      name: message.name,
      registration: message.registration,
      initTimeoutMs: message.initTimeoutMs,
      timeoutMs: MAX_WIRE_TIMEOUT_MS,
      args: args.right
    }
    const spawned = (serverId: string) => void link.offer({ _tag: "Spawned", spawnId, serverId })
    const failed = (error: Protocol.SpawnFailure) => void link.offer({ _tag: "SpawnFailed", spawnId, error })
    // Fast path: a known behavior whose init answers at once is started and answered without a fiber.
    const behavior = this.registry.get(behaviorName)
    if (Option.isNone(behavior)) return failed(new BehaviorNotFoundError({ behaviorName, nodeId: this.self }))
    if (message.registration !== "global") {
      const localName = message.registration === "local" ? message.name : undefined
      const started = this.table.startNow(behavior.value, localName, args.right, message.initTimeoutMs, this.table.baseRuntime)
      if (started._tag === "Started") return spawned(started.ref.id)
      if (started._tag === "Failed") return failed(this.spawnError(behaviorName, started.error))
    }
    const key = `${from}|${spawnId}`
    const entry = { abandoned: false, from }
    this.serving.set(key, entry)
    this.log(
      this.startLocal(behaviorName, request).pipe(
        Effect.matchEffect({
          onFailure: (error) => Effect.sync(() => failed(error as Protocol.SpawnFailure)),
          onSuccess: (result) =>
            entry.abandoned ? Effect.ignore(this.table.stop(result.serverId, "shutdown")) : Effect.sync(() => spawned(result.serverId))
        }),
        Effect.ensuring(Effect.sync(() => this.serving.delete(key)))
      )
    )
  }

  private spawnError(
    behaviorName: string,
    error: GenServerInitError | NameAlreadyRegisteredError
  ): RemoteSpawnInitError | RemoteSpawnRegistrationError {
    return error._tag === "GenServerInitError"
      ? new RemoteSpawnInitError({ behaviorName, nodeId: this.self, message: error.message })
      : new RemoteSpawnRegistrationError({
          behaviorName,
          nodeId: this.self,
          name: error.name,
          message: `the name '${error.name}' is already registered on ${this.self}`
        })
  }

  /** Starts a registered behavior on this node, with the spawn's registration and its errors. */
  startLocal(
    behaviorName: string,
    request: SpawnRequest
  ): Effect.Effect<SpawnResult, BehaviorNotFoundError | RemoteSpawnInitError | RemoteSpawnRegistrationError> {
    return Effect.gen(this, function* () {
      const behavior = this.registry.get(behaviorName)
      if (Option.isNone(behavior)) return yield* Effect.fail(new BehaviorNotFoundError({ behaviorName, nodeId: this.self }))
      const name = request.registration === "none" ? undefined : request.name
      const ref = yield* this.table
        .start<never>(behavior.value, request.registration === "local" ? name : undefined, request.args, request.initTimeoutMs)
        .pipe(Effect.mapError((error) => this.spawnError(behaviorName, error)))
      if (request.registration === "global" && name !== undefined) {
        const register = this.globalRegister
        if (register !== undefined) {
          yield* register(name, ref).pipe(
            Effect.catchAll((conflict) =>
              Effect.zipRight(
                Effect.ignore(this.table.stop(ref.id, { conflict: name })),
                Effect.fail(
                  new RemoteSpawnRegistrationError({
                    behaviorName,
                    nodeId: this.self,
                    name,
                    message: `the global name '${name}' is already registered (held on ${conflict.nodeId})`
                  })
                )
              )
            )
          )
        }
      }
      return { serverId: ref.id, nodeId: this.self }
    })
  }

  private log(effect: Effect.Effect<unknown, unknown>): void {
    Runtime.runFork(this.runtime, effect)
  }
}
