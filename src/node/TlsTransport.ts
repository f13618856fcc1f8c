/**
 * TlsTransport: the {@link Transport} over TLS 1.3 with mutual certificate
 * authentication, for nodes on networks nobody vouches for. Every connection is
 * encrypted; both ends present a certificate, checked against a CA (`ca`) and/or a list
 * of pinned SHA-256 fingerprints (`pins`); and a node may only claim an id its
 * certificate names: a URI subject alternative name `noex://<name>@<host>` (the node id
 * without its port). Certificate holders are the trusted set, as cookie holders are
 * over TCP; a cookie may be set too and is then proven as well (docs/security.md).
 *
 * Since TLS already authenticates every byte, links over it send no authenticated
 * records of their own (the cookie's per-record MAC would buy nothing twice).
 */
import { Config, ConfigError, Effect, Either, Layer, Redacted } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import type * as net from "node:net"
import * as tls from "node:tls"
import { ClusterConfigError } from "../errors.js"
import { Transport } from "../transport/Transport.js"
import type { Secured, Service } from "../transport/Transport.js"
import * as SocketTransport from "./internal/socketTransport.js"

/** Certificates and trust of one node. PEM text or bytes. */
export interface TlsOptions {
  /** This node's certificate chain; it must name the node (`noex://name@host`). */
  readonly cert: string | Uint8Array
  /** The certificate's private key. */
  readonly key: string | Uint8Array | Redacted.Redacted<string>
  /** CA certificates a peer's certificate must chain to. */
  readonly ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array> | undefined
  /**
   * SHA-256 fingerprints of the peer certificates accepted (hex, colons optional, any
   * case). With `ca` a peer must pass both; without, a pin is the only trust.
   */
  readonly pins?: ReadonlyArray<string> | undefined
}

/** The URI scheme of a node name in a certificate: `noex://name@host`. */
export const NODE_NAME_SCHEME = "noex://"

/**
 * A TLS handshake not done in this time is dropped by node. 10 s: the same order as the
 * cluster's own handshake timeout (5 s by default, which starts after it), so an idle
 * unauthenticated socket costs at most 15 s here against 5 s over TCP.
 */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000

const normalizePin = (pin: string) => pin.replaceAll(":", "").toLowerCase()

/** The node names (`name@host`) in a certificate's URI subject alternative names. */
export const namesOf = (subjectAltName: string | undefined): ReadonlyArray<string> =>
  (subjectAltName ?? "")
    .split(/,\s*/)
    .filter((entry) => entry.startsWith(`URI:${NODE_NAME_SCHEME}`))
    .map((entry) => entry.slice(`URI:${NODE_NAME_SCHEME}`.length))

/** Checks the peer of a finished TLS handshake: its chain (when a CA is set), its pin (when pins are). */
const verifier = (options: TlsOptions) => {
  const pins = options.pins === undefined ? undefined : new Set(options.pins.map(normalizePin))
  const hasCa = options.ca !== undefined
  return (socket: net.Socket): Secured | string => {
    const s = socket as tls.TLSSocket
    if (hasCa && !s.authorized) return `peer certificate refused: ${String(s.authorizationError ?? "none sent")}`
    const cert = s.getPeerCertificate()
    if (cert === null || Object.keys(cert).length === 0) return "peer sent no certificate"
    if (pins !== undefined && !pins.has(normalizePin(cert.fingerprint256))) {
      return `peer certificate ${cert.fingerprint256} is not pinned`
    }
    // Without a CA node checked no dates: a pinned certificate is good only while valid.
    // Wall-clock time on purpose, not the Clock: validity dates are calendar dates, checked
    // against the same system time OpenSSL checks a CA-signed chain with, in a socket
    // callback outside any fiber (TestClock drives no real TLS handshake).
    const now = Date.now() // justified exception to the Clock rule: calendar dates, see above
    // Written so that a date node cannot parse (NaN) refuses too.
    if (!hasCa && !(now >= Date.parse(cert.valid_from) && now <= Date.parse(cert.valid_to))) {
      return `peer certificate is not valid now (${cert.valid_from} .. ${cert.valid_to})`
    }
    return { peerNames: namesOf(cert.subjectaltname) }
  }
}

const secureContext = (options: TlsOptions) => {
  if (options.ca === undefined && (options.pins === undefined || options.pins.length === 0)) {
    throw new Error("TlsTransport needs a CA (ca) or pinned certificates (pins) to trust peers by")
  }
  const key = Redacted.isRedacted(options.key) ? Redacted.value(options.key) : options.key
  const ca = options.ca === undefined ? undefined : Array.isArray(options.ca) ? options.ca : [options.ca]
  return {
    cert: toPem(options.cert),
    key: toPem(key as string | Uint8Array),
    ...(ca !== undefined ? { ca: ca.map(toPem) } : {}),
    minVersion: "TLSv1.3" as const,
    maxVersion: "TLSv1.3" as const,
    // The chain is checked by node when a CA is given; pins are checked after the handshake.
    rejectUnauthorized: options.ca !== undefined
  }
}

const toPem = (value: string | Uint8Array): string | Buffer =>
  typeof value === "string" ? value : Buffer.from(value.buffer, value.byteOffset, value.length)

/**
 * A TLS transport service. Throws when neither a CA nor pins are given (no peer could be
 * trusted) or the certificate or key cannot be read by node.
 */
export const make = (options: TlsOptions): Service => {
  const context = secureContext(options)
  // Fails here, at configuration, on a bad certificate or key, not on the first connection.
  tls.createSecureContext(context)
  return SocketTransport.make({
    createServer: () => tls.createServer({ ...context, requestCert: true, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }),
    readyEvent: "secureConnection",
    connect: (host, port) =>
      tls.connect({
        ...context,
        host,
        port,
        // The server's identity is its node id, checked against its certificate's names
        // by the handshake: the host name rule of HTTPS does not apply.
        checkServerIdentity: () => undefined
      }),
    connectedEvent: "secureConnect",
    verify: verifier(options),
    exposes: (host) => !SocketTransport.isLoopback(host),
    authenticatesPeers: true
  })
}

const configured = (options: TlsOptions) =>
  Effect.try({
    try: () => make(options),
    catch: (error) =>
      new ClusterConfigError({ field: "tls", reason: error instanceof Error ? error.message : String(error) })
  })

/** Provides {@link Transport} over TLS with `options`; a certificate, key or trust that node refuses fails the layer. */
export const layer = (options: TlsOptions): Layer.Layer<Transport, ClusterConfigError> =>
  Layer.effect(Transport, configured(options))

/** The environment variables {@link layerFromEnv} reads. */
export const envNames = {
  cert: "NOEX_TLS_CERT_FILE",
  key: "NOEX_TLS_KEY_FILE",
  ca: "NOEX_TLS_CA_FILE",
  pins: "NOEX_TLS_PINS"
} as const

/**
 * The options read from the environment: files of PEM for the certificate, its key and
 * the CA, and a comma-separated list of pinned fingerprints.
 */
export const optionsFromEnv: Config.Config<TlsOptions> = Config.all({
  cert: Config.string(envNames.cert),
  key: Config.string(envNames.key),
  ca: Config.option(Config.string(envNames.ca)),
  pins: Config.option(Config.array(Config.string(), envNames.pins))
}).pipe(Config.mapOrFail(({ ca, cert, key, pins }) =>
  Either.try({
    try: (): TlsOptions => ({
      cert: fs.readFileSync(cert, "utf8"),
      key: Redacted.make(fs.readFileSync(key, "utf8")),
      ...(ca._tag === "Some" ? { ca: fs.readFileSync(ca.value, "utf8") } : {}),
      ...(pins._tag === "Some" ? { pins: pins.value } : {})
    }),
    catch: (error) => ConfigError.InvalidData([], error instanceof Error ? error.message : String(error))
  })
))

/** Whether the environment asks for TLS (`NOEX_TLS_CERT_FILE` is set). */
export const enabledInEnv: Effect.Effect<boolean> = Effect.orElseSucceed(
  Effect.map(Config.option(Config.string(envNames.cert)), (o) => o._tag === "Some"),
  () => false
)

/** Provides {@link Transport} over TLS configured from the environment ({@link envNames}). */
export const layerFromEnv: Layer.Layer<Transport, ConfigError.ConfigError | ClusterConfigError> = Layer.effect(
  Transport,
  Effect.flatMap(optionsFromEnv, configured)
)

/** The SHA-256 fingerprint of a PEM certificate, as `pins` takes it. */
export const fingerprint = (certPem: string | Uint8Array): string =>
  new crypto.X509Certificate(toPem(certPem)).fingerprint256
