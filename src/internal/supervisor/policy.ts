/**
 * The rules of a supervisor, as pure functions: whether an exit is restarted (by the
 * child's restart type), which children a strategy restarts together, and the
 * intensity window. Kept apart from the process so each rule reads as OTP states it.
 */
import type { DownReason } from "../../Monitor.js"
import type { ChildStatus, RestartType, Strategy } from "../../Supervisor.js"

/**
 * Whether a child that exited with `reason` is restarted. `permanent`: always;
 * `temporary`: never; `transient`: unless it ended on purpose — `normal`, `shutdown`, or
 * `{ conflict }` (the registry stopped it for a global name another process won: a new
 * one would lose the name again).
 */
export const isRestarted = (restart: RestartType, reason: DownReason): boolean => {
  if (restart === "permanent") return true
  if (restart === "temporary") return false
  return !(reason === "normal" || reason === "shutdown" || (typeof reason === "object" && "conflict" in reason))
}

/**
 * The children restarted with `child` (which exited), in start order: itself alone
 * (`one_for_one`), every child that is not stopped (`one_for_all`), or itself and those
 * after it that are not stopped (`rest_for_one`). A stopped child (terminated by
 * `terminateChild`, or a transient one that ended normally) stays stopped.
 */
export const groupOf = <C extends { readonly status: ChildStatus }>(
  strategy: Strategy,
  children: ReadonlyArray<C>,
  child: C
): Array<C> => {
  if (strategy === "one_for_one") return [child]
  const from = strategy === "one_for_all" ? 0 : children.indexOf(child)
  return children.slice(from).filter((c) => c === child || c.status !== "stopped")
}

/**
 * The restarts that still count at `now`, the one at `now` included: those at most
 * `periodMs` ago (OTP keeps a restart exactly one period old).
 */
export const withRestart = (restarts: ReadonlyArray<number>, now: number, periodMs: number): ReadonlyArray<number> => [
  ...restarts.filter((at) => at >= now - periodMs),
  now
]
