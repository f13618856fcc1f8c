/**
 * Cluster configuration: every field with its default and the reason for it, one
 * `defaults` object, validation into `ClusterConfigError` naming the field, and the
 * same fields read from the environment (`NOEX_*`) through Effect `Config`.
 */
import { Config, ConfigError, Duration, Effect, Either, LogLevel, Option, Redacted } from "effect"
import { ClusterConfigError } from "../errors.js"
import type { ConflictStrategy } from "../GlobalRegistry.js"
import { DEFAULT_MAILBOX_LIMIT } from "../internal/mailbox.js"
import { NodeId } from "../NodeId.js"
import { MAX_READ_PAUSE } from "../transport/Transport.js"
import type { ConnectionOptions } from "../transport/Transport.js"
import { DEFAULT_MAX_FRAME_BYTES } from "../wire/Frame.js"
import { HostRule } from "./internal/gossipPolicy.js"
import { MAX_KNOWN_PEERS } from "./internal/peer.js"

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
  /** Messages one process may have waiting: a call past it fails with `MailboxFullError`, a cast is dropped. Default 100,000. */
  readonly mailboxLimit?: number | undefined
  /** Processes one other node may have running here (spawned through it); past it a spawn fails with `SpawnQuotaError`. Default 262,144. */
  readonly maxProcessesPerPeer?: number | undefined
  /** Peers this node may know (connected, dialing, remembered as down) before gossip adds no more. Default 1,000. */
  readonly maxKnownPeers?: number | undefined
  /**
   * Hosts that gossip may make this node dial: CIDRs (`10.0.0.0/8`, `fd00::/8`),
   * addresses, host names, `*.domain`. Default: any. Seeds and nodes that dialed in are
   * not subject to it.
   */
  readonly allowedHosts?: ReadonlyArray<string> | undefined
  /**
   * Whether a member gossip names by host name (not an address) is dialed, which resolves
   * the name. Default `false`: a peer must not make this node look up and connect to
   * whatever name it likes. Names listed in `allowedHosts` are dialed either way.
   */
  readonly resolveGossipedNames?: boolean | undefined
  /**
   * A hidden node (Erlang's `-hidden`), for tools such as the CLI's admin commands: it
   * connects to its seeds only, and its peers do not count it as a member — it is not in
   * their `getConnectedNodes`, raises no `NodeUp`/`NodeDown` there, is never gossiped,
   * redialed or chosen for placement, and takes no part in their global registry. It can
   * call, cast, spawn and inspect. Default `false`.
   */
  readonly hidden?: boolean | undefined
  /**
   * The least severe level this node's own logs are written at (its connections, peers,
   * processes). Default: the program's minimum level (Effect's default is `Info`). The
   * environment and the CLI take `trace`, `debug`, `info`, `warn` (or `warning`), `error`,
   * `fatal`, `off`.
   */
  readonly logLevel?: LogLevel.Literal | undefined
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
  readonly mailboxLimit: number
  readonly maxProcessesPerPeer: number
  readonly maxKnownPeers: number
  readonly allowedHosts: ReadonlyArray<string> | undefined
  readonly resolveGossipedNames: boolean
  readonly hidden: boolean
  /** `undefined`: the program's minimum level applies. */
  readonly logLevel: LogLevel.LogLevel | undefined
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
  forgetAfter: Duration.seconds(60),
  /** A few MiB of envelopes per process: rides out a burst, stops a flood long before memory runs out. */
  mailboxLimit: DEFAULT_MAILBOX_LIMIT,
  /**
   * Erlang's default process limit for a whole node (`+P` 262,144): no peer gets more
   * than that. About 130 MB of idle processes, far below what exhausts a node.
   */
  maxProcessesPerPeer: 262_144,
  /**
   * A full mesh of 1,000 nodes is far past what one heartbeat per peer per second suits;
   * the cap stops one hostile gossip frame from making the node dial thousands of addresses.
   */
  maxKnownPeers: MAX_KNOWN_PEERS
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
    const logLevel = config.logLevel === undefined
      ? undefined
      : LogLevel.allLevels.find((level) => level._tag === config.logLevel)
    if (config.logLevel !== undefined && logLevel === undefined) {
      return yield* fail("logLevel", `must be one of ${LogLevel.allLevels.map((l) => l._tag).join(", ")}`)
    }
    const min = yield* duration("reconnectBackoff.min", config.reconnectBackoff?.min ?? defaults.reconnectBackoff.min)
    const max = yield* duration("reconnectBackoff.max", config.reconnectBackoff?.max ?? defaults.reconnectBackoff.max)
    if (Duration.greaterThan(min, max)) return yield* fail("reconnectBackoff", "min must not exceed max")
    const mailboxLimit = config.mailboxLimit ?? defaults.mailboxLimit
    if (!Number.isInteger(mailboxLimit) || mailboxLimit < 1) {
      return yield* fail("mailboxLimit", `must be a positive integer, got ${mailboxLimit}`)
    }
    const maxProcessesPerPeer = config.maxProcessesPerPeer ?? defaults.maxProcessesPerPeer
    if (!Number.isInteger(maxProcessesPerPeer) || maxProcessesPerPeer < 0) {
      return yield* fail("maxProcessesPerPeer", `must be a non-negative integer, got ${maxProcessesPerPeer}`)
    }
    const maxFrameBytes = config.maxFrameBytes ?? defaults.maxFrameBytes
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < MIN_FRAME_BYTES || maxFrameBytes > 0xffff_ffff) {
      return yield* fail("maxFrameBytes", `must be an integer in ${MIN_FRAME_BYTES}..4294967295, got ${maxFrameBytes}`)
    }
    const maxKnownPeers = config.maxKnownPeers ?? defaults.maxKnownPeers
    if (!Number.isInteger(maxKnownPeers) || maxKnownPeers < 1) {
      return yield* fail("maxKnownPeers", `must be a positive integer, got ${maxKnownPeers}`)
    }
    if (config.allowedHosts !== undefined) {
      const rule = HostRule.parse(config.allowedHosts)
      if (typeof rule === "string") return yield* fail("allowedHosts", rule)
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
      mailboxLimit,
      maxProcessesPerPeer,
      maxKnownPeers,
      allowedHosts: config.allowedHosts,
      resolveGossipedNames: config.resolveGossipedNames ?? false,
      hidden: config.hidden ?? false,
      logLevel,
      onNameConflict: config.onNameConflict ?? "stop"
    }
  })

/**
 * The environment variable of each field read from the environment: one set of names
 * for `Cluster.layerFromEnv` and the `noex-effect node` command.
 */
export const envNames = {
  nodeName: "NOEX_NODE_NAME",
  host: "NOEX_HOST",
  advertiseHost: "NOEX_ADVERTISE_HOST",
  port: "NOEX_PORT",
  seeds: "NOEX_SEEDS",
  cookie: "NOEX_COOKIE",
  heartbeatInterval: "NOEX_HEARTBEAT_INTERVAL",
  heartbeatMissThreshold: "NOEX_HEARTBEAT_MISS_THRESHOLD",
  reconnectBackoffMin: "NOEX_RECONNECT_BACKOFF_MIN",
  reconnectBackoffMax: "NOEX_RECONNECT_BACKOFF_MAX",
  maxFrameBytes: "NOEX_MAX_FRAME_BYTES",
  handshakeTimeout: "NOEX_HANDSHAKE_TIMEOUT",
  forgetAfter: "NOEX_FORGET_AFTER",
  mailboxLimit: "NOEX_MAILBOX_LIMIT",
  maxProcessesPerPeer: "NOEX_MAX_PROCESSES_PER_PEER",
  maxKnownPeers: "NOEX_MAX_KNOWN_PEERS",
  allowedHosts: "NOEX_ALLOWED_HOSTS",
  resolveGossipedNames: "NOEX_RESOLVE_GOSSIPED_NAMES",
  hidden: "NOEX_HIDDEN",
  logLevel: "NOEX_LOG_LEVEL"
} as const

/** A level as operators write it: Effect's labels, any case, and `warning` for `warn`. */
const parseLogLevel = (text: string): Either.Either<LogLevel.Literal, ConfigError.ConfigError> => {
  const wanted = text.trim().toLowerCase()
  const level = LogLevel.allLevels.find((l) => l.label.toLowerCase() === wanted || l._tag.toLowerCase() === wanted)
  return level === undefined
    ? Either.left(
      ConfigError.InvalidData([], `expected trace, debug, info, warn, error, fatal or off, got "${text}"`)
    )
    : Either.right(level._tag)
}

/** `logLevel` from `NOEX_LOG_LEVEL`, when set. */
export const logLevelFromEnv: Config.Config<Option.Option<LogLevel.Literal>> = Config.option(
  Config.mapOrFail(Config.string(envNames.logLevel), parseLogLevel)
)

/**
 * The fields set in the environment (see {@link envNames}), `nodeName` included when
 * set; a field not set is absent. Seeds are comma separated; durations use Effect's
 * syntax (`"500 millis"`, `"2 seconds"`).
 */
export const settingsFromEnv: Config.Config<Partial<ClusterConfig>> = Config.all({
  nodeName: Config.option(Config.string(envNames.nodeName)),
  host: Config.option(Config.string(envNames.host)),
  advertiseHost: Config.option(Config.string(envNames.advertiseHost)),
  port: Config.option(Config.integer(envNames.port)),
  seeds: Config.option(Config.array(Config.string(), envNames.seeds)),
  cookie: Config.option(Config.redacted(envNames.cookie)),
  heartbeatInterval: Config.option(Config.duration(envNames.heartbeatInterval)),
  heartbeatMissThreshold: Config.option(Config.integer(envNames.heartbeatMissThreshold)),
  backoffMin: Config.option(Config.duration(envNames.reconnectBackoffMin)),
  backoffMax: Config.option(Config.duration(envNames.reconnectBackoffMax)),
  maxFrameBytes: Config.option(Config.integer(envNames.maxFrameBytes)),
  handshakeTimeout: Config.option(Config.duration(envNames.handshakeTimeout)),
  forgetAfter: Config.option(Config.duration(envNames.forgetAfter)),
  mailboxLimit: Config.option(Config.integer(envNames.mailboxLimit)),
  maxProcessesPerPeer: Config.option(Config.integer(envNames.maxProcessesPerPeer)),
  maxKnownPeers: Config.option(Config.integer(envNames.maxKnownPeers)),
  allowedHosts: Config.option(Config.array(Config.string(), envNames.allowedHosts)),
  resolveGossipedNames: Config.option(Config.boolean(envNames.resolveGossipedNames)),
  hidden: Config.option(Config.boolean(envNames.hidden)),
  logLevel: logLevelFromEnv
}).pipe(
  Config.map(({ allowedHosts, backoffMax, backoffMin, seeds, ...fields }) =>
    overlay({}, {
      ...fields,
      seeds: Option.map(seeds, (list) => list.filter((s) => s.trim().length > 0)),
      allowedHosts: Option.map(allowedHosts, (list) => list.filter((s) => s.trim().length > 0)),
      reconnectBackoffMin: backoffMin,
      reconnectBackoffMax: backoffMax
    })
  )
)

/**
 * `base` with every field that is set in `fields` laid over it; `reconnectBackoffMin` and
 * `reconnectBackoffMax` set one bound of `reconnectBackoff`, the other kept (or its
 * default). The environment and the CLI's flags are read into settings this way.
 */
export const overlay = (
  base: Partial<ClusterConfig>,
  fields: Readonly<Record<string, Option.Option<unknown>>>
): Partial<ClusterConfig> => {
  const { reconnectBackoffMax: max, reconnectBackoffMin: min, ...rest } = fields
  const settings: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(rest)) if (Option.isSome(value)) settings[key] = value.value
  const setMin = min !== undefined && Option.isSome(min)
  const setMax = max !== undefined && Option.isSome(max)
  if (setMin || setMax) {
    const backoff = base.reconnectBackoff ?? defaults.reconnectBackoff
    settings.reconnectBackoff = { min: setMin ? min.value : backoff.min, max: setMax ? max.value : backoff.max }
  }
  return settings as Partial<ClusterConfig>
}

/** The configuration read from the environment: {@link settingsFromEnv}, with `NOEX_NODE_NAME` required. */
export const fromEnv: Config.Config<ClusterConfig> = Config.all([
  Config.string(envNames.nodeName),
  settingsFromEnv
]).pipe(Config.map(([nodeName, settings]): ClusterConfig => ({ ...settings, nodeName })))

/**
 * What this node's connections are opened with: its frame limit, and a read pause no
 * longer than one heartbeat interval (nor `MAX_READ_PAUSE`), so a peer whose bytes wait
 * behind a pause never looks silent to the failure detector or the new-incarnation rule.
 */
export const connectionOptions = (config: ResolvedConfig): ConnectionOptions => ({
  maxFrameBytes: config.maxFrameBytes,
  readPause: Duration.min(config.heartbeatInterval, MAX_READ_PAUSE)
})
