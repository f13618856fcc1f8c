/**
 * RemoteSpawn: start a process on any node by behavior name. The target node looks
 * the name up in its `BehaviorRegistry`, runs `init` with the given `args`, and
 * registers the process as asked. Each failure has its own error: the node is not
 * connected, the behavior is unknown there, `init` failed or ran past `initTimeout`,
 * the name is taken, or the caller's `timeout` passed (then the target stops whatever
 * it started: a spawn the caller gave up on leaves no process behind).
 */
import { Context, Duration, Effect } from "effect"
import type {
  BehaviorNotFoundError,
  MessageTooLargeError,
  NodeNotReachableError,
  RemoteSpawnInitError,
  RemoteSpawnRegistrationError,
  RemoteSpawnTimeoutError,
  SpawnQuotaError
} from "./errors.js"
import { accessor } from "./internal/tracing.js"
import type { NodeId } from "./NodeId.js"
import type { ServerRef, SpawnResult } from "./ServerRef.js"

/** The errors a spawn can end with, each for its own cause. */
export type SpawnError =
  | NodeNotReachableError
  | BehaviorNotFoundError
  | RemoteSpawnInitError
  | RemoteSpawnRegistrationError
  | RemoteSpawnTimeoutError
  | MessageTooLargeError
  | SpawnQuotaError

/** Options of {@link spawn}, as in the guide, plus `args` for `init`. */
export interface SpawnOptions {
  /** A name for the process; what it registers depends on `registration`. */
  readonly name?: string | undefined
  /** `'local'`: on the target node; `'global'`: cluster-wide; `'none'` (default): nothing, even with a name. */
  readonly registration?: "local" | "global" | "none" | undefined
  /** How long `init` may take on the target (default 5 s). */
  readonly initTimeout?: Duration.DurationInput | undefined
  /** How long the caller waits for the whole spawn (default 10 s). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Arguments handed to `init` (encoded with the payload codec). */
  readonly args?: ReadonlyArray<unknown> | undefined
  /**
   * Links the new process with a process of this node once it started, before the spawn
   * answers (`GenServer.link`): `true` for the calling process (`GenServer.self`, inside a
   * handler's Effect), or its ref. A spawn that fails links nothing.
   */
  readonly link?: true | ServerRef | undefined
}

/** Defaults, each with its reason. */
export const defaults = {
  /** The guide's default: generous for a remote init doing I/O on a loaded node. */
  timeout: Duration.seconds(10)
} as const

/** The RemoteSpawn service of one node. */
export interface Service {
  readonly spawn: (
    behaviorName: string,
    nodeId: NodeId,
    options?: SpawnOptions
  ) => Effect.Effect<SpawnResult, SpawnError>
}

/** The RemoteSpawn service. */
export class RemoteSpawn extends Context.Tag("noex-effect/RemoteSpawn")<RemoteSpawn, Service>() {}

/** Spawns a process from a registered behavior on `nodeId` (this node included). Traced as `RemoteSpawn.spawn`. */
export const spawn: (
  behaviorName: string,
  nodeId: NodeId,
  options?: SpawnOptions
) => Effect.Effect<SpawnResult, SpawnError, RemoteSpawn> = accessor(
  "RemoteSpawn.spawn",
  RemoteSpawn,
  (s, behaviorName: string, nodeId: NodeId, options?: SpawnOptions) => s.spawn(behaviorName, nodeId, options)
)
