/**
 * A node's identity: `name@host:port`, the address other nodes dial and the key
 * every ref carries. A branded string, so a plain string cannot be passed where a
 * validated id is expected.
 */
import { Effect, Either } from "effect"
import type { Schema } from "effect"
import { InvalidNodeIdError } from "./errors.js"
import * as Format from "./internal/nodeIdFormat.js"
import { decompose, validateParts } from "./internal/nodeIdFormat.js"

/** A validated `name@host:port` string. */
export type NodeId = Format.NodeId

/** The parts of a {@link NodeId}. `host` keeps IPv6 brackets, as written. */
export type NodeIdComponents = Format.NodeIdComponents

/** Validates a string as a NodeId without effects; `Left` carries the reason. */
export const parseEither = (value: string): Either.Either<NodeId, InvalidNodeIdError> =>
  Either.match(decompose(value), {
    onLeft: (reason) => Either.left(new InvalidNodeIdError({ value, reason })),
    onRight: () => Either.right(value as NodeId)
  })

/** Parses `name@host:port`, failing with {@link InvalidNodeIdError} naming what is wrong. */
export const parse = (value: string): Effect.Effect<NodeId, InvalidNodeIdError> => parseEither(value)

/**
 * Builds a NodeId from its parts. Throws {@link InvalidNodeIdError} on invalid
 * parts: the arguments are program constants, so a bad one is a defect.
 */
export const make = (name: string, host: string, port: number): NodeId => {
  const reason = validateParts(name, host, port)
  if (reason !== undefined) throw new InvalidNodeIdError({ value: `${name}@${host}:${port}`, reason })
  return `${name}@${host}:${port}` as NodeId
}

/** Splits a NodeId into name, host and port. */
export const components = (id: NodeId): NodeIdComponents => Either.getOrThrow(decompose(id))

/** The Schema of a NodeId on the wire: a string that must parse. */
export const schema: Schema.Schema<NodeId, string> = Format.schema

/** The host a socket dials: IPv6 brackets removed. */
export const dialHost = (host: string): string => (host.startsWith("[") ? host.slice(1, -1) : host)

/** NodeId constructors and its Schema, under the type's name. */
export const NodeId = { make, parse, parseEither, components, schema, dialHost } as const
