/**
 * Cluster configuration: every field with its default and the reason for it, one
 * `defaults` object, validation into `ClusterConfigError` naming the field, and the
 * same fields read from the environment (`NOEX_*`) through Effect `Config`.
 */
import { Config, Duration, Effect, Either, Option, Redacted } from "effect"
import { ClusterConfigError } from "../errors.js"
import type { ConflictStrategy } from "../GlobalRegistry.js"
import { NodeId } from "../NodeId.js"
import { DEFAULT_MAX_FRAME_BYTES } from "../wire/Frame.js"

/** What a user passes to `Cluster.layer`. Only `nodeName` is required. */
export interface ClusterConfig {
  /** This node's name, the `name` of `name@host:port`. */
  readonly nodeName: string
  /** Bind address. Default `127.0.0.1`: a node is private unless asked otherwise. */
  readonly host?: string | undefined
  /** What other nodes dial; default `host`. Required when binding `0.0.0.0` or `::`. */
  readonly advertiseHost?: string | undefined
  /** TCP port; default 4369 (Erlang's epmd port, familiar to operators). `0` picks a free port. */
  readonly port?: number | undefined
  /** NodeIds dialed at start and retried with backoff until reached. Default none. */
  readonly seeds?: ReadonlyArray<string> | undefined
  /** Shared secret; every peer must prove it. Required when binding a non-loopback address. */
  readonly cookie?: Redacted.Redacted<string> | string | undefined
  /** How often a heartbeat is sent to each peer. Default 1 s. */
  readonly heartbeatInterval?: Duration.DurationInput | undefined
  /** Intervals without any frame before a peer is declared down. Default 5. */
  readonly heartbeatMissThreshold?: number | undefined
  /** Redial delays: exponential from `min` to `max`, jittered. Default 100 ms .. 10 s. */
  readonly reconnectBackoff?: { readonly min: Duration.DurationInput; readonly max: Duration.DurationInput } | undefined
  /** Largest frame sent or accepted. Default 16 MiB. */
  readonly maxFrameBytes?: number | undefined
  /** A connection that has not completed the handshake by then is closed. Default 5 s. */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /** A node down this long is forgotten and no longer redialed (seeds excepted). Default 60 s. */
  readonly forgetAfter?: Duration.DurationInput | undefined
  /**
   * What this node does with its own process when it loses a global name conflict:
   * `"stop"` (default), `"keep"`, or a function. Not read from the environment.
   */
  readonly onNameConflict?: ConflictStrategy | undefined
}

/** A validated configuration with every default applied. */
export interface ResolvedConfig {
  readonly nodeName: string
  readonly host: string
  readonly advertiseHost: string
  readonly port: number
  readonly seeds: ReadonlyArray<NodeId>
  readonly cookie: Option.Option<Redacted.Redacted<string>>
  readonly heartbeatInterval: Duration.Duration
  readonly heartbeatMissThreshold: number
  readonly reconnectBackoff: { readonly min: Duration.Duration; readonly max: Duration.Duration }
  readonly maxFrameBytes: number
  readonly handshakeTimeout: Duration.Duration
  readonly forgetAfter: Duration.Duration
  readonly onNameConflict: ConflictStrategy
}

/** Defaults, each with its reason. */
export const defaults = {
  /** Loopback: a node is reachable from other machines only when asked to be. */
  host: "127.0.0.1",
  /** Erlang's epmd port: familiar, and free on machines that do not run Erlang. */
  port: 4369,
  /** Erlang's net_ticktime is 60 s with 4 ticks; we detect in 5 s because peers are usually on one LAN or one host. */
  heartbeatInterval: Duration.seconds(1),
  /** Five missed intervals: a GC pause or a busy event loop of a few seconds is not a failure. */
  heartbeatMissThreshold: 5,
  /** Fast first retry (a peer restarting), capped so a dead seed costs one dial every 10 s. */
  reconnectBackoff: { min: Duration.millis(100), max: Duration.seconds(10) },
  /** Bounds what one connection can make us allocate before we know who is talking. */
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  /** Generous for a loaded machine, short enough that idle unauthenticated sockets do not pile up. */
  handshakeTimeout: Duration.seconds(5),
  /** Long enough to ride out a restart or a short partition; short enough to stop dialing departed nodes. */
  forgetAfter: Duration.seconds(60)
} as const

/** Frames smaller than this cannot carry a handshake with a cookie proof and a gossip of a few members. */
const MIN_FRAME_BYTES = 4096

const isWildcard = (host: string) => host === "0.0.0.0" || host === "::" || host === "[::]"

const fail = (field: string, reason: string) => Effect.fail(new ClusterConfigError({ field, reason }))

const duration = (field: string, input: Duration.DurationInput) =>
  Effect.suspend(() => {
    const d = Duration.decodeUnknown(input)
    if (Option.isNone(d) || !Duration.isFinite(d.value) || Duration.toMillis(d.value) <= 0) {
      return fail(field, `must be a positive finite duration, got ${String(input)}`)
    }
    return Effect.succeed(d.value)
  })

/**
 * Validates a configuration and applies the defaults. `exposes` tells whether binding
 * a host makes the node reachable from other machines (the transport knows).
 */
export const resolve = (
  config: ClusterConfig,
  exposes: (host: string) => boolean
): Effect.Effect<ResolvedConfig, ClusterConfigError> =>
  Effect.gen(function*() {
    const probe = NodeId.parseEither(`${config.nodeName}@localhost:1`)
    if (Either.isLeft(probe)) return yield* fail("nodeName", probe.left.reason)
    const host = config.host ?? defaults.host
    const port = config.port ?? defaults.port
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return yield* fail("port", `must be an integer in 0..65535, got ${port}`)
    }
    if (!isWildcard(host) && Either.isLeft(NodeId.parseEither(`x@${host}:1`))) {
      return yield* fail("host", `"${host}" is not an IPv4 address, a bracketed IPv6 address or a hostname`)
    }
    if (isWildcard(host) && config.advertiseHost === undefined) {
      return yield* fail(
        "advertiseHost",
        `binding ${host} listens on every interface; set advertiseHost to the address other nodes should dial`
      )
    }
    const advertiseHost = config.advertiseHost ?? host
    if (Either.isLeft(NodeId.parseEither(`x@${advertiseHost}:1`))) {
      return yield* fail(
        "advertiseHost",
        `"${advertiseHost}" is not an IPv4 address, a bracketed IPv6 address or a hostname`
      )
    }
    const cookie = config.cookie === undefined
      ? Option.none<Redacted.Redacted<string>>()
      : Option.some(typeof config.cookie === "string" ? Redacted.make(config.cookie) : config.cookie)
    if (Option.isSome(cookie) && Redacted.value(cookie.value).length === 0) {
      return yield* fail("cookie", "must not be empty")
    }
    if (exposes(host) && Option.isNone(cookie)) {
      return yield* fail(
        "cookie",
        `binding ${host} exposes the node beyond this machine; set a cookie (config.cookie or NOEX_COOKIE) shared by every node, or bind 127.0.0.1`
      )
    }
    const seeds: Array<NodeId> = []
    for (const seed of config.seeds ?? []) {
      const parsed = NodeId.parseEither(seed.trim())
      if (Either.isLeft(parsed)) {
        return yield* fail("seeds", `"${seed}": ${parsed.left.reason}`)
      }
      seeds.push(parsed.right)
    }
    const heartbeatInterval = yield* duration(
      "heartbeatInterval",
      config.heartbeatInterval ?? defaults.heartbeatInterval
    )
    const threshold = config.heartbeatMissThreshold ?? defaults.heartbeatMissThreshold
    if (!Number.isInteger(threshold) || threshold < 1) {
      return yield* fail("heartbeatMissThreshold", `must be an integer >= 1, got ${threshold}`)
    }
    const min = yield* duration("reconnectBackoff.min", config.reconnectBackoff?.min ?? defaults.reconnectBackoff.min)
    const max = yield* duration("reconnectBackoff.max", config.reconnectBackoff?.max ?? defaults.reconnectBackoff.max)
    if (Duration.greaterThan(min, max)) return yield* fail("reconnectBackoff", "min must not exceed max")
    const maxFrameBytes = config.maxFrameBytes ?? defaults.maxFrameBytes
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < MIN_FRAME_BYTES || maxFrameBytes > 0xffff_ffff) {
      return yield* fail("maxFrameBytes", `must be an integer in ${MIN_FRAME_BYTES}..4294967295, got ${maxFrameBytes}`)
    }
    return {
      nodeName: config.nodeName,
      host,
      advertiseHost,
      port,
      seeds,
      cookie,
      heartbeatInterval,
      heartbeatMissThreshold: threshold,
      reconnectBackoff: { min, max },
      maxFrameBytes,
      handshakeTimeout: yield* duration("handshakeTimeout", config.handshakeTimeout ?? defaults.handshakeTimeout),
      forgetAfter: yield* duration("forgetAfter", config.forgetAfter ?? defaults.forgetAfter),
      onNameConflict: config.onNameConflict ?? "stop"
    }
  })

/**
 * The configuration read from the environment: `NOEX_NODE_NAME` (required), `NOEX_HOST`,
 * `NOEX_ADVERTISE_HOST`, `NOEX_PORT`, `NOEX_SEEDS` (comma separated), `NOEX_COOKIE`,
 * `NOEX_HEARTBEAT_INTERVAL`, `NOEX_HEARTBEAT_MISS_THRESHOLD`, `NOEX_RECONNECT_BACKOFF_MIN`,
 * `NOEX_RECONNECT_BACKOFF_MAX`, `NOEX_MAX_FRAME_BYTES`, `NOEX_HANDSHAKE_TIMEOUT`,
 * `NOEX_FORGET_AFTER`. Durations use Effect's syntax (`"500 millis"`, `"2 seconds"`).
 */
export const fromEnv: Config.Config<ClusterConfig> = Config.all({
  nodeName: Config.string("NOEX_NODE_NAME"),
  host: Config.option(Config.string("NOEX_HOST")),
  advertiseHost: Config.option(Config.string("NOEX_ADVERTISE_HOST")),
  port: Config.option(Config.integer("NOEX_PORT")),
  seeds: Config.option(Config.array(Config.string(), "NOEX_SEEDS")),
  cookie: Config.option(Config.redacted("NOEX_COOKIE")),
  heartbeatInterval: Config.option(Config.duration("NOEX_HEARTBEAT_INTERVAL")),
  heartbeatMissThreshold: Config.option(Config.integer("NOEX_HEARTBEAT_MISS_THRESHOLD")),
  backoffMin: Config.option(Config.duration("NOEX_RECONNECT_BACKOFF_MIN")),
  backoffMax: Config.option(Config.duration("NOEX_RECONNECT_BACKOFF_MAX")),
  maxFrameBytes: Config.option(Config.integer("NOEX_MAX_FRAME_BYTES")),
  handshakeTimeout: Config.option(Config.duration("NOEX_HANDSHAKE_TIMEOUT")),
  forgetAfter: Config.option(Config.duration("NOEX_FORGET_AFTER"))
}).pipe(
  Config.map((c): ClusterConfig => ({
    nodeName: c.nodeName,
    host: Option.getOrUndefined(c.host),
    advertiseHost: Option.getOrUndefined(c.advertiseHost),
    port: Option.getOrUndefined(c.port),
    seeds: Option.getOrUndefined(c.seeds)?.filter((s) => s.trim().length > 0),
    cookie: Option.getOrUndefined(c.cookie),
    heartbeatInterval: Option.getOrUndefined(c.heartbeatInterval),
    heartbeatMissThreshold: Option.getOrUndefined(c.heartbeatMissThreshold),
    reconnectBackoff: Option.isSome(c.backoffMin) || Option.isSome(c.backoffMax)
      ? {
        min: Option.getOrElse(c.backoffMin, () => defaults.reconnectBackoff.min),
        max: Option.getOrElse(c.backoffMax, () => defaults.reconnectBackoff.max)
      }
      : undefined,
    maxFrameBytes: Option.getOrUndefined(c.maxFrameBytes),
    handshakeTimeout: Option.getOrUndefined(c.handshakeTimeout),
    forgetAfter: Option.getOrUndefined(c.forgetAfter)
  }))
)
