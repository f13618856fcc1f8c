/**
 * A node's identity: `name@host:port`, the address other nodes dial and the key
 * every ref carries. A branded string, so a plain string cannot be passed where a
 * validated id is expected.
 */
import { Brand, Effect, Either, Schema } from "effect"
import { InvalidNodeIdError } from "./errors.js"

/** A validated `name@host:port` string. */
export type NodeId = string & Brand.Brand<"NodeId">

/** The parts of a {@link NodeId}. `host` keeps IPv6 brackets, as written. */
export interface NodeIdComponents {
  readonly name: string
  readonly host: string
  readonly port: number
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const IPV6_BRACKETED = /^\[[0-9A-Fa-f:.]{2,45}\]$/
/** RFC 1123 hostname: dot-separated labels of letters, digits and inner hyphens. */
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

const validateParts = (name: string, host: string, port: number): string | undefined => {
  if (!NAME.test(name)) return `name "${name}" must match ${NAME.source}`
  if (!(IPV4.test(host) || IPV6_BRACKETED.test(host) || (HOSTNAME.test(host) && !/^[\d.]+$/.test(host)))) {
    return `host "${host}" must be an IPv4 address, a bracketed IPv6 address or a hostname`
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `port ${port} must be an integer in 1..65535`
  return undefined
}

const decompose = (value: string): Either.Either<NodeIdComponents, string> => {
  const at = value.indexOf("@")
  if (at < 0) return Either.left("missing '@' between name and host")
  const colon = value.lastIndexOf(":")
  if (colon < at) return Either.left("missing ':port' after the host")
  const name = value.slice(0, at)
  const host = value.slice(at + 1, colon)
  const portText = value.slice(colon + 1)
  if (!/^\d{1,5}$/.test(portText)) return Either.left(`port "${portText}" is not a number`)
  const port = Number(portText)
  const reason = validateParts(name, host, port)
  return reason === undefined ? Either.right({ name, host, port }) : Either.left(reason)
}

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
export const schema: Schema.Schema<NodeId, string> = Schema.String.pipe(
  Schema.filter((s) => Either.match(decompose(s), { onLeft: (reason) => reason, onRight: () => true }), {
    identifier: "NodeId"
  }),
  Schema.brand("NodeId")
) as any

/** The host a socket dials: IPv6 brackets removed. */
export const dialHost = (host: string): string => (host.startsWith("[") ? host.slice(1, -1) : host)

/** NodeId constructors and its Schema, under the type's name. */
export const NodeId = { make, parse, parseEither, components, schema, dialHost } as const
