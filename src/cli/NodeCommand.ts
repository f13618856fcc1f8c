/**
 * The `noex-effect node` command: starts one cluster node from the command line,
 * registers the behaviors a module exports, logs node events, and shuts down
 * gracefully on SIGINT/SIGTERM. Every flag falls back to its `NOEX_*` variable.
 */
import { Command, Options } from "@effect/cli"
import { Config, Effect, Layer, Option, Stream } from "effect"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as BehaviorRegistry from "../BehaviorRegistry.js"
import type { RegisteredBehavior } from "../BehaviorRegistry.js"
import * as Cluster from "../cluster/Cluster.js"
import * as TcpTransport from "../node/TcpTransport.js"

const flag = <A>(options: Options.Options<A>, env: Config.Config<A>, description: string) =>
  options.pipe(Options.withFallbackConfig(env), Options.withDescription(description))

const name = flag(
  Options.text("name"),
  Config.string("NOEX_NODE_NAME"),
  "This node's name (env NOEX_NODE_NAME). Required."
)
const host = flag(
  Options.text("host"),
  Config.string("NOEX_HOST").pipe(Config.withDefault("127.0.0.1")),
  "Bind address (env NOEX_HOST, default 127.0.0.1)."
)
const advertiseHost = flag(
  Options.text("advertise-host").pipe(Options.optional),
  Config.option(Config.string("NOEX_ADVERTISE_HOST")),
  "Address other nodes dial (env NOEX_ADVERTISE_HOST, default the bind address; required with 0.0.0.0)."
)
const port = flag(
  Options.integer("port"),
  Config.integer("NOEX_PORT").pipe(Config.withDefault(4369)),
  "TCP port, 0 for a free one (env NOEX_PORT, default 4369)."
)
const seeds = flag(
  Options.text("seeds"),
  Config.string("NOEX_SEEDS").pipe(Config.withDefault("")),
  "Comma-separated NodeIds to join, e.g. b@127.0.0.1:4370 (env NOEX_SEEDS, default none)."
)
const cookie = flag(
  Options.redacted("cookie").pipe(Options.optional),
  Config.option(Config.redacted("NOEX_COOKIE")),
  "Shared secret every node must prove (env NOEX_COOKIE). Required when binding a non-loopback address."
)
const heartbeatInterval = flag(
  Options.integer("heartbeat-interval").pipe(Options.optional),
  Config.option(Config.integer("NOEX_HEARTBEAT_INTERVAL_MS")),
  "Milliseconds between heartbeats (env NOEX_HEARTBEAT_INTERVAL_MS, default 1000)."
)
const heartbeatMissThreshold = flag(
  Options.integer("heartbeat-miss-threshold").pipe(Options.optional),
  Config.option(Config.integer("NOEX_HEARTBEAT_MISS_THRESHOLD")),
  "Silent intervals before a peer is declared down (env NOEX_HEARTBEAT_MISS_THRESHOLD, default 5)."
)
const behaviors = flag(
  Options.file("behaviors").pipe(Options.optional),
  Config.option(Config.string("NOEX_BEHAVIORS")),
  "Module whose exports are behaviors, registered under their export names (env NOEX_BEHAVIORS)."
)

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
  { name, host, advertiseHost, port, seeds, cookie, heartbeatInterval, heartbeatMissThreshold, behaviors },
  (args) =>
    Effect.gen(function*() {
      const registered = Option.isSome(args.behaviors) ? yield* loadBehaviors(args.behaviors.value) : {}
      const layer = Cluster.layer({
        nodeName: args.name,
        host: args.host,
        advertiseHost: Option.getOrUndefined(args.advertiseHost),
        port: args.port,
        seeds: args.seeds.split(",").map((s) => s.trim()).filter((s) => s.length > 0),
        cookie: Option.getOrUndefined(args.cookie),
        heartbeatInterval: Option.getOrUndefined(args.heartbeatInterval),
        heartbeatMissThreshold: Option.getOrUndefined(args.heartbeatMissThreshold)
      }).pipe(Layer.provide(BehaviorRegistry.layer(registered)), Layer.provide(TcpTransport.layer))
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
