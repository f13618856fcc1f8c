/**
 * The admin commands of the `noex-effect` binary — `nodes`, `processes`, `names`, `call`,
 * `spawn` — against a running cluster. Each joins as a hidden node (`ClusterConfig.hidden`):
 * it dials only the node it asks, proves the cookie (or its certificate) like any node,
 * and its peers neither count it as a member nor place spawns on it; it leaves with a
 * Goodbye when the command is done. A hidden node rather than a control endpoint: no
 * second port to open, secure and document on every node, and the same authentication,
 * limits and typed errors as the cluster's own traffic.
 */
import { Config, ConfigProvider, Console, Duration, Effect, Either, Layer, Option } from "effect"
import * as BehaviorRegistry from "../BehaviorRegistry.js"
import * as Cluster from "../cluster/Cluster.js"
import * as ClusterConfig from "../cluster/ClusterConfig.js"
import { withNodeLogging } from "../internal/logging.js"
import { NodeId } from "../NodeId.js"
import * as RemoteCall from "../RemoteCall.js"
import * as RemoteSpawn from "../RemoteSpawn.js"
import type { ServerRef } from "../ServerRef.js"
import type { Flag } from "./Flags.js"
import { flags as nodeFlags, optionRows, parseFlags, UsageError } from "./Flags.js"
import { configLine, transportOf } from "./NodeCommand.js"

/** The node an admin command asks when the command line names none (else the first of `NOEX_SEEDS`). */
export const ADMIN_NODE_VARIABLE = "NOEX_ADMIN_NODE"

/** How long an admin command waits for its node and for each answer. */
export const ADMIN_TIMEOUT_VARIABLE = "NOEX_ADMIN_TIMEOUT"

/** Processes `processes` lists at most unless told: a screenful of pages, not 100k lines by accident. */
export const DEFAULT_LIST_LIMIT = 10_000

const env = ClusterConfig.envNames
const nodeFlag = (name: string) => nodeFlags.find((f) => f.name === name)!

/** Connection flags every admin command takes. */
const connectionFlags: ReadonlyArray<Flag> = [
  {
    name: "node",
    variable: ADMIN_NODE_VARIABLE,
    kind: "text",
    description: "The node to ask, e.g. a@127.0.0.1:4370, default the first of NOEX_SEEDS"
  },
  nodeFlag("cookie"),
  {
    name: "timeout",
    variable: ADMIN_TIMEOUT_VARIABLE,
    kind: "duration",
    description: "How long to wait for the node and for each answer, default \"5 seconds\""
  },
  {
    name: "advertise-host",
    variable: env.advertiseHost,
    kind: "text",
    description: "The host in this tool's NodeId (a TLS peer checks it against --tls-cert), default 127.0.0.1"
  },
  { ...nodeFlag("log-level"), description: "Least severe level of the tool's own logs (to stderr), default warn" },
  ...nodeFlags.filter((f) => f.name.startsWith("tls-"))
]

const jsonFlag: Flag = { name: "json", variable: "json", kind: "boolean", description: "Print JSON instead of a table" }

const limitFlag: Flag = {
  name: "limit",
  variable: "limit",
  kind: "integer",
  description: `Entries to list at most, default ${DEFAULT_LIST_LIMIT}`
}

const spawnFlags: ReadonlyArray<Flag> = [
  { name: "name", variable: "name", kind: "text", description: "A name for the process" },
  {
    name: "registration",
    variable: "registration",
    kind: "text",
    description: "local, global or none: where the name is registered, default global with --name"
  },
  { name: "args", variable: "args", kind: "text", description: "A JSON array of init arguments, default []" }
]

/** One admin command: its usage line, what it does, its own flags, and what it runs. */
interface AdminCommand {
  readonly usage: string
  readonly summary: string
  readonly flags: ReadonlyArray<Flag>
  readonly positionals: number
  readonly run: (args: ReadonlyArray<string>, values: ReadonlyMap<string, string>, json: boolean) => Admin
}

/** What a command does once parsed: the node(s) to link to first, then the work as the tool. */
interface Admin {
  readonly targets: ReadonlyArray<NodeId>
  readonly work: (
    timeout: Duration.Duration,
    elsewhere: Elsewhere
  ) => Effect.Effect<void, unknown, Cluster.ClusterServices>
}

/** Runs more work as another hidden node linked to other nodes (a global name held on a node not yet linked). */
type Elsewhere = (
  targets: ReadonlyArray<NodeId>,
  work: Effect.Effect<void, unknown, Cluster.ClusterServices>
) => Effect.Effect<void, unknown>

const print = (text: string) => Console.log(text)

/** Rows as aligned columns under a header. */
const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()
  return [line(header), ...rows.map(line)].join("\n")
}

/** JSON for any reply: bigints as strings, bytes as arrays, Maps and Sets as entries, nothing as null. */
const toJson = (value: unknown): string => {
  try {
    return JSON.stringify(value, (_key, v: unknown) =>
      typeof v === "bigint"
        ? v.toString()
        : v instanceof Uint8Array
        ? Array.from(v)
        : v instanceof Map
        ? Object.fromEntries(v)
        : v instanceof Set
        ? Array.from(v)
        : v) ?? "null"
  } catch (error) {
    // A reply that is a cycle, say: said so, rather than crashing the command.
    return JSON.stringify(`(not printable as JSON: ${error instanceof Error ? error.message : String(error)})`)
  }
}

const nodeIdOf = (text: string, what: string): NodeId => {
  const parsed = NodeId.parseEither(text)
  if (Either.isLeft(parsed)) throw new UsageError(`${what} "${text}" is not a NodeId (name@host:port)`)
  return parsed.right
}

const jsonOf = (text: string, what: string): unknown => {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new UsageError(`${what} is not JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/** The node asked when the command names none: `--node`, else the first seed. */
const askedNode = (values: ReadonlyMap<string, string>): NodeId => {
  const text = values.get(ADMIN_NODE_VARIABLE) ?? process.env[ADMIN_NODE_VARIABLE] ??
    process.env[env.seeds]?.split(",").map((s) => s.trim()).find((s) => s.length > 0)
  if (text === undefined) {
    throw new UsageError(`no node to ask: --node <nodeId> or ${ADMIN_NODE_VARIABLE}`)
  }
  return nodeIdOf(text, "--node")
}

/** Every page of a list, up to `limit` entries. */
const allPages = <A, R>(
  limit: number,
  read: (offset: number) => Effect.Effect<{ readonly total: number; readonly items: ReadonlyArray<A> }, unknown, R>
): Effect.Effect<{ readonly total: number; readonly items: ReadonlyArray<A>; readonly stuck: boolean }, unknown, R> =>
  Effect.gen(function*() {
    const items: Array<A> = []
    let total = 0
    for (;;) {
      const page = yield* read(items.length)
      total = page.total
      items.push(...page.items.slice(0, limit - items.length))
      if (items.length >= Math.min(limit, total)) return { total, items, stuck: false }
      // An empty page before the end: the node cannot fit the next entry in one of this tool's frames.
      if (page.items.length === 0) return { total, items, stuck: true }
    }
  })

/** The line after a list that is not all there. */
const more = (listed: number, total: number, stuck: boolean) =>
  listed >= total
    ? Effect.void
    : print(
      stuck
        ? `(${listed} of ${total}: the next entry does not fit this tool's frames; raise NOEX_MAX_FRAME_BYTES)`
        : `(${listed} of ${total}; --limit lists more)`
    )

/** `--limit`: a positive number of entries. */
const limitOf = (values: ReadonlyMap<string, string>): number => {
  const limit = Number(values.get("limit") ?? DEFAULT_LIST_LIMIT)
  if (limit < 1) throw new UsageError(`--limit takes a positive integer, got ${limit}`)
  return limit
}

/** `<nodeId>/<server id or local name>`, or `global:<name>` resolved on the asked node. */
const refOf = (
  text: string,
  values: ReadonlyMap<string, string>
): { readonly node: NodeId; readonly id: string; readonly global: boolean } => {
  if (text.startsWith("global:")) return { node: askedNode(values), id: text.slice("global:".length), global: true }
  const slash = text.lastIndexOf("/")
  if (slash <= 0 || slash === text.length - 1) {
    throw new UsageError(`a ref is <nodeId>/<serverId or name> or global:<name>, got "${text}"`)
  }
  return { node: nodeIdOf(text.slice(0, slash), "the ref's node"), id: text.slice(slash + 1), global: false }
}

const commands: Record<string, AdminCommand> = {
  nodes: {
    usage: "noex-effect nodes [--node <nodeId>] [options]",
    summary: "The members the node is connected to, with their process counts, and the node itself",
    flags: [jsonFlag],
    positionals: 0,
    run: (_args, values, json) => {
      const node = askedNode(values)
      return {
        targets: [node],
        work: (timeout) =>
          Effect.flatMap(Cluster.describeNode(node, { timeout }), (report) =>
            json
              ? print(toJson(report))
              : print(table(["NODE", "PROCESSES", "UPTIME"], [
                [report.nodeId, String(report.processCount), `${Math.round(report.uptimeMs / 1000)}s (asked)`],
                ...report.members.map((m) => [m.nodeId, String(m.processCount), `${Math.round(m.uptimeMs / 1000)}s`])
              ])))
      }
    }
  },
  processes: {
    usage: "noex-effect processes <nodeId> [options]",
    summary: "The processes a node runs: id, local name, behavior, mailbox, busy",
    flags: [jsonFlag, limitFlag],
    positionals: 1,
    run: ([target], values, json) => {
      const node = nodeIdOf(target!, "the node")
      const limit = limitOf(values)
      return {
        targets: [node],
        work: (timeout) =>
          Effect.gen(function*() {
            const { items, stuck, total } = yield* allPages(limit, (offset) =>
              Effect.map(
                Cluster.listProcesses(node, { offset, timeout }),
                (page) => ({ total: page.total, items: page.processes })
              ))
            if (json) return yield* print(toJson({ total, processes: items }))
            yield* print(table(
              ["SERVER ID", "NAME", "BEHAVIOR", "MAILBOX", "BUSY"],
              items.map((p) => [
                p.serverId,
                [p.name, ...(p.globalNames ?? []).map((n) => `global:${n}`)].filter((n) => n !== undefined).join(" "),
                p.behavior ?? "",
                String(p.mailbox),
                p.busy ? "yes" : ""
              ])
            ))
            yield* more(items.length, total, stuck)
          })
      }
    }
  },
  names: {
    usage: "noex-effect names [--node <nodeId>] [options]",
    summary: "The global names the node knows, with the process and node holding each",
    flags: [jsonFlag, limitFlag],
    positionals: 0,
    run: (_args, values, json) => {
      const node = askedNode(values)
      const limit = limitOf(values)
      return {
        targets: [node],
        work: (timeout) =>
          Effect.gen(function*() {
            const { items, stuck, total } = yield* allPages(limit, (offset) => namesPage(node, offset, timeout))
            if (json) return yield* print(toJson({ total, names: items }))
            yield* print(table(["NAME", "SERVER ID", "NODE"], items.map((n) => [n.name, n.serverId, n.nodeId])))
            yield* more(items.length, total, stuck)
          })
      }
    }
  },
  call: {
    usage: "noex-effect call <nodeId>/<serverId or name> | global:<name> <json> [options]",
    summary: "Calls a process with a JSON message and prints its reply as JSON",
    flags: [],
    positionals: 2,
    run: ([refText, message], values) => {
      const { global, id, node } = refOf(refText!, values)
      const msg = jsonOf(message!, "the message")
      return {
        targets: [node],
        work: (timeout, elsewhere) =>
          Effect.gen(function*() {
            const ref: ServerRef = global
              ? yield* globalRef(node, id, timeout)
              : { id, nodeId: node }
            const call = Effect.flatMap(RemoteCall.call(ref, msg, { timeout }), (reply) => print(toJson(reply)))
            // The name's holder is another node: ask it as a tool linked to that one.
            return yield* ref.nodeId === node ? call : elsewhere([ref.nodeId], call)
          })
      }
    }
  },
  spawn: {
    usage: "noex-effect spawn <behavior> <nodeId> [--name <name>] [--registration local|global|none] [--args <json>]",
    summary: "Starts a process from a behavior registered on the node and prints its ref",
    flags: spawnFlags,
    positionals: 2,
    run: ([behavior, target], values) => {
      const node = nodeIdOf(target!, "the node")
      const name = values.get("name")
      const registration = values.get("registration") ?? (name === undefined ? "none" : "global")
      if (registration !== "local" && registration !== "global" && registration !== "none") {
        throw new UsageError(`--registration takes local, global or none, got "${registration}"`)
      }
      const args = values.has("args") ? jsonOf(values.get("args")!, "--args") : []
      if (!Array.isArray(args)) throw new UsageError("--args takes a JSON array")
      return {
        targets: [node],
        work: (timeout) =>
          Effect.flatMap(
            RemoteSpawn.spawn(behavior!, node, { name, registration, args, timeout, initTimeout: timeout }),
            (result) => print(`${result.nodeId}/${result.serverId}`)
          )
      }
    }
  }
}

const namesPage = (node: NodeId, offset: number, timeout: Duration.Duration) =>
  Effect.map(Cluster.listNames(node, { offset, timeout }), (page) => ({ total: page.total, items: page.names }))

/** A global name's holder, as the asked node's replica knows it. */
const globalRef = (node: NodeId, name: string, timeout: Duration.Duration) =>
  Effect.flatMap(Cluster.lookupName(node, name, { timeout }), (found) =>
    Option.match(found, {
      onNone: () => Effect.fail(new Error(`${node} knows no global name "${name}"`)),
      onSome: (n) => Effect.succeed({ id: n.serverId, nodeId: n.nodeId } satisfies ServerRef)
    }))

/** The names of the admin commands, in the order the usage lists them. */
export const adminCommandNames: ReadonlyArray<string> = Object.keys(commands)

/** Usage lines of the admin commands, for the binary's `--help`. */
export const adminSummaries = (): Array<readonly [string, string]> =>
  Object.entries(commands).map(([name, command]) => [name, command.summary] as const)

const help = (command: AdminCommand): string =>
  [
    `Usage: ${command.usage}`,
    "",
    `${command.summary}.`,
    "Joins the cluster as a hidden node: it dials only the node it asks, which does not",
    "count it as a member, and leaves when done.",
    "",
    "Options:",
    ...optionRows(
      connectionFlags.concat(command.flags.filter((f) => f.kind !== "boolean")),
      command.flags.filter((f) => f.kind === "boolean")
    ),
    ""
  ].join("\n")

/** Runs admin command `name` with its arguments. */
export const adminCommand = (name: string, argv: ReadonlyArray<string>): Effect.Effect<void, unknown> =>
  Effect.gen(function*() {
    const command = commands[name]!
    const booleans = command.flags.filter((f) => f.kind === "boolean")
    const parsed = parseFlags(name, connectionFlags.concat(command.flags.filter((f) => f.kind !== "boolean")), argv, {
      positionals: true,
      booleans
    })
    if (Either.isLeft(parsed)) return yield* Effect.fail(parsed.left)
    const { help: wantsHelp, positionals, values } = parsed.right
    if (wantsHelp) return yield* print(help(command).trimEnd())
    if (positionals.length !== command.positionals) {
      return yield* Effect.fail(new UsageError(`usage: ${command.usage}`))
    }
    const admin = yield* Effect.try({
      try: () => command.run(positionals, values, values.get("json") === "true"),
      catch: (e) => e instanceof UsageError ? e : new UsageError(String(e))
    })
    const provider = ConfigProvider.fromMap(new Map(values)).pipe(
      ConfigProvider.orElse(() => ConfigProvider.fromEnv())
    )
    // A tool reads from the environment how to reach and prove itself, no more: a variable meant
    // for the node it runs beside cannot stop it.
    const settings = yield* Effect.withConfigProvider(
      Config.all({
        cookie: Config.option(Config.redacted(env.cookie)),
        advertiseHost: Config.option(Config.string(env.advertiseHost)),
        maxFrameBytes: Config.option(Config.integer(env.maxFrameBytes)),
        logLevel: ClusterConfig.logLevelFromEnv
      }),
      provider
    ).pipe(Effect.mapError((e) => configLine(e, name)))
    const timeoutText = values.get(ADMIN_TIMEOUT_VARIABLE) ?? process.env[ADMIN_TIMEOUT_VARIABLE]
    const timeout = timeoutText === undefined
      ? Duration.seconds(5)
      : yield* Option.match(Duration.decodeUnknown(timeoutText), {
        onNone: () => Effect.fail(new UsageError(`${ADMIN_TIMEOUT_VARIABLE} takes a duration, got "${timeoutText}"`)),
        onSome: Effect.succeed
      })
    const transport = yield* transportOf(provider).pipe(Effect.mapError((e) => configLine(e, name)))
    let sessions = 0
    const runAs = (
      targets: ReadonlyArray<NodeId>,
      work: Effect.Effect<void, unknown, Cluster.ClusterServices>
    ): Effect.Effect<void, unknown> => {
      const layer = Cluster.layer({
        ...Option.match(settings.cookie, { onNone: () => ({}), onSome: (cookie) => ({ cookie }) }),
        ...Option.match(settings.advertiseHost, { onNone: () => ({}), onSome: (advertiseHost) => ({ advertiseHost }) }),
        ...Option.match(settings.maxFrameBytes, { onNone: () => ({}), onSome: (maxFrameBytes) => ({ maxFrameBytes }) }),
        nodeName: `noex-admin-${process.pid}-${++sessions}`,
        host: "127.0.0.1",
        port: 0,
        seeds: targets,
        hidden: true,
        handshakeTimeout: timeout
      }).pipe(Layer.provide(BehaviorRegistry.layer({})), Layer.provide(transport))
      return Effect.gen(function*() {
        yield* Cluster.awaitNodes({ ids: targets, timeout }).pipe(
          Effect.mapError(() =>
            new Error(
              `cannot reach ${targets.join(", ")} within ${Duration.format(timeout)} ` +
                "(is it running? do --cookie and the TLS options match the cluster's?)"
            )
          )
        )
        yield* work
      }).pipe(Effect.provide(layer), withNodeLogging(Option.getOrElse(settings.logLevel, () => "Warning" as const)))
    }
    yield* runAs(admin.targets, admin.work(timeout, runAs))
  })
