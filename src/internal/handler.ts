/**
 * Behaviors may answer with a plain value, a Promise or an Effect. These helpers
 * tell them apart and turn whatever a handler raised into a name and a message
 * that can cross the wire.
 */
import { Cause, Effect } from "effect"

/** The outcome of invoking a handler synchronously. */
export type Invoked<A> =
  | { readonly _tag: "Value"; readonly value: A }
  | { readonly _tag: "Promise"; readonly promise: PromiseLike<A> }
  | { readonly _tag: "Effect"; readonly effect: Effect.Effect<A, unknown, any> }
  | { readonly _tag: "Thrown"; readonly error: unknown }

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

/** Classifies a handler's return value. */
export const classify = <A>(result: unknown): Invoked<A> => {
  if (Effect.isEffect(result)) return { _tag: "Effect", effect: result as Effect.Effect<A, unknown, any> }
  if (isThenable(result)) return { _tag: "Promise", promise: result as PromiseLike<A> }
  return { _tag: "Value", value: result as A }
}

/** A name and a message for anything a handler can raise: Error, tagged failure, Cause, or a plain value. */
export const describe = (error: unknown): { readonly name: string; readonly message: string } => {
  if (Cause.isCause(error)) return describe(Cause.squash(error))
  if (typeof error === "object" && error !== null) {
    const e = error as { _tag?: unknown; name?: unknown; message?: unknown }
    const name = typeof e._tag === "string" ? e._tag : typeof e.name === "string" ? e.name : "Error"
    const message = typeof e.message === "string" ? e.message : safeString(error)
    return { name, message }
  }
  return { name: "Error", message: safeString(error) }
}

const safeString = (u: unknown): string => {
  try {
    return typeof u === "string" ? u : JSON.stringify(u) ?? String(u)
  } catch {
    return String(u)
  }
}
