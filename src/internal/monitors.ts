/**
 * The monitors of one node: who is told when a process ends. A monitor of a process of
 * this node is an entry keyed by that process, answered from the table's exit listener;
 * one of a process elsewhere is handed to the cluster's signals (`remote`), and without a
 * cluster it is answered `noconnection` at once. A monitor may have an owner process:
 * it goes when its owner exits, as Erlang's do. Nothing here is stored on a process, so
 * an idle one costs nothing more for being monitorable.
 */
import type { ExitReason } from "../ExitReason.js"
import type { Down, DownReason } from "../Monitor.js"
import { down, fromExitReason } from "../Monitor.js"
import type { ServerRef } from "../ServerRef.js"
import type { ProcessTable } from "./process.js"

/** Receives a monitor's `Down`, once. */
export type Notify = (down: Down) => void

/** How monitors of processes on other nodes are kept (the cluster's signals). */
export interface RemoteWatch {
  /** Watches `ref` on its node under monitor `id`; `notify` gets the `Down`, once. */
  readonly watch: (id: number, ref: ServerRef, notify: Notify) => void
  /** Drops monitor `id`: no `Down` for it after this. */
  readonly unwatch: (id: number) => void
}

interface Watcher {
  readonly id: number
  readonly ref: ServerRef
  readonly notify: Notify
  /** The process whose `init` or handlers started it (it ends with that process), if any. */
  readonly owner: string | undefined
  /** The local process watched; `undefined` for one on another node. */
  readonly target: string | undefined
}

/** The monitors of one node. */
export class Monitors {
  private seq = 0
  private readonly byId = new Map<number, Watcher>()
  /** Local process id → its watchers. */
  private readonly byTarget = new Map<string, Map<number, Watcher>>()
  /** Owner process id → the monitors it owns. */
  private readonly byOwner = new Map<string, Set<number>>()
  /** Set by the cluster; `undefined` for a runtime that never clusters. */
  remote: RemoteWatch | undefined = undefined

  constructor(private readonly table: ProcessTable) {}

  /** What this node keeps for monitors: those waiting (local and remote targets), and `Down`s still in owners' mailboxes. */
  get size(): number {
    return this.byId.size + this.queued.size
  }

  /**
   * Starts monitor of `ref`; `notify` gets its `Down` once (at once, from this call, for a
   * process that is not alive here or a node that cannot be reached). Returns its id.
   */
  watch(ref: ServerRef, notify: Notify, owner?: string): number {
    const id = this.seq = this.seq >= Number.MAX_SAFE_INTEGER ? 1 : this.seq + 1
    const local = ref.nodeId === this.table.nodeId
    const proc = local ? this.table.resolve(ref.id) : undefined
    const watcher: Watcher = { id, ref, notify, owner, target: proc?.id }
    if (local && proc === undefined) {
      notify(down(id, ref, "noproc"))
      return id
    }
    this.byId.set(id, watcher)
    if (owner !== undefined) {
      let owned = this.byOwner.get(owner)
      if (owned === undefined) this.byOwner.set(owner, owned = new Set())
      owned.add(id)
    }
    if (proc !== undefined) {
      let watchers = this.byTarget.get(proc.id)
      if (watchers === undefined) this.byTarget.set(proc.id, watchers = new Map())
      watchers.set(id, watcher)
    } else if (this.remote === undefined) {
      this.fire(watcher, "noconnection")
    } else {
      this.remote.watch(id, ref, (d) => {
        if (this.forget(id) !== undefined) notify(d)
      })
    }
    return id
  }

  /**
   * Owned monitors whose `Down` waits in the owner's mailbox, with what completes the
   * monitor's `down` once the owner takes it: a demonitor until then withdraws both.
   */
  private readonly queued = new Map<number, () => void>()

  /** Notes that the `Down` of owned monitor `id` is in its owner's mailbox. */
  queue(id: number, taken: () => void): void {
    this.queued.set(id, taken)
  }

  /**
   * The owner takes the `Down` of monitor `id` from its mailbox (or ended with it there):
   * `false` when a demonitor withdrew it.
   */
  handled(id: number): boolean {
    const taken = this.queued.get(id)
    if (taken === undefined) return false
    this.queued.delete(id)
    taken()
    return true
  }

  /** Whether monitor `id` is still waiting for its `Down`. */
  isWatching(id: number): boolean {
    return this.byId.has(id)
  }

  /** Drops monitor `id`; `false` when it already fired or was dropped. */
  unwatch(id: number): boolean {
    // A Down already in its owner's mailbox is withdrawn (Erlang's `demonitor(Ref, [flush])`).
    if (this.queued.delete(id)) return true
    const watcher = this.forget(id)
    if (watcher === undefined) return false
    if (watcher.target === undefined) this.remote?.unwatch(id)
    return true
  }

  /** Takes `id` out of every index; the watcher, if it was still there. */
  private forget(id: number): Watcher | undefined {
    const watcher = this.byId.get(id)
    if (watcher === undefined) return undefined
    this.byId.delete(id)
    if (watcher.target !== undefined) {
      const watchers = this.byTarget.get(watcher.target)
      if (watchers !== undefined && watchers.delete(id) && watchers.size === 0) this.byTarget.delete(watcher.target)
    }
    if (watcher.owner !== undefined) {
      const owned = this.byOwner.get(watcher.owner)
      if (owned !== undefined && owned.delete(id) && owned.size === 0) this.byOwner.delete(watcher.owner)
    }
    return watcher
  }

  private fire(watcher: Watcher, reason: DownReason): void {
    if (this.forget(watcher.id) === undefined) return
    watcher.notify(down(watcher.id, watcher.ref, reason))
  }

  /**
   * A local process ended (the table calls this after its names were released and its
   * other exit listeners ran): its watchers are told, and the monitors it owned go.
   */
  exited(id: string, exitReason: ExitReason): void {
    const owned = this.byOwner.get(id)
    if (owned !== undefined) {
      for (const monitorId of Array.from(owned)) this.unwatch(monitorId)
    }
    const watchers = this.byTarget.get(id)
    if (watchers === undefined) return
    this.byTarget.delete(id)
    const reason = fromExitReason(exitReason)
    for (const watcher of Array.from(watchers.values())) this.fire(watcher, reason)
  }
}
