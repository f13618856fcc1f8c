/**
 * Where a node's own logs go. Effect's default logger writes to stdout, mixed with
 * the program's output: a node swaps it, for its own fibers only, for the same logfmt
 * lines on stderr. A logger the program installed is left as it is, and so is the
 * program's minimum level unless the configuration names one.
 */
import { Effect, FiberRef, HashSet, Logger, LogLevel } from "effect"

/** Effect's default logfmt lines, written to stderr. */
const stderrLogger = Logger.withConsoleError(Logger.logfmtLogger)

/** Runs `self` (a node's construction: every fiber it forks inherits this) with the node's logging. */
export const withNodeLogging = (level: LogLevel.Literal | undefined) => <A, E, R>(self: Effect.Effect<A, E, R>) => {
  const logged = Effect.locallyWith(
    self,
    FiberRef.currentLoggers,
    (loggers) =>
      HashSet.has(loggers, Logger.defaultLogger)
        ? HashSet.add(HashSet.remove(loggers, Logger.defaultLogger), stderrLogger)
        : loggers
  )
  const chosen = level === undefined ? undefined : LogLevel.allLevels.find((l) => l._tag === level)
  // An unknown level is refused by the configuration's validation, inside `self`.
  return chosen === undefined ? logged : Effect.locally(logged, FiberRef.currentMinimumLogLevel, chosen)
}
