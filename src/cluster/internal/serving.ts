/**
 * The serving side of remoting: requests from other nodes handed to this node's
 * process table (through its callback API, so serving a call costs no fiber),
 * spawns started from the behavior registry, and messages validated against a
 * behavior's schemas before its handlers see them.
 */
import { Cause, Effect, Either, Exit, Option, ParseResult, Runtime, Schema } from "effect"
import type { RegisteredBehavior, Service as BehaviorRegistryService } from "../../BehaviorRegistry.js"
import {
  BehaviorNotFoundError,
  InvalidMessageError,
  MessageTooLargeError,
  RemoteSpawnInitError,
  RemoteSpawnRegistrationError
} from "../../errors.js"
import type {
  GenServerInitError,
  GlobalNameConflictError,
  NameAlreadyRegisteredError,
  NodeNotReachableError,
  RemoteSpawnTimeoutError
} from "../../errors.js"
import type { ExitReason, ProcessTable } from "../../internal/process.js"
import type { NodeId } from "../../NodeId.js"
import type { ServerRef, SpawnResult } from "../../ServerRef.js"
import type { PayloadCodec } from "../../wire/Codec.js"
import * as Protocol from "../../wire/Protocol.js"
import type { WireMessage } from "../../wire/Protocol.js"
import type { Link } from "../Link.js"
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
export const MAX_WIRE_TIMEOUT_MS = 2 ** 31 - 1

/** At most one "dropped invalid casts" log line per second: bad input must not flood the logs. */
const INVALID_CAST_LOG_INTERVAL_MS = 1000

/** `callId` 0 on a `Stop` asks for no answer (used to stop a late spawn nobody waits for). */
export const NO_REPLY = 0

const ExitReasonSchema = Schema.Union(
  Schema.Literal("normal", "shutdown"),
  Schema.Struct({ error: Schema.Unknown }),
  Schema.Struct({ conflict: Schema.String })
)
const decodeExitReason = Schema.decodeUnknownOption(ExitReasonSchema)



const problem = (error: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(error)

/** The serving side of one node. */
export class Serving {
  /** Spawns this node is serving, by `from|spawnId`: abandoned ones are stopped when they complete. */
  private readonly serving = new Map<string, { abandoned: boolean; readonly from: NodeId }>()
  /** Compiled validators of behavior schemas: behaviors are long-lived, messages are many. */
  private readonly validators = new WeakMap<Schema.Schema<any, any>, (u: unknown) => Either.Either<unknown, ParseResult.ParseError>>()
  private invalidCasts = 0
  private invalidCastLoggedAt = -Infinity
  /** Registers a global name for a spawned process; installed by the GlobalRegistry. */
  globalRegister: GlobalRegister | undefined = undefined

  constructor(
    private readonly self: NodeId,
    private readonly table: ProcessTable,
    private readonly registry: BehaviorRegistryService,
    private readonly codec: PayloadCodec,
    private readonly maxFrameBytes: number,
    private readonly metrics: NodeMetrics,
    private readonly runtime: Runtime.Runtime<never>
  ) {}

  private now(): number {
    return this.table.timers.now()
  }

  private validatorOf(schema: Schema.Schema<any, any>) {
    let validate = this.validators.get(schema)
    if (validate === undefined) {
      validate = Schema.validateEither(schema as Schema.Schema<unknown, unknown>)
      this.validators.set(schema, validate)
    }
    return validate
  }

  /** The caller gave up on a spawn: stop what it started, when it completes. */
  abandon(from: NodeId, spawnId: number): void {
    const entry = this.serving.get(`${from}|${spawnId}`)
    if (entry !== undefined) entry.abandoned = true
  }

  /** A node went down: nobody will take the spawns it asked for and that are still starting. */
  callerDown(nodeId: NodeId): void {
    for (const entry of this.serving.values()) if (entry.from === nodeId) entry.abandoned = true
  }


  serveCall(link: Link, message: Extract<WireMessage, { _tag: "Call" }>): void {
    const { callId, serverId } = message
    const decoded = this.codec.decodeEither(message.payload)
    if (Either.isLeft(decoded)) {
      return this.callFailed(link, callId, new InvalidMessageError({ serverId, nodeId: this.self, message: `cannot decode the message: ${decoded.left.message}` }))
    }
    const behavior = this.table.resolve(serverId)?.behavior as RegisteredBehavior | undefined
    const schemas = behavior?.schemas
    if (schemas?.call !== undefined) {
      const valid = this.validatorOf(schemas.call)(decoded.right)
      if (Either.isLeft(valid)) return this.callFailed(link, callId, new InvalidMessageError({ serverId, nodeId: this.self, message: problem(valid.left) }))
    }
    this.table.callWith(serverId, decoded.right, message.timeoutMs, (exit) => {
      if (Exit.isFailure(exit)) return this.callFailed(link, callId, Option.getOrThrow(Cause.failureOption(exit.cause)))
      if (schemas?.reply !== undefined) {
        const valid = this.validatorOf(schemas.reply)(exit.value)
        if (Either.isLeft(valid)) {
          return this.callFailed(link, callId, new InvalidMessageError({ serverId, nodeId: this.self, message: `the reply does not fit: ${problem(valid.left)}` }))
        }
      }
      const payload = this.codec.encodeEither(exit.value)
      if (Either.isLeft(payload)) {
        return this.callFailed(link, callId, new InvalidMessageError({ serverId, nodeId: this.self, message: `cannot encode the reply: ${payload.left.message}` }))
      }
      const frame = Protocol.encode({ _tag: "Reply", callId, payload: payload.right })
      if (frame.length > this.maxFrameBytes) return this.callFailed(link, callId, new MessageTooLargeError({ bytes: frame.length, limit: this.maxFrameBytes }))
      link.offerFrame(frame)
    })
  }

  private callFailed(link: Link, callId: number, error: Protocol.CallFailure): void {
    link.offer({ _tag: "CallFailed", callId, error })
  }

  serveCast(from: NodeId, message: Extract<WireMessage, { _tag: "Cast" }>): void {
    const decoded = this.codec.decodeEither(message.payload)
    const behavior = this.table.resolve(message.serverId)?.behavior as RegisteredBehavior | undefined
    const invalid = Either.isLeft(decoded)
      ? `cannot decode the message: ${decoded.left.message}`
      : behavior?.schemas?.cast !== undefined
        ? Either.match(this.validatorOf(behavior.schemas.cast)(decoded.right), { onLeft: problem, onRight: () => undefined })
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

  serveStop(link: Link, message: Extract<WireMessage, { _tag: "Stop" }>): void {
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

  serveSpawn(from: NodeId, link: Link, message: Extract<WireMessage, { _tag: "Spawn" }>): void {
    const { behaviorName, spawnId } = message
    const args = this.codec.decodeEither(message.args)
    if (Either.isLeft(args) || !Array.isArray(args.right)) {
      return this.spawnFailed(
        link,
        spawnId,
        new RemoteSpawnInitError({ behaviorName, nodeId: this.self, message: "the init arguments cannot be decoded" })
      )
    }
    // Fast path: a known behavior whose init answers at once is started and answered without a fiber.
    const behavior = this.registry.get(behaviorName)
    if (Option.isNone(behavior)) return this.spawnFailed(link, spawnId, new BehaviorNotFoundError({ behaviorName, nodeId: this.self }))
    if (message.registration !== "global") {
      const localName = message.registration === "local" ? message.name : undefined
      const started = this.table.startNow(behavior.value, localName, args.right, message.initTimeoutMs, this.table.baseRuntime)
      if (started._tag === "Started") return this.spawned(link, spawnId, started.ref.id)
      if (started._tag === "Failed") return this.spawnFailed(link, spawnId, this.spawnError(behaviorName, started.error))
    }
    const request: SpawnRequest = {
      name: message.name,
      registration: message.registration,
      initTimeoutMs: message.initTimeoutMs,
      timeoutMs: MAX_WIRE_TIMEOUT_MS,
      args: args.right
    }
    const key = `${from}|${spawnId}`
    const entry = { abandoned: false, from }
    this.serving.set(key, entry)
    this.log(
      this.startLocal(behaviorName, request).pipe(
        Effect.matchEffect({
          onFailure: (error) => Effect.sync(() => this.spawnFailed(link, spawnId, error as Protocol.SpawnFailure)),
          onSuccess: (result) =>
            entry.abandoned
              ? Effect.ignore(this.table.stop(result.serverId, "shutdown"))
              : Effect.sync(() => this.spawned(link, spawnId, result.serverId))
        }),
        Effect.ensuring(Effect.sync(() => this.serving.delete(key)))
      )
    )
  }

  private spawned(link: Link, spawnId: number, serverId: string): void {
    link.offer({ _tag: "Spawned", spawnId, serverId })
  }

  private spawnFailed(link: Link, spawnId: number, error: Protocol.SpawnFailure): void {
    link.offer({ _tag: "SpawnFailed", spawnId, error })
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
