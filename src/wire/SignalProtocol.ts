/**
 * The signal sub-protocol, owned by `cluster/internal/signals.ts`: monitors of processes
 * on other nodes, links with them and their exit signals, and info messages to them
 * (`GenServer.send`). A monitor is not
 * acknowledged, as in Erlang: the target answers `Down` once, when the process ends or at
 * once when it is not alive; a node going down ends every monitor across it on both sides.
 */
import { DownReason } from "../Monitor.js"
import { Bytes, NonNegativeInt, ServerId, tagged } from "./internal/fields.js"

/** Watch a process of the receiver; `monitorId` is the sender's and names the `Down`. */
export const Monitor = tagged("Monitor", { monitorId: NonNegativeInt, serverId: ServerId })

/** The sender dropped its monitor: no `Down` for it. */
export const Demonitor = tagged("Demonitor", { monitorId: NonNegativeInt })

/** A process the receiver monitored is gone (or was not alive). */
export const Down = tagged("Down", { monitorId: NonNegativeInt, reason: DownReason })

/** An info message to a process of the receiver, for its `handleInfo`. */
export const Info = tagged("Info", { serverId: ServerId, payload: Bytes })

/** Link the sender's process `from` with the receiver's `to` (a process id or a local name). */
export const Link = tagged("Link", { from: ServerId, to: ServerId })

/** The sender's process `from` is no longer linked with the receiver's `to`. */
export const Unlink = tagged("Unlink", { from: ServerId, to: ServerId })

/** The sender's process `from` exited: the exit signal to its partner `to`, along their link. */
export const Exit = tagged("Exit", { from: ServerId, to: ServerId, reason: DownReason })

/** The messages of this sub-protocol. */
export const messages = [Monitor, Demonitor, Down, Info, Link, Unlink, Exit] as const
