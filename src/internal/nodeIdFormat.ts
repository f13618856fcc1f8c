/**
 * The format of a NodeId, with no dependency on the rest of the library: `NodeId`
 * builds its constructors on it, and `errors` its Schema for the ids errors carry
 * (which arrive from peers and must be checked like any other id).
 */
import type { Brand } from "effect"
import { Either, ParseResult, Schema } from "effect"
import type { FastCheck } from "effect"

/** A validated `name@host:port` string. */
export type NodeId = string & Brand.Brand<"NodeId">

/** The parts of a NodeId. `host` keeps IPv6 brackets, as written. */
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

/** Why the parts do not make a NodeId, or `undefined` when they do. */
export const validateParts = (name: string, host: string, port: number): string | undefined => {
  if (!NAME.test(name)) return `name "${name}" must match ${NAME.source}`
  if (!(IPV4.test(host) || IPV6_BRACKETED.test(host) || (HOSTNAME.test(host) && !/^[\d.]+$/.test(host)))) {
    return `host "${host}" must be an IPv4 address, a bracketed IPv6 address or a hostname`
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `port ${port} must be an integer in 1..65535`
  return undefined
}

/** Splits and checks a NodeId; `Left` carries the reason. */
export const decompose = (value: string): Either.Either<NodeIdComponents, string> => {
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

/** Valid ids for property tests (`Arbitrary.make`): random strings are almost never ones. */
const arbitrary = () => (fc: typeof FastCheck) =>
  fc.tuple(
    fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,8}$/),
    fc.constantFrom("127.0.0.1", "localhost", "[::1]", "node-1.example.com"),
    fc.integer({ min: 1, max: 65535 })
  ).map(([name, host, port]) => `${name}@${host}:${port}` as NodeId)

const valid = (s: string) => Either.match(decompose(s), { onLeft: (reason) => reason, onRight: () => true })

/** The Schema of a NodeId on the wire: a string that must parse. */
export const schema: Schema.Schema<NodeId, string> = Schema.String.pipe(
  Schema.filter(valid, { identifier: "NodeId" }),
  Schema.brand("NodeId", { arbitrary })
)

/**
 * The NodeId field of an error: checked when decoded (a peer's error must carry a real
 * id), not when an error is made or encoded, since an error may report the id a caller
 * got wrong — and sending that error must not fail.
 */
export const errorField: Schema.Schema<NodeId, string> = Schema.transformOrFail(
  Schema.String,
  Schema.String.pipe(Schema.brand("NodeId", { arbitrary })),
  {
    strict: true,
    decode: (s, _, ast) =>
      Either.match(decompose(s), {
        onLeft: (reason) => ParseResult.fail(new ParseResult.Type(ast, s, reason)),
        onRight: () => ParseResult.succeed(s as NodeId)
      }),
    encode: ParseResult.succeed
  }
)
