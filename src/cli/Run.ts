/**
 * The commands of the `noex-effect` binary. SIGINT and SIGTERM interrupt the running
 * command, so a node's scope closes and its peers see `graceful_shutdown`; the process
 * then exits 0 (an admin command cut short exits 130 or 143). A command line or configuration that cannot run prints one line and exits
 * 2; any other failure exits 1. No colour: the output is plain text wherever it goes.
 */
import { Cause, ConfigError, Effect, Exit, Fiber, Option } from "effect"
import { adminCommand, adminCommandNames, adminSummaries } from "./AdminCommand.js"
import { UsageError } from "./Flags.js"
import { nodeCommand } from "./NodeCommand.js"

const usage = () =>
  [
    "Usage: noex-effect <command> [options]",
    "",
    "Commands:",
    "  node       Start a cluster node",
    ...adminSummaries().map(([name, summary]) => `  ${name.padEnd(10)} ${summary}`),
    "",
    "Each command's --help lists its options (noex-effect node --help).",
    "",
    "Options:",
    "  --help     Print this text",
    "  --version  Print the version",
    ""
  ].join("\n")

const command = (argv: ReadonlyArray<string>): Effect.Effect<void, unknown> => {
  const [name, ...rest] = argv
  if (name === "node") return nodeCommand(rest)
  if (name !== undefined && adminCommandNames.includes(name)) return adminCommand(name, rest)
  if (name === undefined || name === "--help" || name === "-h") {
    return Effect.asVoid(Effect.sync(() => process.stdout.write(usage())))
  }
  return Effect.fail(new UsageError(`unknown command "${name}"; see noex-effect --help`))
}

/** What a signal that cuts a command short exits with: 128 + its number, as a shell reports it. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 }

/**
 * Exit codes: 0 done, or a node stopped by a signal (stopping is what a node is asked to
 * do); 130/143 an admin command cut short by SIGINT/SIGTERM (its work may be half done);
 * 2 a usage or configuration error; 1 anything else.
 */
const exitCode = (exit: Exit.Exit<void, unknown>, signal: string | undefined, node: boolean): number => {
  if (Exit.isSuccess(exit)) return 0
  if (Cause.isInterruptedOnly(exit.cause)) return node || signal === undefined ? 0 : SIGNAL_EXIT[signal] ?? 1
  const failure = Cause.failureOption(exit.cause)
  const error = Option.getOrUndefined(failure)
  const configuration = error instanceof UsageError || ConfigError.isConfigError(error) ||
    (typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "ClusterConfigError")
  const line = error instanceof Error
    ? error.message
    : error !== undefined
    ? String(error)
    : Cause.pretty(exit.cause).split("\n")[0]
  process.stderr.write(`noex-effect: ${line.replace(/\s+/g, " ")}\n`)
  return configuration ? 2 : 1
}

/**
 * Runs the command line `argv` (without `node` and the script) until it ends or a signal
 * stops it, then exits the process with its code.
 */
export const run = (argv: ReadonlyArray<string>): void => {
  const fiber = Effect.runFork(command(argv))
  let signal: string | undefined
  const stop = (received: string) => {
    signal = received
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  fiber.addObserver((exit) => process.exit(exitCode(exit, signal, argv[0] === "node")))
}
