/**
 * A child spec as a supervisor keeps it: the user's `ChildSpec` checked, with its
 * defaults applied and its shutdown decoded, so what the supervisor holds (and what a
 * `startChild` request carries) is plain, complete data. Checks here need no process:
 * a spec that fails them never starts anything.
 */
import { Duration, Either, Option } from "effect"
import type { AnyBehavior } from "../../GenServer.js"
import type { NodeId } from "../../NodeId.js"
import type { ChildSpec, RestartType, Strategy, SupervisorOptions, SupervisorSpec } from "../../Supervisor.js"

/** Defaults of a supervisor and its children, each with its reason (published as `Supervisor.defaults`). */
export const defaults = {
  /** Elixir's default intensity (OTP's is 1): a child may crash a few times in a row before the supervisor gives up. */
  maxRestarts: 3,
  /** OTP's and Elixir's default period: restarts older than this no longer count toward the intensity. */
  period: Duration.seconds(5),
  /** OTP's default for a worker: long enough for a clean `terminate`, short enough not to hold a shutdown up. */
  shutdown: Duration.seconds(5),
  /** OTP's default for a supervisor child: it needs the time its own children take, which it bounds itself. */
  supervisorShutdown: Duration.infinity,
  /**
   * How long a management call waits (OTP's `infinity`): a supervisor answers once the
   * child it starts or stops is done, and both are bounded (init and shutdown timeouts).
   */
  callTimeout: Duration.infinity
} as const

/** The strategies a supervisor may have. */
const STRATEGIES: ReadonlyArray<Strategy> = ["one_for_one", "one_for_all", "rest_for_one"]

/** The restart types a child may have. */
const RESTART_TYPES: ReadonlyArray<RestartType> = ["permanent", "transient", "temporary"]

/** A nested supervisor's spec, built by `Supervisor.spec`; a class, so only this process's own specs pass for one. */
export class SupervisorSpecValue<R> implements SupervisorSpec<R> {
  readonly _tag = "SupervisorSpec" as const
  constructor(readonly options: SupervisorOptions<R>) {}
}

/** Whether `u` is a nested supervisor's spec made by `Supervisor.spec`. */
export const isSupervisorSpec = (u: unknown): u is SupervisorSpec<any> => u instanceof SupervisorSpecValue

/** Whether `u` looks like a behavior (the three handlers a process needs). */
export const isBehavior = (u: unknown): u is AnyBehavior =>
  typeof u === "object" && u !== null && !isSupervisorSpec(u) &&
  typeof (u as AnyBehavior).init === "function" &&
  typeof (u as AnyBehavior).handleCall === "function" &&
  typeof (u as AnyBehavior).handleCast === "function"

/** A checked child spec with its defaults applied. */
export interface Spec {
  readonly id: string
  readonly start: AnyBehavior | string | SupervisorSpec<any>
  readonly args: ReadonlyArray<unknown>
  readonly restart: RestartType
  readonly shutdown: Duration.Duration
  readonly node?: NodeId | undefined
  readonly name?: string | undefined
}

/** Whether a spec starts a supervisor (OTP's child `type`). */
export const kindOf = (spec: Spec): "worker" | "supervisor" => isSupervisorSpec(spec.start) ? "supervisor" : "worker"

/** Checks a child spec and applies its defaults; `Left` says what is wrong with it. */
export const normalize = (spec: ChildSpec<any>): Either.Either<Spec, string> => {
  if (typeof spec.id !== "string" || spec.id.length === 0) return Either.left("a child's id must be a non-empty string")
  const start = spec.start
  if (typeof start !== "string" && !isBehavior(start) && !isSupervisorSpec(start)) {
    return Either.left("start must be a behavior, a registered behavior name, or Supervisor.spec(options)")
  }
  if (spec.node !== undefined && typeof start !== "string") {
    return Either.left("a child on another node must name a registered behavior (functions cannot cross the wire)")
  }
  const restart = spec.restart ?? "permanent"
  if (!RESTART_TYPES.includes(restart)) return Either.left(`unknown restart type '${String(restart)}'`)
  const shutdown = spec.shutdown === undefined
    ? Option.some(isSupervisorSpec(start) ? defaults.supervisorShutdown : defaults.shutdown)
    : Duration.decodeUnknown(spec.shutdown)
  if (Option.isNone(shutdown)) return Either.left(`invalid shutdown ${String(spec.shutdown)}`)
  return Either.right({
    id: spec.id,
    start,
    args: spec.args ?? [],
    restart,
    shutdown: shutdown.value,
    node: spec.node,
    name: spec.name
  })
}

/** A supervisor's own options, checked, with their defaults applied. */
export interface Config {
  readonly strategy: Strategy
  readonly maxRestarts: number
  readonly periodMs: number
  readonly children: ReadonlyArray<Spec>
  readonly backoff: SupervisorOptions<any>["backoff"]
}

/**
 * Checks a supervisor's options: `Left` with the child at fault and why; the child id
 * is empty when the fault is the supervisor's own (its strategy, intensity or period).
 */
export const configOf = (
  options: SupervisorOptions<any>
): Either.Either<Config, { readonly childId: string; readonly message: string }> => {
  if (!STRATEGIES.includes(options.strategy)) {
    return Either.left({ childId: "", message: `unknown strategy '${String(options.strategy)}'` })
  }
  const maxRestarts = options.maxRestarts ?? defaults.maxRestarts
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) {
    return Either.left({ childId: "", message: `maxRestarts must be a whole number >= 0, not ${maxRestarts}` })
  }
  const period = options.period === undefined ? Option.some(defaults.period) : Duration.decodeUnknown(options.period)
  if (Option.isNone(period) || !Duration.isFinite(period.value) || Duration.toMillis(period.value) <= 0) {
    return Either.left({ childId: "", message: `period must be a positive, finite duration` })
  }
  const children: Array<Spec> = []
  for (const input of options.children ?? []) {
    const spec = normalize(input)
    if (Either.isLeft(spec)) return Either.left({ childId: String(input.id), message: spec.left })
    if (children.some((c) => c.id === spec.right.id)) {
      return Either.left({ childId: spec.right.id, message: "two children have this id" })
    }
    children.push(spec.right)
  }
  return Either.right({
    strategy: options.strategy,
    maxRestarts,
    periodMs: Duration.toMillis(period.value),
    children,
    backoff: options.backoff
  })
}
