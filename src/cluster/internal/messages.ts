/**
 * Messages a node serves, checked against their schemas on the way in and out: a
 * behavior's `schemas` decode what arrives, and a typed request's result schemas
 * encode what leaves (its reply, and a failure it declared), for the caller to decode.
 */
import { Either } from "effect"
import { InvalidMessageError } from "../../errors.js"
import { describe } from "../../internal/handler.js"
import * as Typed from "../../internal/typed.js"
import type { NodeId } from "../../NodeId.js"
import type { PayloadCodec } from "../../wire/Codec.js"
import type { CallFailure } from "../../wire/RequestProtocol.js"

/**
 * A message decoded with its behavior's schema. One sent by a caller that did not
 * encode it (a plain value where the schema has no class or transform to apply) is
 * accepted when its type side fits; the decoding's report names what is wrong otherwise.
 */
export const inbound = (schema: Typed.AnySchema, u: unknown): Either.Either<unknown, string> => {
  const decoded = Typed.decode(schema, u)
  if (Either.isRight(decoded)) return Either.right(decoded.right)
  return Either.isRight(Typed.validate(schema, u)) ? Either.right(u) : Either.left(Typed.problem(decoded.left))
}

/**
 * A reply as it leaves: a typed request's in its success schema's encoded form (the
 * caller decodes it back), any other checked against the behavior's `reply` schema.
 */
export const outboundReply = (
  self: NodeId,
  serverId: string,
  schema: Typed.AnySchema | undefined,
  result: Typed.ResultSchemas | undefined,
  value: unknown
): Either.Either<unknown, InvalidMessageError> => {
  const checked = result !== undefined
    ? Typed.encode(result.success, value)
    : schema !== undefined
    ? Either.map(Typed.validate(schema, value), () => value)
    : Either.right(value)
  return Either.mapLeft(checked, (error) =>
    new InvalidMessageError({
      serverId,
      nodeId: self,
      message: `the reply does not fit: ${Typed.problem(error)}`
    }))
}

/** A declared failure in its encoded form, or why it cannot be sent (the caller is told either way). */
export const declaredFailure = (
  self: NodeId,
  codec: PayloadCodec,
  serverId: string,
  result: Typed.ResultSchemas,
  error: unknown
): CallFailure => {
  const { message, name } = describe(error)
  const encoded = Typed.encode(result.failure, error)
  const payload: Either.Either<Uint8Array, string> = Either.isLeft(encoded)
    ? Either.left(Typed.problem(encoded.left))
    : Either.mapLeft(codec.encodeEither(encoded.right), (e) => e.message)
  return Either.match(payload, {
    onLeft: (why) =>
      new InvalidMessageError({
        serverId,
        nodeId: self,
        message: `cannot encode the declared error ${name}: ${why}`
      }),
    onRight: (bytes) => ({ _tag: "DeclaredFailure" as const, name, message, payload: bytes })
  })
}
