/**
 * What the process table is made of: the behavior shape it runs, a live process with
 * its mailbox, the envelopes in a mailbox, and a start still in `init`.
 */
import type { Exit, Fiber, Runtime } from "effect"
import { GenServerInitError } from "../errors.js"
import type {
  MailboxFullError,
  NameAlreadyRegisteredError,
  RemoteCallTimeoutError,
  RemoteHandlerError,
  RemoteServerNotRunningError
} from "../errors.js"
import type { ExitReason } from "../ExitReason.js"
import type { NodeId } from "../NodeId.js"
import type { ServerRef } from "../ServerRef.js"
import { describe } from "./handler.js"
import type { TimerEntry } from "./timers.js"

/** The shape the table runs; `GenServer.ts` publishes the typed version. */
// Methods, not function properties: their parameters are bivariant, so a behavior whose
// handlers take `never` (a registered one, or one without casts) fits too.
export interface AnyBehavior {
  init(...args: ReadonlyArray<any>): unknown
  handleCall(msg: any, state: any): unknown
  handleCast(msg: any, state: any): unknown
  readonly handleInfo?: { bivarianceHack(msg: any, state: any, from?: NodeId): unknown }["bivarianceHack"] | undefined
  /** `"crash"`: a failing handler answers its caller, then the process exits with the error. */
  readonly onError?: "reply" | "crash" | undefined
  readonly terminate?: { bivarianceHack(reason: ExitReason, state: any): unknown }["bivarianceHack"] | undefined
}

/** How a call to a process of this node can fail (a remote caller adds the network's errors). */
export type LocalCallError =
  | RemoteServerNotRunningError
  | RemoteCallTimeoutError
  | RemoteHandlerError
  | MailboxFullError

/** Receives a call's outcome; `Exit` is an `Effect`, so an `Effect.async` resume accepts it as is. */
export type Resume = (exit: Exit.Exit<unknown, LocalCallError>) => void

/** A call waiting in a mailbox or in a handler; `resume` is cleared once answered. */
export class CallEnvelope {
  timer: TimerEntry | undefined = undefined
  constructor(readonly msg: unknown, public resume: Resume | undefined) {}
}

/** A cast waiting in a mailbox or in a handler. */
export class CastEnvelope {
  constructor(readonly msg: unknown) {}
}

/** An info message (`GenServer.send`, a monitor's `Down`) waiting in a mailbox or in `handleInfo`. */
export class InfoEnvelope {
  constructor(
    readonly msg: unknown,
    /** The monitor a `Down` answers: a demonitor before it is handled withdraws it. */
    readonly monitorId: number | undefined = undefined,
    /** The peer whose exit signal this is (counted against its share until handled). */
    readonly peer: string | undefined = undefined,
    /** The node a `send` came from, as its link authenticated it; `undefined` for this node's own. */
    readonly from: string | undefined = undefined
  ) {}
}

/** A message in a mailbox. */
export type Envelope = CallEnvelope | CastEnvelope | InfoEnvelope

/** One live process. */
export class Proc {
  queue: Array<Envelope> | undefined = undefined
  head = 0
  busy = false
  alive = true
  stopReason: ExitReason | undefined = undefined
  stopWaiters: Array<() => void> | undefined = undefined
  /**
   * The handler in flight: its fiber for an Effect, the message it handles for a
   * Promise (shutdown answers that message's caller), `undefined` when none.
   */
  inFlight: Fiber.RuntimeFiber<unknown, unknown> | Envelope | undefined = undefined
  constructor(
    readonly id: string,
    readonly name: string | undefined,
    readonly behavior: AnyBehavior,
    public state: unknown,
    readonly runtime: Runtime.Runtime<any>
  ) {}
}

/** Called once for every process that ends, after `terminate` ran and its names were released. */
export type ExitListener = (ref: ServerRef, name: string | undefined, reason: ExitReason) => void

/** How a new process is tied to others, set in the step that registers it. */
export interface Fate {
  /** Receive partners' exits as `Exit` info messages instead of exiting with them. */
  readonly trapExit?: boolean | undefined
  /** A process to link the new one with. */
  readonly link?: ServerRef | undefined
  /**
   * One of the runtime's own processes: it may take a name under the reserved prefix, is
   * not counted nor listed as the user's, and only the runtime can stop it.
   */
  readonly system?: boolean | undefined
}

/** Why a start failed. */
export type StartError = GenServerInitError | NameAlreadyRegisteredError

/** Receives the outcome of a start. */
export type StartDone = (exit: Exit.Exit<ServerRef, StartError>) => void

/** A start whose `init` is still running. */
export interface PendingStart {
  /** Gives the start up: the name is free at once and no process will appear. */
  readonly cancel: () => void
}

/** The bookkeeping of one start in `init`. */
export class Starting implements PendingStart {
  settled = false
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined = undefined
  timer: TimerEntry | undefined = undefined
  constructor(
    readonly behavior: AnyBehavior,
    readonly name: string | undefined,
    readonly runtime: Runtime.Runtime<any>,
    readonly done: StartDone,
    readonly cancel: () => void,
    readonly fate: Fate | undefined
  ) {}
}

/** The error of an `init` that threw, rejected or failed. */
export const initError = (error: unknown) => new GenServerInitError({ message: describe(error).message })
