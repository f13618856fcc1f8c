/**
 * The flags of `noex-effect node`, one table: each names the environment variable it
 * overrides (the variables of `Cluster.layerFromEnv`), so a flag and its variable are
 * parsed by the same `Config` and cannot drift apart. Parsed with `node:util`'s
 * `parseArgs`: the command line needs no dependency beyond the library's own.
 */
import { Config, ConfigProvider, Effect, Either } from "effect"
import { parseArgs } from "node:util"
import * as ClusterConfig from "../cluster/ClusterConfig.js"
import * as TlsTransport from "../node/TlsTransport.js"

/** What a flag's value must look like; checked before it reaches the configuration. */
export type Kind = "text" | "integer" | "duration" | "boolean" | "file" | "list"

/** One flag: its name, the variable it overrides, its kind and what it does. */
export interface Flag {
  readonly name: string
  readonly variable: string
  readonly kind: Kind
  readonly description: string
}

const env = ClusterConfig.envNames
const tls = TlsTransport.envNames

/** The variable of the behaviors module: not a cluster setting, read by the command line only. */
export const BEHAVIORS_VARIABLE = "NOEX_BEHAVIORS"

/** Every flag of `noex-effect node`, in the order `--help` lists them. */
export const flags: ReadonlyArray<Flag> = [
  { name: "name", variable: env.nodeName, kind: "text", description: "This node's name. Required" },
  { name: "host", variable: env.host, kind: "text", description: "Bind address, default 127.0.0.1" },
  {
    name: "advertise-host",
    variable: env.advertiseHost,
    kind: "text",
    description: "Address other nodes dial, default the bind address; required with 0.0.0.0"
  },
  { name: "port", variable: env.port, kind: "integer", description: "TCP port, 0 for a free one, default 4369" },
  {
    name: "seeds",
    variable: env.seeds,
    kind: "list",
    description: "Comma-separated NodeIds to join, e.g. b@127.0.0.1:4370, default none"
  },
  {
    name: "cookie",
    variable: env.cookie,
    kind: "text",
    description: "Shared secret every node must prove. Required when binding a non-loopback address"
  },
  {
    name: "heartbeat-interval",
    variable: env.heartbeatInterval,
    kind: "duration",
    description: "Time between heartbeats, default \"1 second\""
  },
  {
    name: "heartbeat-miss-threshold",
    variable: env.heartbeatMissThreshold,
    kind: "integer",
    description: "Silent intervals before a peer is declared down, default 5"
  },
  {
    name: "reconnect-backoff-min",
    variable: env.reconnectBackoffMin,
    kind: "duration",
    description: "First redial delay, doubled per failure, default \"100 millis\""
  },
  {
    name: "reconnect-backoff-max",
    variable: env.reconnectBackoffMax,
    kind: "duration",
    description: "Longest redial delay, default \"10 seconds\""
  },
  {
    name: "max-frame-bytes",
    variable: env.maxFrameBytes,
    kind: "integer",
    description: "Largest frame sent or accepted, default 16 MiB"
  },
  {
    name: "handshake-timeout",
    variable: env.handshakeTimeout,
    kind: "duration",
    description: "Time a connection has to complete the handshake, default \"5 seconds\""
  },
  {
    name: "forget-after",
    variable: env.forgetAfter,
    kind: "duration",
    description: "A node down this long is no longer redialed (seeds excepted), default \"60 seconds\""
  },
  {
    name: "mailbox-limit",
    variable: env.mailboxLimit,
    kind: "integer",
    description: "Messages one process may have waiting before calls fail and casts drop, default 100000"
  },
  {
    name: "max-processes-per-peer",
    variable: env.maxProcessesPerPeer,
    kind: "integer",
    description: "Processes another node may spawn here before its spawns fail, default 262144"
  },
  {
    name: "max-known-peers",
    variable: env.maxKnownPeers,
    kind: "integer",
    description: "Peers this node may know before gossip adds no more, default 1000"
  },
  {
    name: "allowed-hosts",
    variable: env.allowedHosts,
    kind: "list",
    description: "Comma-separated CIDRs, addresses, names or *.domain that gossip may make this node dial, default any"
  },
  {
    name: "resolve-gossiped-names",
    variable: env.resolveGossipedNames,
    kind: "boolean",
    description: "true: dial members gossip names by host name (resolving them), default false"
  },
  {
    name: "hidden",
    variable: env.hidden,
    kind: "boolean",
    description: "true: a hidden node (a tool): linked to its seeds only, not counted as a member, default false"
  },
  {
    name: "log-level",
    variable: env.logLevel,
    kind: "text",
    description: "Least severe level logged (to stderr): trace, debug, info, warn, error, fatal or off, default info"
  },
  {
    name: "tls-cert",
    variable: tls.cert,
    kind: "file",
    description: "PEM certificate naming this node: TLS instead of TCP"
  },
  { name: "tls-key", variable: tls.key, kind: "file", description: "PEM private key of --tls-cert" },
  { name: "tls-ca", variable: tls.ca, kind: "file", description: "PEM CA certificates peers must chain to" },
  {
    name: "tls-pins",
    variable: tls.pins,
    kind: "list",
    description: "Comma-separated SHA-256 fingerprints of the peer certificates trusted"
  },
  {
    name: "behaviors",
    variable: BEHAVIORS_VARIABLE,
    kind: "file",
    description: "ES module whose behaviors this node serves: its `behaviors` export (name → behavior), " +
      "or else every export that is a behavior, by export name"
  }
]

const placeholder: Record<Kind, string> = {
  text: "<text>",
  integer: "<integer>",
  duration: "<duration>",
  boolean: "<true|false>",
  file: "<path>",
  list: "<a,b,...>"
}

/** The options part of a `--help` text: each flag, what it takes, what it does, its variable. */
export const optionRows = (table: ReadonlyArray<Flag>, booleans: ReadonlyArray<Flag> = []): Array<string> => {
  const rows = [
    // A flag whose variable is not an environment variable is the command line's own.
    ...table.map((f) => [
      `--${f.name} ${placeholder[f.kind]}`,
      f.variable.startsWith("NOEX_") ? `${f.description} (env ${f.variable})` : f.description
    ]),
    ...booleans.map((f) => [`--${f.name}`, f.description]),
    ["--help", "Print this text"]
  ]
  const width = Math.max(...rows.map(([left]) => left!.length)) + 2
  return rows.map(([left, right]) => `  ${left!.padEnd(width)}${right}`)
}

/** The `--help` text of `noex-effect node`. */
export const nodeHelp = (): string =>
  [
    "Usage: noex-effect node [options]",
    "",
    "Starts one cluster node and serves until SIGINT or SIGTERM, then stops gracefully",
    "(peers see graceful_shutdown). Every option overrides its environment variable, the",
    "variables of Cluster.layerFromEnv; durations take Effect's syntax: \"500 millis\", \"2 seconds\".",
    "",
    "Options:",
    ...optionRows(flags),
    ""
  ].join("\n")

/** A command line that cannot run as given: one line saying what and how to fix it; exit code 2. */
export class UsageError extends Error {
  readonly _tag = "UsageError"
}

/** Whether `value` is what a flag of `kind` takes, by the same parser as its variable. */
const check = (flag: Flag, value: string): string | undefined => {
  const parse = (config: Config.Config<unknown>) =>
    Effect.runSync(Effect.either(Effect.withConfigProvider(config, ConfigProvider.fromMap(new Map([["v", value]])))))
  switch (flag.kind) {
    case "integer":
      return Either.isLeft(parse(Config.integer("v"))) ? `--${flag.name} takes an integer, got "${value}"` : undefined
    case "duration":
      return Either.isLeft(parse(Config.duration("v")))
        ? `--${flag.name} takes a duration such as "500 millis" or "2 seconds", got "${value}"`
        : undefined
    case "boolean":
      return value === "true" || value === "false" ? undefined : `--${flag.name} takes true or false, got "${value}"`
    default:
      return value.length === 0 ? `--${flag.name} needs a value` : undefined
  }
}

/** A parsed command line: the flags by the variable each overrides (as text), and the positional arguments. */
export interface ParsedFlags {
  readonly help: boolean
  readonly values: ReadonlyMap<string, string>
  readonly positionals: ReadonlyArray<string>
}

/**
 * The flags of `table` given on a command line, keyed by the variable each overrides
 * (values as text, the way the environment holds them), or why the line cannot run.
 * `booleans` are flags that take no value (their variable is set to "true").
 */
export const parseFlags = (
  command: string,
  table: ReadonlyArray<Flag>,
  args: ReadonlyArray<string>,
  options: { readonly positionals?: boolean; readonly booleans?: ReadonlyArray<Flag> } = {}
): Either.Either<ParsedFlags, UsageError> => {
  const booleans = options.booleans ?? []
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        help: { type: "boolean", short: "h" },
        ...Object.fromEntries(table.map((f) => [f.name, { type: "string" as const }])),
        ...Object.fromEntries(booleans.map((f) => [f.name, { type: "boolean" as const }]))
      },
      strict: true,
      allowPositionals: options.positionals === true
    })
  } catch (error) {
    // parseArgs' messages name the flag ("Unknown option '--nme'"); the fix is the help text.
    const message = error instanceof Error ? error.message.split("\n")[0]! : String(error)
    return Either.left(new UsageError(`${message}; see noex-effect ${command} --help`))
  }
  const values = new Map<string, string>()
  for (const flag of table) {
    const value = parsed.values[flag.name]
    if (typeof value !== "string") continue
    const wrong = check(flag, value)
    if (wrong !== undefined) return Either.left(new UsageError(wrong))
    values.set(flag.variable, value)
  }
  for (const flag of booleans) if (parsed.values[flag.name] === true) values.set(flag.variable, "true")
  return Either.right({ help: parsed.values.help === true, values, positionals: parsed.positionals })
}

/** The flags of `noex-effect node`, or why the line cannot run. */
export const parseNodeFlags = (args: ReadonlyArray<string>): Either.Either<ParsedFlags, UsageError> =>
  parseFlags("node", flags, args)
