/**
 * Which process an Effect handler runs for (`GenServer.self`). A FiberRef key, not state:
 * each handler's fiber holds its own value, so one OS process may run many nodes.
 */
import { FiberRef } from "effect"
import type { ServerRef } from "../ServerRef.js"

/** The process whose handler this fiber runs, if any. */
export const currentProcess: FiberRef.FiberRef<ServerRef | undefined> = FiberRef.unsafeMake<ServerRef | undefined>(
  undefined
)
