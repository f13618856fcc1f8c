/**
 * Behaviors may answer with a plain value, a Promise or an Effect. These helpers
 * tell them apart, run a Promise answer with its rejection always handled, and turn
 * whatever a handler raised into a name and a message that can cross the wire.
 */
import { Cause, Effect } from "effect"

/**
 * Longest error message kept, in UTF-16 code units. A handler's message crosses the
 * wire inside an answer frame; a bounded one fits the smallest frame limit (4 KiB)
 * with the rest of the answer, so a huge message cannot cost the caller its answer.
 */
export const MAX_ERROR_MESSAGE_CHARS = 1024

/** Whether `u` has a `then` method (a Promise or any other thenable). */
export const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

/** Whether a handler answered asynchronously (an Effect or a thenable) rather than with a plain value. */
export const isAsync = (u: unknown): boolean =>
  typeof u === "object" && u !== null && (Effect.isEffect(u) || typeof (u as { then?: unknown }).then === "function")

/**
 * Settles a handler's Promise answer into exactly one of the two callbacks. The
 * rejection is always handled (an unhandled one would end the Node process), a
 * thenable whose `then` throws counts as a rejection, and a callback that throws is
 * reported to `onDefect` instead of becoming a new unhandled rejection.
 */
export const settlePromise = <A>(
  promise: PromiseLike<A>,
  onValue: (value: A) => void,
  onError: (error: unknown) => void,
  onDefect: (defect: unknown) => void
): void => {
  Promise.resolve(promise).then(onValue, onError).then(undefined, onDefect)
}

/** A name and a message for anything a handler can raise: Error, tagged failure, Cause, or a plain value. */
export const describe = (error: unknown): { readonly name: string; readonly message: string } => {
  // User code runs here (a getter, a Proxy): whatever it throws, describing an error must not.
  try {
    if (Cause.isCause(error)) return describe(Cause.squash(error))
    if (typeof error === "object" && error !== null) {
      const e = error as { _tag?: unknown; name?: unknown; message?: unknown }
      const name = typeof e._tag === "string" ? e._tag : typeof e.name === "string" ? e.name : "Error"
      const message = typeof e.message === "string" ? e.message : safeString(error)
      return { name: bounded(name), message: bounded(message) }
    }
    return { name: "Error", message: bounded(safeString(error)) }
  } catch {
    return { name: "Error", message: "(an error whose name or message throws)" }
  }
}

/** Cuts a message to {@link MAX_ERROR_MESSAGE_CHARS}, saying how much was left out. */
export const bounded = (s: string): string =>
  s.length <= MAX_ERROR_MESSAGE_CHARS
    ? s
    : `${s.slice(0, MAX_ERROR_MESSAGE_CHARS)}… (${s.length - MAX_ERROR_MESSAGE_CHARS} more characters)`

const safeString = (u: unknown): string => {
  try {
    return typeof u === "string" ? u : JSON.stringify(u) ?? String(u)
  } catch {
    try {
      return String(u)
    } catch {
      return "(a value that cannot be printed)"
    }
  }
}
