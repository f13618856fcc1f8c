/** Captures the messages a program logs at one level, for tests that assert what a user would read. */
import { Logger } from "effect"
import type { LogLevel } from "effect"

/** `layer` replaces the default logger; `messages` fills with the first part of each message logged at `level`. */
export const captureLogs = (level: LogLevel.LogLevel["_tag"]) => {
  const messages: Array<string> = []
  const layer = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === level) messages.push(String(Array.isArray(message) ? message[0] : message))
    })
  )
  return { messages, layer }
}
