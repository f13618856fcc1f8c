/**
 * The `noex-effect node` command: starts one cluster node from the command line,
 * registers the behaviors a module exports, logs node events, and shuts down
 * gracefully when interrupted (SIGINT/SIGTERM, see `main.ts`). The configuration is
 * read with the same `Config` as `Cluster.layerFromEnv`, from the flags first and the
 * environment second.
 */
import { ConfigProvider, Effect, Either, Layer, Stream } from "effect"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as BehaviorRegistry from "../BehaviorRegistry.js"
import type { RegisteredBehavior } from "../BehaviorRegistry.js"
import * as Cluster from "../cluster/Cluster.js"
import * as ClusterConfig from "../cluster/ClusterConfig.js"
import { withNodeLogging } from "../internal/logging.js"
import * as TcpTransport from "../node/TcpTransport.js"
import * as TlsTransport from "../node/TlsTransport.js"
import { BEHAVIORS_VARIABLE, nodeHelp, parseNodeFlags, UsageError } from "./Flags.js"

const isBehavior = (u: unknown): u is RegisteredBehavior =>
  typeof u === "object" &&
  u !== null &&
  typeof (u as { init?: unknown }).init === "function" &&
  typeof (u as { handleCall?: unknown }).handleCall === "function" &&
  typeof (u as { handleCast?: unknown }).handleCast === "function"

/** Modules the CLI loads through tsx, when it is installed (an optional peer). */
const TYPESCRIPT = /\.(c|m)?tsx?$/

/** Registers tsx's loader once, for a TypeScript behaviors module. */
const registerTypeScript = Effect.tryPromise({
  try: async () => {
    const api = (await import("tsx/esm/api" as string)) as { register: () => unknown }
    api.register()
  },
  catch: () =>
    new UsageError(
      "a TypeScript behaviors module needs tsx: npm install tsx (or point --behaviors at compiled JavaScript)"
    )
}).pipe(Effect.cached, Effect.runSync)

/**
 * Loads a behaviors module. Its `behaviors` export, an object of name → behavior, names
 * them as the module chooses (`export const behaviors = { worker }`); without one, every
 * export that is a behavior is registered by its export name (a default object's entries too).
 */
export const loadBehaviors = (file: string): Effect.Effect<Record<string, RegisteredBehavior>, UsageError> =>
  Effect.gen(function*() {
    if (TYPESCRIPT.test(file)) yield* registerTypeScript
    const module = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(path.resolve(file)).href) as Promise<Record<string, unknown>>,
      catch: (e) => new UsageError(`cannot load behaviors from ${file}: ${e instanceof Error ? e.message : String(e)}`)
    })
    const found: Record<string, RegisteredBehavior> = {}
    const chosen = module.behaviors
    if (typeof chosen === "object" && chosen !== null) {
      for (const [key, value] of Object.entries(chosen)) {
        if (!isBehavior(value)) {
          return yield* Effect.fail(
            new UsageError(`behaviors.${key} in ${file} is not a behavior (it needs init, handleCall and handleCast)`)
          )
        }
        found[key] = value
      }
      return found
    }
    const scan = (entries: Record<string, unknown>) => {
      for (const [key, value] of Object.entries(entries)) if (isBehavior(value)) found[key] = value
    }
    if (typeof module.default === "object" && module.default !== null) scan(module.default as Record<string, unknown>)
    scan(module)
    return found
  })

/** TLS when a certificate is given by flag or environment, TCP otherwise. */
export const transportOf = (provider: ConfigProvider.ConfigProvider) =>
  Effect.map(
    Effect.withConfigProvider(TlsTransport.enabledInEnv, provider),
    (tls) => tls ? TlsTransport.layerFromEnv.pipe(Layer.provide(Layer.setConfigProvider(provider))) : TcpTransport.layer
  )

/** Turns a configuration error into one line naming the variable (or flag) and the fix. */
export const configLine = (error: unknown, command = "node") =>
  new UsageError(`${String(error).replace(/\s+/g, " ")}; see noex-effect ${command} --help`)

/** `noex-effect node [flags]`: runs a node until interrupted; `--help` prints the flags. */
export const nodeCommand = (args: ReadonlyArray<string>): Effect.Effect<void, unknown> =>
  Effect.gen(function*() {
    const parsed = parseNodeFlags(args)
    if (Either.isLeft(parsed)) return yield* Effect.fail(parsed.left)
    if (parsed.right.help) return yield* Effect.asVoid(Effect.sync(() => process.stdout.write(nodeHelp())))
    // Flags over the environment, each keyed by its variable: one parser for both.
    const provider = ConfigProvider.fromMap(new Map(parsed.right.values)).pipe(
      ConfigProvider.orElse(() => ConfigProvider.fromEnv())
    )
    const settings = yield* Effect.withConfigProvider(Cluster.settingsFromEnv, provider).pipe(
      Effect.mapError((e) => configLine(e))
    )
    if (settings.nodeName === undefined) {
      return yield* Effect.fail(new UsageError(`a node name is required: --name or ${ClusterConfig.envNames.nodeName}`))
    }
    const file = parsed.right.values.get(BEHAVIORS_VARIABLE) ?? process.env[BEHAVIORS_VARIABLE]
    const registered = file === undefined || file === "" ? {} : yield* loadBehaviors(file)
    const transport = yield* transportOf(provider).pipe(Effect.mapError((e) => configLine(e)))
    const layer = Cluster.layer({ ...settings, nodeName: settings.nodeName }).pipe(
      Layer.provide(BehaviorRegistry.layer(registered)),
      Layer.provide(transport)
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
      Effect.onInterrupt(() => Effect.logInfo("shutting down gracefully")),
      // The command's own lines are the node's logs: the same level, the same stderr.
      withNodeLogging(settings.logLevel)
    )
  })
