/**
 * Messages that carry their own Schemas. A `Schema.TaggedRequest` knows its payload's
 * schema and those of its success and failure, a `Schema.Class` instance its class's:
 * such a message crosses the wire in its encoded form and is decoded on arrival, so
 * classes, transforms and brands survive, and a request's declared failures reach
 * the caller as themselves.
 */
import { Either, ParseResult, Schema } from "effect"
import { describe } from "./handler.js"

/** A Schema whose two sides may be anything, `never` included (Schemas are invariant). */
export type AnySchema = Schema.Schema.All

/** The success and failure schemas a `Schema.TaggedRequest` declares. */
export interface ResultSchemas {
  readonly success: AnySchema
  readonly failure: AnySchema
}

/** The schema a message encodes with: a request's own, or its class's when the class is a Schema. */
export const schemaOf = (msg: unknown): AnySchema | undefined => {
  if (typeof msg !== "object" || msg === null) return undefined
  // A Proxy or a getter may throw: such a message simply carries no schema.
  try {
    if (Schema.symbolSerializable in msg) {
      return (msg as Schema.Serializable<any, any, never>)[Schema.symbolSerializable]
    }
    const ctor = (msg as { readonly constructor?: unknown }).constructor
    return ctor !== Object && ctor !== undefined && Schema.isSchema(ctor) ? ctor as AnySchema : undefined
  } catch {
    return undefined
  }
}

/** The result schemas of a `Schema.TaggedRequest`, or `undefined` for any other message. */
export const resultOf = (msg: unknown): ResultSchemas | undefined => {
  if (typeof msg !== "object" || msg === null) return undefined
  try {
    return Schema.symbolWithResult in msg
      ? (msg as Schema.WithResult<any, any, any, any, never>)[Schema.symbolWithResult] as ResultSchemas
      : undefined
  } catch {
    return undefined
  }
}

type Parse = (u: unknown) => Either.Either<unknown, ParseResult.ParseError>

/**
 * Runs a parse. A user's transform or filter that throws counts as the value not
 * fitting: it must not escape into a socket's reader, where it would close the link.
 */
const guarded = (schema: AnySchema, parse: Parse, u: unknown): Either.Either<unknown, ParseResult.ParseError> => {
  try {
    return parse(u)
  } catch (defect) {
    const { message, name } = describe(defect)
    return Either.left(
      new ParseResult.ParseError({
        issue: new ParseResult.Type(schema.ast, u, `the schema threw ${name}: ${message}`)
      })
    )
  }
}

/** The encoded form of `u` (Effect memoizes the compiled parser by schema). */
export const encode = (schema: AnySchema, u: unknown) =>
  guarded(schema, Schema.encodeUnknownEither(schema as Schema.Schema<unknown, unknown>), u)

/** `u` decoded from its encoded form. */
export const decode = (schema: AnySchema, u: unknown) =>
  guarded(schema, Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown>), u)

/** `u` checked against the type side (for a value sent as it is, not encoded). */
export const validate = (schema: AnySchema, u: unknown) =>
  guarded(schema, Schema.validateEither(schema as Schema.Schema<unknown, unknown>), u)

/** Whether `error` is one the request declared: only those cross the wire as themselves. */
export const declares = (result: ResultSchemas, error: unknown): boolean => {
  try {
    return Schema.is(result.failure as Schema.Schema<unknown, unknown>)(error)
  } catch {
    return false
  }
}

/** What does not fit a schema, for an error message (bounded: the report quotes the value). */
export const problem = (error: ParseResult.ParseError): string => {
  // Formatting runs the schema's own annotations and prints the value: user code that may throw.
  try {
    return describe(ParseResult.TreeFormatter.formatErrorSync(error)).message
  } catch {
    return "the value does not fit its schema (and the schema's report of it throws)"
  }
}
