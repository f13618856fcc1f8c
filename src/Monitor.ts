/**
 * Monitors: being told, exactly once, that a process ended, wherever it ran (Erlang's
 * `monitor/2`). `GenServer.monitor(ref)` gives a {@link Monitor} whose `down` completes
 * with a {@link Down}; a process that monitors (`GenServer.monitor(self, ref)`) receives
 * the `Down` in its `handleInfo` instead. The same for local and remote refs.
 */
import { Schema } from "effect"
import type { Effect } from "effect"
import type { ExitReason } from "./ExitReason.js"
import { describe } from "./internal/handler.js"
import type { ServerRef } from "./ServerRef.js"

/**
 * Why a monitored process is gone: how it exited (`normal`, `shutdown`, `{ error }` with
 * the error's name and message, `{ conflict }` for a lost global name), `noproc` (it was
 * not alive when monitored: unknown, stopped, or of a previous incarnation of its node),
 * or `noconnection` (its node went down or could not be reached; the process may live on).
 */
export const DownReason = Schema.Union(
  Schema.Literal("normal", "shutdown", "noproc", "noconnection"),
  Schema.Struct({ error: Schema.Struct({ name: Schema.String, message: Schema.String }) }),
  Schema.Struct({ conflict: Schema.String })
)

/** Why a monitored process is gone. */
export type DownReason = typeof DownReason.Type

/** A monitored process ended (or could not be watched): delivered once per monitor. */
export interface Down {
  readonly _tag: "Down"
  /** The monitor this answers ({@link Monitor.id}). */
  readonly monitorId: number
  /** The ref that was monitored, as given. */
  readonly ref: ServerRef
  readonly reason: DownReason
}

/** A monitor of one process; `down` completes once, and never after `GenServer.demonitor`. */
export interface Monitor {
  /** Unique among this node's monitors; a `Down` in `handleInfo` names it. */
  readonly id: number
  readonly ref: ServerRef
  /** Completes with the `Down` once the process is gone. */
  readonly down: Effect.Effect<Down>
}

/** Builds a {@link Down}. */
export const down = (monitorId: number, ref: ServerRef, reason: DownReason): Down => ({
  _tag: "Down",
  monitorId,
  ref,
  reason
})

/** Whether an info message is a {@link Down}. */
export const isDown = (u: unknown): u is Down =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Down"

/** The reason a monitor reports for a process that exited with `reason`. */
export const fromExitReason = (reason: ExitReason): DownReason => {
  if (typeof reason === "string") return reason
  if ("conflict" in reason) return { conflict: reason.conflict }
  const { message, name } = describe(reason.error)
  return { error: { name, message } }
}
