/**
 * The `noex-effect node` command: starts one cluster node from the command line,
 * registers the behaviors a module exports, logs node events, and shuts down
 * gracefully on SIGINT/SIGTERM. The configuration is read from the environment with
 * the same `Config` as `Cluster.layerFromEnv`; a flag overrides its variable.
 */
import { Command, HelpDoc, Options } from "@effect/cli"
import { Config, ConfigProvider, Duration, Effect, Layer, Option, Stream } from "effect"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as BehaviorRegistry from "../BehaviorRegistry.js"
import type { RegisteredBehavior } from "../BehaviorRegistry.js"
import * as Cluster from "../cluster/Cluster.js"
import * as ClusterConfig from "../cluster/ClusterConfig.js"
import * as TcpTransport from "../node/TcpTransport.js"
import * as TlsTransport from "../node/TlsTransport.js"

const env = ClusterConfig.envNames

/** A flag that overrides the field's environment variable, read by `Cluster.settingsFromEnv`. */
const setting = <A>(options: Options.Options<A>, variable: string, description: string) =>
  options.pipe(Options.optional, Options.withDescription(`${description} (env ${variable}).`))

/** A duration in Effect's syntax, as the environment variables take it: "500 millis", "2 seconds". */
const durationFlag = (name: string) =>
  Options.text(name).pipe(
    Options.mapTryCatch(
      (text) => Duration.decode(text as Duration.DurationInput),
      () => HelpDoc.p(`--${name} takes a duration such as "500 millis" or "2 seconds"`)
    )
  )

const name = setting(Options.text("name"), env.nodeName, "This node's name. Required")
const host = setting(Options.text("host"), env.host, "Bind address, default 127.0.0.1")
const advertiseHost = setting(
  Options.text("advertise-host"),
  env.advertiseHost,
  "Address other nodes dial, default the bind address; required with 0.0.0.0"
)
const port = setting(Options.integer("port"), env.port, "TCP port, 0 for a free one, default 4369")
const seeds = setting(
  Options.text("seeds"),
  env.seeds,
  "Comma-separated NodeIds to join, e.g. b@127.0.0.1:4370, default none"
)
const cookie = setting(
  Options.redacted("cookie"),
  env.cookie,
  "Shared secret every node must prove. Required when binding a non-loopback address"
)
const heartbeatInterval = setting(
  durationFlag("heartbeat-interval"),
  env.heartbeatInterval,
  "Time between heartbeats, default \"1 second\""
)
const heartbeatMissThreshold = setting(
  Options.integer("heartbeat-miss-threshold"),
  env.heartbeatMissThreshold,
  "Silent intervals before a peer is declared down, default 5"
)
const maxFrameBytes = setting(
  Options.integer("max-frame-bytes"),
  env.maxFrameBytes,
  "Largest frame sent or accepted, default 16 MiB"
)
const handshakeTimeout = setting(
  durationFlag("handshake-timeout"),
  env.handshakeTimeout,
  "Time a connection has to complete the handshake, default \"5 seconds\""
)
const forgetAfter = setting(
  durationFlag("forget-after"),
  env.forgetAfter,
  "A node down this long is no longer redialed (seeds excepted), default \"60 seconds\""
)
const behaviors = Options.file("behaviors").pipe(
  Options.optional,
  Options.withFallbackConfig(Config.option(Config.string("NOEX_BEHAVIORS"))),
  Options.withDescription(
    "Module whose exports are behaviors, registered under their export names (env NOEX_BEHAVIORS)."
  )
)

const mailboxLimit = setting(
  Options.integer("mailbox-limit"),
  env.mailboxLimit,
  "Messages one process may have waiting before calls fail and casts drop, default 100000"
)
const maxProcessesPerPeer = setting(
  Options.integer("max-processes-per-peer"),
  env.maxProcessesPerPeer,
  "Processes another node may spawn here before its spawns fail, default 262144"
)
const reconnectBackoffMin = setting(
  durationFlag("reconnect-backoff-min"),
  env.reconnectBackoffMin,
  "First redial delay, doubled per failure, default \"100 millis\""
)
const reconnectBackoffMax = setting(
  durationFlag("reconnect-backoff-max"),
  env.reconnectBackoffMax,
  "Longest redial delay, default \"10 seconds\""
)

const maxKnownPeers = setting(
  Options.integer("max-known-peers"),
  env.maxKnownPeers,
  "Peers this node may know before gossip adds no more, default 1000"
)
const allowedHosts = setting(
  Options.text("allowed-hosts"),
  env.allowedHosts,
  "Comma-separated CIDRs, addresses, names or *.domain that gossip may make this node dial, default any"
)
// A choice, not a boolean flag: an absent boolean flag reads as `false` and would hide the variable.
const resolveGossipedNames = setting(
  Options.choice("resolve-gossiped-names", ["true", "false"]).pipe(Options.map((value) => value === "true")),
  env.resolveGossipedNames,
  "true: dial members gossip names by host name (resolving them), default false"
)

const settingFlags = {
  nodeName: name,
  host,
  advertiseHost,
  port,
  seeds,
  cookie,
  heartbeatInterval,
  heartbeatMissThreshold,
  reconnectBackoffMin,
  reconnectBackoffMax,
  maxFrameBytes,
  handshakeTimeout,
  forgetAfter,
  mailboxLimit,
  maxProcessesPerPeer,
  maxKnownPeers,
  resolveGossipedNames
}

const tlsEnv = TlsTransport.envNames
/** TLS flags, each overriding its variable; with a certificate the node speaks TLS instead of TCP. */
const tlsFlags = {
  [tlsEnv.cert]: setting(Options.file("tls-cert"), tlsEnv.cert, "PEM certificate naming this node: TLS instead of TCP"),
  [tlsEnv.key]: setting(Options.file("tls-key"), tlsEnv.key, "PEM private key of --tls-cert"),
  [tlsEnv.ca]: setting(Options.file("tls-ca"), tlsEnv.ca, "PEM CA certificates peers must chain to"),
  [tlsEnv.pins]: setting(
    Options.text("tls-pins"),
    tlsEnv.pins,
    "Comma-separated SHA-256 fingerprints of the peer certificates trusted"
  )
}

/** TLS when a certificate is given by flag or environment, TCP otherwise. */
const transportOf = (flags: Record<string, Option.Option<string>>) =>
  Effect.gen(function*() {
    const given = new Map<string, string>()
    for (const [variable, value] of Object.entries(flags)) if (Option.isSome(value)) given.set(variable, value.value)
    const provider = ConfigProvider.fromMap(given).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv()))
    const tls = yield* Effect.withConfigProvider(TlsTransport.enabledInEnv, provider)
    return tls
      ? TlsTransport.layerFromEnv.pipe(Layer.provide(Layer.setConfigProvider(provider)))
      : TcpTransport.layer
  })

const isBehavior = (u: unknown): u is RegisteredBehavior =>
  typeof u === "object" &&
  u !== null &&
  typeof (u as { init?: unknown }).init === "function" &&
  typeof (u as { handleCall?: unknown }).handleCall === "function" &&
  typeof (u as { handleCast?: unknown }).handleCast === "function"

/** Loads a behaviors module: every export that is a behavior, by export name (a default object's entries too). */
export const loadBehaviors = (file: string): Effect.Effect<Record<string, RegisteredBehavior>, Error> =>
  Effect.tryPromise({
    try: () => import(pathToFileURL(path.resolve(file)).href) as Promise<Record<string, unknown>>,
    catch: (e) => new Error(`cannot load behaviors from ${file}: ${e instanceof Error ? e.message : String(e)}`)
  }).pipe(
    Effect.map((module) => {
      const found: Record<string, RegisteredBehavior> = {}
      const scan = (entries: Record<string, unknown>) => {
        for (const [key, value] of Object.entries(entries)) if (isBehavior(value)) found[key] = value
      }
      if (typeof module.default === "object" && module.default !== null) scan(module.default as Record<string, unknown>)
      scan(module)
      return found
    })
  )

/** `noex-effect node`: runs a node until interrupted. */
export const nodeCommand = Command.make(
  "node",
  { ...settingFlags, allowedHosts, behaviors, tls: Options.all(tlsFlags) },
  ({ allowedHosts, behaviors, tls, ...flags }) =>
    Effect.gen(function*() {
      const registered = Option.isSome(behaviors) ? yield* loadBehaviors(behaviors.value) : {}
      // Flags over the environment, read by the same Config as Cluster.layerFromEnv.
      // Seeds come as one comma-separated flag, as in the environment.
      const list = (text: string) => text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
      const seeds = Option.map(flags.seeds, list)
      const settings = ClusterConfig.overlay(yield* Cluster.settingsFromEnv, {
        ...flags,
        seeds,
        allowedHosts: Option.map(allowedHosts, list)
      })
      if (settings.nodeName === undefined) {
        return yield* Effect.fail(new Error(`a node name is required: --name or ${env.nodeName}`))
      }
      const layer = Cluster.layer({ ...settings, nodeName: settings.nodeName }).pipe(
        Layer.provide(BehaviorRegistry.layer(registered)),
        Layer.provide(yield* transportOf(tls))
      )
      yield* Effect.gen(function*() {
        const cluster = yield* Cluster.Cluster
        yield* Effect.logInfo(
          `node ${cluster.localNodeId} is up; behaviors: ${Object.keys(registered).join(", ") || "none"}`
        )
        yield* cluster.nodeEvents.pipe(
          Stream.runForEach((event) =>
            event._tag === "NodeUp"
              ? Effect.logInfo(`node up: ${event.nodeId}`)
              : Effect.logInfo(`node down: ${event.nodeId} (${event.reason})`)
          )
        )
      }).pipe(
        Effect.provide(layer),
        Effect.onInterrupt(() => Effect.logInfo("shutting down gracefully"))
      )
    })
).pipe(Command.withDescription("Start a cluster node; stops gracefully on SIGINT or SIGTERM."))

/** The `noex-effect` command line. */
export const cli = Command.make("noex-effect").pipe(
  Command.withDescription("noex-effect: Erlang/OTP-style distribution for TypeScript, built on Effect."),
  Command.withSubcommands([nodeCommand])
)

/** Runs the command line with `argv` (as `process.argv`). */
export const run = Command.run(cli, { name: "noex-effect", version: "0.1.0" })
