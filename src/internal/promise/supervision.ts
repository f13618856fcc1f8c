/**
 * The Promise facade's `Supervisor` and `DistributedSupervisor`: the Effect API's
 * functions run on a facade node. What differs is only what a Promise user can write:
 * durations in milliseconds, a backoff given by numbers instead of a `Schedule`, an absent
 * ref as `undefined` instead of `Option.none()`, an instance held by a handle instead of
 * a scope, child events delivered to a callback.
 */
import { Duration, Effect, Option, Schedule } from "effect"
import * as DistributedSupervisorModule from "../../DistributedSupervisor.js"
import type { NodeId } from "../../NodeId.js"
import type { PromiseChildSpec, PromiseNode, PromiseSupervisorOptions, SupervisorBackoff } from "../../promise.js"
import type { ServerRef } from "../../ServerRef.js"
import * as SupervisorModule from "../../Supervisor.js"
import { orThrow } from "./driver.js"
import type { Driver } from "./driver.js"

/** Whether `n` can be a number of milliseconds or a count: finite and not negative. */
const isAmount = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n) && n >= 0

/** The `Schedule` a {@link SupervisorBackoff} describes, or why its numbers cannot be one. */
const scheduleOf = (
  backoff: SupervisorBackoff
): { readonly schedule: Schedule.Schedule<unknown, unknown> } | { readonly invalid: string } => {
  const { factor = 2, initial, max, retries } = backoff
  if (!isAmount(initial)) return { invalid: `backoff.initial must be a number of ms >= 0, not ${String(initial)}` }
  if (!isAmount(factor) || factor < 1) return { invalid: `backoff.factor must be a number >= 1, not ${String(factor)}` }
  if (max !== undefined && !isAmount(max)) {
    return { invalid: `backoff.max must be a number of ms >= 0, not ${String(max)}` }
  }
  if (retries !== undefined && (!isAmount(retries) || !Number.isInteger(retries))) {
    return { invalid: `backoff.retries must be a whole number >= 0, not ${String(retries)}` }
  }
  let schedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential(Duration.millis(initial), factor)
  // Either of the two goes on, with the shorter delay: the exponential one, capped at `max`.
  if (max !== undefined) schedule = Schedule.either(schedule, Schedule.spaced(Duration.millis(max)))
  if (retries !== undefined) schedule = Schedule.intersect(schedule, Schedule.recurs(retries))
  return { schedule }
}

/** A facade child spec as the Effect API takes it (a number of ms is a `DurationInput` already). */
const childSpecOf = (spec: PromiseChildSpec): SupervisorModule.ChildSpec => ({ ...spec, node: spec.node as NodeId })

/** Facade options as the Effect API takes them; a backoff that is no schedule fails as the supervisor's own options do. */
const optionsOf = (
  options: PromiseSupervisorOptions
): Effect.Effect<SupervisorModule.SupervisorOptions, SupervisorModule.SupervisorStartError> => {
  const { backoff, children, ...rest } = options
  const converted = backoff === undefined ? undefined : scheduleOf(backoff)
  if (converted !== undefined && "invalid" in converted) {
    // As the supervisor reports its own options at fault: no child id.
    return Effect.fail(new SupervisorModule.SupervisorStartError({ childId: "", message: converted.invalid }))
  }
  return Effect.succeed({
    ...rest,
    ...(children === undefined ? {} : { children: children.map(childSpecOf) }),
    ...(converted === undefined ? {} : { backoff: converted.schedule })
  })
}

/** A nested supervisor's spec: a value, so its options are converted now, and wrong ones throw here. */
const specOf = (options: PromiseSupervisorOptions): SupervisorModule.SupervisorSpec =>
  SupervisorModule.spec(orThrow(Effect.runSyncExit(optionsOf(options))))

/** `Option.some(ref)` as `ref`, `Option.none()` as `undefined`. */
const refOrUndefined = (ref: Option.Option<ServerRef>): ServerRef | undefined => Option.getOrUndefined(ref)

/** The facade's `Supervisor` of one node. */
export const makeSupervisor = ({ run }: Driver): PromiseNode["Supervisor"] => ({
  start: (options) => run(Effect.flatMap(optionsOf(options), SupervisorModule.start)),
  startChild: (supervisor, spec, options) => run(SupervisorModule.startChild(supervisor, childSpecOf(spec), options)),
  terminateChild: (supervisor, id, options) => run(SupervisorModule.terminateChild(supervisor, id, options)),
  restartChild: (supervisor, id, options) => run(SupervisorModule.restartChild(supervisor, id, options)),
  deleteChild: (supervisor, id, options) => run(SupervisorModule.deleteChild(supervisor, id, options)),
  whichChildren: (supervisor, options) =>
    run(SupervisorModule.whichChildren(supervisor, options)).then((children) =>
      children.map((child) => ({ ...child, ref: refOrUndefined(child.ref) }))
    ),
  countChildren: (supervisor, options) => run(SupervisorModule.countChildren(supervisor, options)),
  spec: specOf,
  child: (id, options, extra = {}) => ({ ...extra, id, start: specOf(options) })
})

/** The facade's `DistributedSupervisor` of one node. */
export const makeDistributedSupervisor = (driver: Driver): PromiseNode["DistributedSupervisor"] => {
  const { listen, run, runSync } = driver
  return {
    start: async (name, options = {}) => {
      const { close, value: ref } = await driver.scoped(DistributedSupervisorModule.start(name, options))
      return { name, ref, stop: close }
    },
    startChild: (name, spec) => run(DistributedSupervisorModule.startChild(name, spec)),
    terminateChild: (name, id) => run(DistributedSupervisorModule.terminateChild(name, id)),
    whereis: (name, id) => run(Effect.map(DistributedSupervisorModule.whereis(name, id), refOrUndefined)),
    call: (name: string, id: string, msg: unknown, options?: { timeout?: number }) =>
      run(DistributedSupervisorModule.call(name, id, msg, options)) as Promise<any>,
    whichChildren: (name) =>
      run(DistributedSupervisorModule.whichChildren(name)).then((children) =>
        children.map((child) => ({ ...child, ref: refOrUndefined(child.ref) }))
      ),
    countChildren: (name) => run(DistributedSupervisorModule.countChildren(name)),
    members: (name) => run(DistributedSupervisorModule.members(name)).then((nodes) => Array.from(nodes)),
    events: (name, handler) => {
      // Not running here is an error of this call, not of a subscription that silently never fires.
      runSync(DistributedSupervisorModule.members(name))
      return listen(DistributedSupervisorModule.events(name), handler, "DistributedSupervisor.events")
    }
  }
}
