/**
 * The checked settings of a distributed supervisor: `start` validates its name and options
 * here, before it starts anything, so a bad one is a typed failure of `start` and never a
 * defect in the instance later (a group name over the limit would make every child's join
 * die there; a NaN period would never let a restart count expire).
 */
import { Duration, Either, Option } from "effect"
import { MAX_GROUP_NAME_CHARS } from "../groups.js"
import { toMillis } from "../timers.js"
import type { InstanceOptions } from "./instance.js"
import { MAX_CHILD_ID_CHARS } from "./messages.js"

/** What the caller gave (`DistributedSupervisor.Options`, as plain input). */
export interface OptionsInput {
  readonly partition?: unknown
  readonly placement?: unknown
  readonly maxRestarts?: unknown
  readonly period?: unknown
  readonly handoffTimeout?: unknown
  readonly stableAfter?: unknown
  readonly group?: unknown
}

/** The defaults the input is merged over (`DistributedSupervisor.defaults`). */
export interface Defaults {
  readonly maxRestarts: number
  readonly period: Duration.Duration
  readonly handoffTimeout: Duration.Duration
  readonly stableAfter: Duration.Duration
}

/** An instance's settings, and how long closing its scope waits for the handoff. */
export interface Settings extends InstanceOptions {
  readonly handoffMs: number
}

/** A finite, non-negative duration in whole milliseconds, or why not. */
const durationMs = (
  field: string,
  input: unknown,
  fallback: Duration.Duration,
  positive: boolean
): Either.Either<number, string> => {
  const decoded = input === undefined ? Option.some(fallback) : Duration.decodeUnknown(input)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value)) {
    return Either.left(`${field} must be a finite duration`)
  }
  const ms = toMillis(decoded.value)
  return positive && ms <= 0 ? Either.left(`${field} must be a positive duration`) : Either.right(ms)
}

/** Validates supervisor `name`'s options over `defaults`: the settings, or what is wrong (for the error). */
export const settingsOf = (name: unknown, input: OptionsInput, defaults: Defaults): Either.Either<Settings, string> =>
  Either.gen(function*() {
    // The name is a process-group name and travels in every member's messages: bounded as a child id is.
    if (typeof name !== "string" || name.length === 0 || name.length > MAX_CHILD_ID_CHARS) {
      return yield* Either.left(`the name must have 1 to ${MAX_CHILD_ID_CHARS} characters`)
    }
    const partition = input.partition ?? "quorum"
    if (partition !== "quorum" && partition !== "availability") {
      return yield* Either.left(`partition must be "quorum" or "availability", not ${String(partition)}`)
    }
    const placement = input.placement ?? "hash"
    if (placement !== "hash" && placement !== "least-loaded") {
      return yield* Either.left(`placement must be "hash" or "least-loaded", not ${String(placement)}`)
    }
    const maxRestarts = input.maxRestarts ?? defaults.maxRestarts
    if (typeof maxRestarts !== "number" || !Number.isInteger(maxRestarts) || maxRestarts < 0) {
      return yield* Either.left(`maxRestarts must be a whole number >= 0, not ${String(maxRestarts)}`)
    }
    const group = input.group
    if (group !== undefined && (typeof group !== "string" || group.length > MAX_GROUP_NAME_CHARS)) {
      return yield* Either.left(`group must be a string of at most ${MAX_GROUP_NAME_CHARS} characters`)
    }
    return {
      name,
      partition,
      placement,
      maxRestarts,
      periodMs: yield* durationMs("period", input.period, defaults.period, true),
      stableAfterMs: yield* durationMs("stableAfter", input.stableAfter, defaults.stableAfter, false),
      handoffMs: yield* durationMs("handoffTimeout", input.handoffTimeout, defaults.handoffTimeout, false),
      group
    }
  })
