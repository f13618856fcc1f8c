/**
 * The process-group scopes of one node. Erlang starts a scope explicitly on every node;
 * here a scope starts on a node at its first use there: by this node's own code, or by a
 * peer asking this node to join or leave one of its processes in the scope (a node speaks
 * only for its own processes, so the owner must run the scope to do it). Such a request
 * goes to the default scope's process, which runs on every node, so it is heard wherever
 * its scope has not started yet.
 *
 * Nothing else a peer says needs a scope started for it: a scope process sends joins,
 * leaves and syncs only to the peers whose scope process has spoken to it, and its
 * discover to a node that does not run the scope is lost harmlessly, since that node
 * discovers every connected node itself when the scope starts there (whichever of two
 * nodes starts a scope second is heard by the first).
 */
import { Effect, Either } from "effect"
import type { PubSub } from "effect"
import type { CallError } from "../errors.js"
import { InvalidMessageError, RemoteServerNotRunningError } from "../errors.js"
import type * as GenServer from "../GenServer.js"
import type { NodeId } from "../NodeId.js"
import type { GroupEvent, ScopeDeps } from "./groups.js"
import { GroupScope, scopeBehavior } from "./groups.js"
import type { OwnerReply, OwnerRequest } from "./groupsMessages.js"
import {
  decodeOwnerReply,
  DEFAULT_SCOPE,
  MAX_SCOPE_NAME_CHARS,
  MAX_SCOPES,
  scopeProcessName
} from "./groupsMessages.js"
import { startSystem } from "./runtime.js"

/** The frame budget toward each peer of a node's groups, by their service: what else splits to a link's limit reads it. */
const budgets = new WeakMap<object, (peer: NodeId) => number>()

/** Remembers the frame budget of the groups service `service`. */
export const rememberBudget = (service: object, budget: (peer: NodeId) => number): void => {
  budgets.set(service, budget)
}

/** The frame budget toward `peer` (a quarter of the link's limit; 0 without a link) of the node behind a groups service. */
export const budgetOf = (service: object): ((peer: NodeId) => number) | undefined => budgets.get(service)

/** What the node's scopes are built with. */
export interface NodeGroupsDeps {
  readonly runtime: GenServer.Service
  readonly hooks: Pick<ScopeDeps, "connected" | "isMember" | "frameBudget">
  readonly events: PubSub.PubSub<GroupEvent>
  /** The id of the live local process `id` names (an id or a local name), if any. */
  readonly resolve: (id: string) => string | undefined
  /** How work started by a callback (a member's exit) is run. */
  readonly runLater: (effect: Effect.Effect<void>) => void
}

/** A join or leave. */
export type Op = "join" | "leave"

const done: OwnerReply = { _tag: "pg.done" }

/** One node's scopes, started on demand. */
export class NodeGroups {
  private readonly scopes = new Map<string, GroupScope>()
  private refusals = 0

  constructor(private readonly deps: NodeGroupsDeps) {}

  /** The scopes running here. */
  all(): IterableIterator<GroupScope> {
    return this.scopes.values()
  }

  /**
   * Scope `name`, started here at its first use. This node's own code is never refused
   * one; a name over {@link MAX_SCOPE_NAME_CHARS} is a defect, like an over-long group name.
   */
  scope(name: string): Effect.Effect<GroupScope> {
    return Effect.suspend(() => {
      const found = this.scopes.get(name)
      if (found !== undefined) return Effect.succeed(found)
      if (name.length > MAX_SCOPE_NAME_CHARS) {
        return Effect.die(new RangeError(`a scope name may have at most ${MAX_SCOPE_NAME_CHARS} characters`))
      }
      return this.start(name)
    })
  }

  private start(name: string): Effect.Effect<GroupScope> {
    const { events, hooks, runtime } = this.deps
    const scope = new GroupScope({ scope: name, runtime, events, ...hooks })
    scope.runLater = this.deps.runLater
    // Set before the process starts: a use racing this start finds the scope and does not start it twice.
    this.scopes.set(name, scope)
    return startSystem(runtime, scopeBehavior(scope, (request) => this.serve(request)), {
      name: scopeProcessName(name)
    }).pipe(
      Effect.zipRight(scope.discoverAll()),
      Effect.catchAll((error) =>
        Effect.logError("could not start a process-group scope", error).pipe(
          Effect.annotateLogs({ node: runtime.nodeId, scope: name })
        )
      ),
      Effect.as(scope)
    )
  }

  /**
   * Joins or leaves this node's processes `ids` (ids or local names). A join is
   * all-or-nothing: unless every one is a live process, none joins and it fails naming the
   * first that is not. A leave takes those that are (an exited process left every group).
   */
  change(
    scope: GroupScope,
    op: Op,
    group: string,
    ids: ReadonlyArray<string>
  ): Effect.Effect<void, RemoteServerNotRunningError> {
    return Effect.suspend(() => {
      const live: Array<string> = []
      for (const id of ids) {
        const resolved = this.deps.resolve(id)
        if (resolved !== undefined) live.push(resolved)
        else if (op === "join") {
          return Effect.fail(new RemoteServerNotRunningError({ serverId: id, nodeId: this.deps.runtime.nodeId }))
        }
      }
      return op === "join" ? scope.joinLocal(group, live) : scope.leaveLocal(group, live)
    })
  }

  /**
   * A peer's request to join or leave this node's processes, served by whichever scope
   * process it reached. A scope not running here is started for a join, unless this node
   * runs {@link MAX_SCOPES} already; a leave in it has nothing to take, and a join that
   * would fail does not start it.
   */
  serve(request: OwnerRequest): Effect.Effect<OwnerReply> {
    return Effect.suspend(() => {
      const { group, ids, op } = request
      const found = this.scopes.get(request.scope)
      if (found === undefined) {
        if (op === "leave") return Effect.succeed(done)
        const dead = ids.find((id) => this.deps.resolve(id) === undefined)
        if (dead !== undefined) return Effect.succeed<OwnerReply>({ _tag: "pg.notRunning", id: dead })
        if (this.scopes.size >= MAX_SCOPES) return Effect.as(this.refused(request.scope), { _tag: "pg.refused" })
      }
      return this.scope(request.scope).pipe(
        Effect.flatMap((scope) => this.change(scope, op, group, ids)),
        Effect.as(done),
        Effect.catchTag(
          "RemoteServerNotRunningError",
          (e) => Effect.succeed<OwnerReply>({ _tag: "pg.notRunning", id: e.serverId })
        )
      )
    })
  }

  private refused(scope: string): Effect.Effect<void> {
    // One line per thousand: a peer repeating the request must not flood this node's log.
    if (this.refusals++ % 1000 !== 0) return Effect.void
    return Effect.logWarning("refused to start a process-group scope for a peer: this node runs too many").pipe(
      Effect.annotateLogs({ node: this.deps.runtime.nodeId, scope, limit: MAX_SCOPES, refused: this.refusals })
    )
  }

  /**
   * Asks `nodeId` to join or leave its processes `ids` in `scope` (a node speaks only for
   * its own). Its answer is decoded: the owner is a peer like any other.
   */
  ask(
    scope: string,
    nodeId: NodeId,
    op: Op,
    group: string,
    ids: ReadonlyArray<string>
  ): Effect.Effect<void, CallError> {
    const to = { id: scopeProcessName(DEFAULT_SCOPE), nodeId }
    const request: OwnerRequest = { _tag: "pg.request", scope, op, group, ids }
    return Effect.flatMap(this.deps.runtime.call<unknown>(to, request), (reply): Effect.Effect<void, CallError> => {
      const decoded = decodeOwnerReply(reply)
      if (Either.isLeft(decoded)) {
        const error = new InvalidMessageError({
          serverId: to.id,
          nodeId,
          message: `the answer to a process-group request does not decode: ${decoded.left.message}`
        })
        return Effect.zipRight(
          Effect.logWarning("a process-group request got an answer that does not decode").pipe(
            Effect.annotateLogs({ node: this.deps.runtime.nodeId, peer: nodeId, scope, reason: error.message })
          ),
          Effect.fail(error)
        )
      }
      switch (decoded.right._tag) {
        case "pg.done":
          return Effect.void
        case "pg.notRunning":
          return Effect.fail(new RemoteServerNotRunningError({ serverId: decoded.right.id, nodeId }))
        case "pg.refused":
          // The owner will not run the scope: its process is what is not running there.
          return Effect.fail(new RemoteServerNotRunningError({ serverId: scopeProcessName(scope), nodeId }))
      }
    })
  }
}
