/**
 * The inspector: answers other nodes' `Inspect` requests from this node's own state
 * (its facts and members, its process table, its registry replica), a bounded page at
 * a time, and asks other nodes the same. The CLI's admin commands and any observer
 * read a running cluster through it. An answer costs the asked node its page, never the
 * size of its tables: a peer asking again and again costs what as many calls would.
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
import { REPORTED } from "../Link.js"
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

/** The largest offset asked for: ids on the wire are 31-bit, and no table holds more entries. */
const MAX_OFFSET = 0x7fff_ffff

/** The global names a node's replica holds, as the inspector reads them. */
export interface NamesView {
  /** `limit` names from the `offset`-th, by name. */
  readonly page: (offset: number, limit: number) => ReadonlyArray<readonly [string, ServerRef]>
  readonly size: number
  /** The names a process of this node holds. */
  readonly namesOf: (serverId: string) => ReadonlyArray<string>
  readonly whereis: (name: string) => ServerRef | undefined
}

/** What the inspector is built from. */
export interface InspectorDeps {
  readonly self: NodeId
  readonly incarnation: string
  readonly links: Links
  readonly connectedNodes: () => ReadonlyArray<NodeInfo>
  readonly table: ProcessTable
  readonly behaviors: BehaviorRegistry["Type"]
  readonly names: NamesView
  readonly uptimeMs: () => number
  readonly fork: (effect: Effect.Effect<unknown>) => void
}

/** A count as the wire carries it: a non-negative integer, at most `max`. */
const count = (n: number, max: number) => (Number.isNaN(n) ? 0 : Math.min(max, Math.max(0, Math.floor(n))))

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
    const asked = {
      ...request,
      offset: count(request.offset, MAX_OFFSET),
      limit: count(request.limit, MAX_INSPECT_PAGE)
    }
    if (nodeId === this.deps.self) return this.answer(asked)
    const timeoutMs = Duration.toMillis(Duration.decode(timeout))
    return Effect.async<Inspected, InspectError>((resume) => {
      const link = this.deps.links.linkTo(nodeId)
      if (link === undefined) return resume(Exit.fail(new NodeNotReachableError({ nodeId })))
      const inspectId = this.pending.nextId()
      // A closed link fails the request at once; the node-down that follows would too.
      if (Either.isLeft(link.send({ _tag: "Inspect", inspectId, ...asked }))) {
        return resume(Exit.fail(new NodeNotReachableError({ nodeId })))
      }
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

  /** Answers on `link`: the answer is built once, then cut in half until it fits the asker's frames. */
  private serve(link: Link, { _tag, inspectId, ...request }: MessageOf<"Inspect">): Effect.Effect<void> {
    return Effect.map(
      this.answer({ ...request, limit: Math.min(request.limit, MAX_INSPECT_PAGE) }),
      (full) => {
        for (let answer: Inspected | undefined = full; answer !== undefined; answer = smaller(answer)) {
          const sent = link.send({ _tag: "Inspected", inspectId, ...answer }, REPORTED)
          if (Either.isRight(sent) || sent.left._tag !== "MessageTooLargeError") return
        }
      }
    )
  }

  /** This node's answer to `request`, from its state now. */
  private answer(request: InspectRequest): Effect.Effect<Inspected> {
    return Effect.map(this.deps.behaviors.getNames, (behaviorNames) => {
      const { limit, offset } = request
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
          const processes = page.procs.map((proc) => {
            const behavior = names.get(proc.behavior)
            const globalNames = this.deps.names.namesOf(proc.id)
            return {
              serverId: proc.id,
              ...(proc.name === undefined ? {} : { name: proc.name }),
              ...(globalNames.length === 0 ? {} : { globalNames: [...globalNames] }),
              ...(behavior === undefined ? {} : { behavior }),
              mailbox: proc.queue === undefined ? 0 : proc.queue.length - proc.head,
              busy: proc.busy
            }
          })
          return { ...empty, total: page.total, processes }
        }
        case "names":
          return { ...empty, total: this.deps.names.size, names: this.deps.names.page(offset, limit).map(nameReport) }
        case "name": {
          const ref = request.name === undefined ? undefined : this.deps.names.whereis(request.name)
          return ref === undefined ? empty : { ...empty, total: 1, names: [nameReport([request.name!, ref])] }
        }
      }
    })
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

const nameReport = ([name, ref]: readonly [string, ServerRef]) => ({ name, serverId: ref.id, nodeId: ref.nodeId })

const half = <A>(list: ReadonlyArray<A>): Array<A> => list.slice(0, Math.floor(list.length / 2))

/**
 * The next smaller answer, or `undefined` when nothing is left to cut: a page keeps its
 * first half (the asker pages on from what it got), a node report its lists' halves, and
 * a single process too large alone loses its global names (then the page is left empty, and
 * `truncated` says why).
 */
const smaller = (answer: Inspected): Inspected | undefined => {
  const { names, node, processes } = answer
  if (processes.length > 1 || names.length > 1) {
    return { ...answer, processes: half(processes), names: half(names) }
  }
  if (processes.length === 1 && processes[0]!.globalNames !== undefined) {
    const { globalNames: _, ...alone } = processes[0]!
    return { ...answer, processes: [alone], truncated: true }
  }
  if (processes.length === 1 || names.length === 1) return { ...answer, processes: [], names: [], truncated: true }
  if (node !== undefined && (node.members.length > 0 || node.behaviors.length > 0)) {
    return {
      ...answer,
      node: { ...node, members: half(node.members), behaviors: half(node.behaviors) },
      truncated: true
    }
  }
  return undefined
}
