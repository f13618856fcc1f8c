/**
 * The inspector: answers other nodes' `Inspect` requests from this node's own state
 * (its facts and members, its process table, its registry replica), a bounded page at
 * a time, and asks other nodes the same. The CLI's admin commands and any observer
 * read a running cluster through it; asking costs the asked node one page of work.
 */
import { Duration, Effect, Either, Exit } from "effect"
import type { BehaviorRegistry } from "../../BehaviorRegistry.js"
import { InspectTimeoutError, NodeNotReachableError } from "../../errors.js"
import type { ProcessTable } from "../../internal/process.js"
import type { NodeId } from "../../NodeId.js"
import type { ServerRef } from "../../ServerRef.js"
import { MAX_INSPECT_PAGE } from "../../wire/InspectProtocol.js"
import type { InspectMessage } from "../../wire/InspectProtocol.js"
import type { MessageOf } from "../../wire/Protocol.js"
import type { Link } from "../Link.js"
import type { NodeInfo } from "../NodeEvent.js"
import type { Handlers, Links } from "./dispatch.js"
import { PendingRequests } from "./pending.js"

export { MAX_INSPECT_PAGE } from "../../wire/InspectProtocol.js"

/** An answer to an inspection. */
export type Inspected = Omit<MessageOf<"Inspected">, "_tag" | "inspectId">

/** What an inspection asks for. */
export type InspectRequest = Omit<MessageOf<"Inspect">, "_tag" | "inspectId">

/** An inspection's failures. */
export type InspectError = NodeNotReachableError | InspectTimeoutError

/** How long an inspection waits for its answer when not told: a loaded node answers well within it. */
export const DEFAULT_INSPECT_TIMEOUT = Duration.seconds(5)

/** What the inspector is built from. */
export interface InspectorDeps {
  readonly self: NodeId
  readonly incarnation: string
  readonly links: Links
  readonly connectedNodes: () => ReadonlyArray<NodeInfo>
  readonly table: ProcessTable
  readonly behaviors: BehaviorRegistry["Type"]
  readonly globalNames: () => ReadonlyArray<readonly [string, ServerRef]>
  readonly uptimeMs: () => number
  readonly fork: (effect: Effect.Effect<unknown>) => void
}

/** The inspector of one node. */
export class Inspector {
  private readonly pending: PendingRequests<Inspected, InspectError>

  constructor(private readonly deps: InspectorDeps) {
    this.pending = new PendingRequests(deps.table.timers)
  }

  /** Asks `nodeId` (this node answers itself at once) for a section. */
  inspect(
    nodeId: NodeId,
    request: InspectRequest,
    timeout: Duration.DurationInput = DEFAULT_INSPECT_TIMEOUT
  ): Effect.Effect<Inspected, InspectError> {
    const asked = { ...request, limit: Math.min(request.limit, MAX_INSPECT_PAGE) }
    if (nodeId === this.deps.self) return this.answer(asked)
    const timeoutMs = Duration.toMillis(Duration.decode(timeout))
    return Effect.async<Inspected, InspectError>((resume) => {
      const link = this.deps.links.linkTo(nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId })))
      const inspectId = this.pending.nextId()
      link.send({ _tag: "Inspect", inspectId, ...asked })
      return this.pending.open(
        inspectId,
        nodeId,
        asked.section,
        resume,
        timeoutMs,
        () => new InspectTimeoutError({ nodeId, timeoutMs })
      )
    })
  }

  /** A node went down: inspections waiting on it fail. */
  nodeDown(nodeId: NodeId): void {
    this.pending.failNode(nodeId, new NodeNotReachableError({ nodeId }))
  }

  /** Handlers of the inspection sub-protocol. */
  readonly handlers: Handlers<InspectMessage["_tag"]> = {
    Inspect: (_from, link, message) => this.deps.fork(this.serve(link, message)),
    Inspected: (from, _link, { _tag, inspectId, ...answer }) => {
      const entry = this.pending.take(inspectId, from)
      if (entry === undefined) return
      // Only a peer that does not follow the protocol leaves out the report it was asked for.
      if (entry.subject === "node" && answer.node === undefined) {
        this.deps.fork(
          Effect.logWarning("a node answered an inspection without its report").pipe(
            Effect.annotateLogs({ node: this.deps.self, peer: from })
          )
        )
        return entry.resume(Exit.fail(new NodeNotReachableError({ nodeId: from })))
      }
      entry.resume(Exit.succeed(answer))
    }
  }

  /** Answers on `link`, halving the page until it fits the asker's frame limit. */
  private serve(link: Link, { _tag, inspectId, ...request }: MessageOf<"Inspect">): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      let limit = Math.min(request.limit, MAX_INSPECT_PAGE)
      for (;;) {
        const answer = yield* this.answer({ ...request, limit })
        const sent = link.send({ _tag: "Inspected", inspectId, ...answer })
        if (Either.isRight(sent) || sent.left._tag !== "MessageTooLargeError" || limit === 0) return
        limit = Math.floor(limit / 2)
      }
    })
  }

  /** This node's answer to `request`, from its state now. */
  private answer(request: InspectRequest): Effect.Effect<Inspected> {
    return Effect.map(this.deps.behaviors.getNames, (behaviorNames) => {
      const { offset, limit } = request
      const empty = { total: 0, processes: [], names: [] }
      switch (request.section) {
        case "node": {
          const members = this.deps.connectedNodes().map((n) => ({
            nodeId: n.id,
            processCount: n.processCount,
            uptimeMs: Math.max(0, Math.round(n.uptimeMs))
          }))
          return {
            ...empty,
            node: {
              nodeId: this.deps.self,
              incarnation: this.deps.incarnation,
              uptimeMs: Math.max(0, Math.round(this.deps.uptimeMs())),
              processCount: this.deps.table.count,
              behaviors: [...behaviorNames],
              members
            }
          }
        }
        case "processes": {
          const page = this.deps.table.page(offset, limit)
          const names = this.behaviorNamesByIdentity(behaviorNames)
          const held = this.globalNamesHere()
          const processes = page.procs.map((proc) => {
            const behavior = names.get(proc.behavior)
            const globalNames = held.get(proc.id)
            return {
              serverId: proc.id,
              ...(proc.name === undefined ? {} : { name: proc.name }),
              ...(globalNames === undefined ? {} : { globalNames }),
              ...(behavior === undefined ? {} : { behavior }),
              mailbox: proc.queue === undefined ? 0 : proc.queue.length - proc.head,
              busy: proc.busy
            }
          })
          return { ...empty, total: page.total, processes }
        }
        case "names": {
          const all = this.deps.globalNames()
          const names = all.slice(offset, offset + limit).map(([name, ref]) => ({
            name,
            serverId: ref.id,
            nodeId: ref.nodeId
          }))
          return { ...empty, total: all.length, names }
        }
      }
    })
  }

  /** The global names held by this node's processes, by server id. */
  private globalNamesHere(): Map<string, Array<string>> {
    const held = new Map<string, Array<string>>()
    for (const [name, ref] of this.deps.globalNames()) {
      if (ref.nodeId !== this.deps.self) continue
      const list = held.get(ref.id)
      if (list === undefined) held.set(ref.id, [name])
      else list.push(name)
    }
    return held
  }

  /** A process started from a registered behavior runs that very object: its name is found by identity. */
  private behaviorNamesByIdentity(behaviorNames: ReadonlyArray<string>): Map<unknown, string> {
    const names = new Map<unknown, string>()
    for (const name of behaviorNames) {
      const behavior = this.deps.behaviors.get(name)
      if (behavior._tag === "Some") names.set(behavior.value, name)
    }
    return names
  }
}
