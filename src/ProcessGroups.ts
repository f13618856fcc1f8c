/**
 * ProcessGroups: named groups of processes across the cluster (Erlang's `pg`). Any
 * process joins any number of groups; `members(group)` lists them on every node,
 * `localMembers` on this one. A member leaves when it exits or its node goes down, and
 * the view converges after partitions heal: each node speaks only for its own
 * processes, so there is nothing to conflict. Groups live in scopes, so two libraries'
 * groups never collide; the `"default"` scope is used when none is named. A scope exists
 * on the nodes that use it: the first use on a node (or another node's join of one of its
 * processes) starts it there, and it learns its members from the others within a round
 * trip. `Cluster.layer` provides the service; {@link layer} gives it to a program that
 * never clusters.
 */
import { Context, Effect, FiberSet, Layer, Option, PubSub, Stream } from "effect"
import type { Scope } from "effect"
import type { CallError } from "./errors.js"
import { GenServerRuntime } from "./GenServer.js"
import type * as GenServer from "./GenServer.js"
import type { GroupEvent } from "./internal/groups.js"
import { DEFAULT_SCOPE, MAX_GROUP_NAME_CHARS } from "./internal/groupsMessages.js"
import { NodeGroups, rememberBudget } from "./internal/groupsNode.js"
import { tableOf } from "./internal/runtime.js"
import type { NodeId } from "./NodeId.js"
import type { ServerRef } from "./ServerRef.js"

export type { GroupEvent } from "./internal/groups.js"
export {
  DEFAULT_SCOPE,
  MAX_GROUP_NAME_CHARS,
  MAX_MEMBERS_PER_PEER,
  MAX_SCOPE_NAME_CHARS,
  MAX_SCOPES
} from "./internal/groupsMessages.js"

/** Which scope an operation is in. */
export interface ScopeOptions {
  /** Default {@link DEFAULT_SCOPE}. */
  readonly scope?: string | undefined
}

/**
 * What a join or leave can fail with: a ref that is not a live process
 * (`RemoteServerNotRunningError`; a join is all-or-nothing on each node), or, for a ref on
 * another node (its node does the join), what the request to that node can end with — the
 * scope's process named in a `RemoteServerNotRunningError` when that node would have to
 * start the scope past {@link MAX_SCOPES}.
 */
export type JoinError = CallError

/** The process groups of one node. */
export interface Service {
  readonly join: (
    group: string,
    refs: ServerRef | ReadonlyArray<ServerRef>,
    options?: ScopeOptions
  ) => Effect.Effect<void, JoinError>
  readonly leave: (
    group: string,
    refs: ServerRef | ReadonlyArray<ServerRef>,
    options?: ScopeOptions
  ) => Effect.Effect<void, JoinError>
  readonly members: (group: string, options?: ScopeOptions) => Effect.Effect<ReadonlyArray<ServerRef>>
  readonly localMembers: (group: string, options?: ScopeOptions) => Effect.Effect<ReadonlyArray<ServerRef>>
  readonly whichGroups: (options?: ScopeOptions) => Effect.Effect<ReadonlyArray<string>>
  readonly changes: (options?: ScopeOptions) => Stream.Stream<GroupEvent>
  readonly subscribe: (options?: ScopeOptions) => Effect.Effect<Stream.Stream<GroupEvent>, never, Scope.Scope>
}

/** The process-groups service. */
export class ProcessGroups extends Context.Tag("noex-effect/ProcessGroups")<ProcessGroups, Service>() {}

/** How a node's groups reach the cluster (the composition root fills it; a standalone node has no peers). */
export interface ClusterHooks {
  readonly connected: () => ReadonlyArray<NodeId>
  readonly isMember: (nodeId: NodeId) => boolean
  readonly frameBudget: (peer: NodeId) => number
}

const standalone: ClusterHooks = { connected: () => [], isMember: () => false, frameBudget: () => 0 }

/** What {@link make} answers: the service, and the hook membership calls when a peer comes up. */
export interface Made {
  readonly service: Service
  /** A member came up: every scope here exchanges memberships with it. */
  readonly nodeUp: (peer: NodeId) => Effect.Effect<void>
  /** A node went down: its memberships disappear from every scope here. */
  readonly nodeDown: (peer: NodeId) => void
}

/**
 * Builds the groups of the node `runtime` belongs to, its default scope started. Scope
 * processes are the runtime's, so they stop with the node.
 */
export const make = (
  runtime: GenServer.Service,
  hooks: ClusterHooks = standalone
): Effect.Effect<Made, never, Scope.Scope> =>
  Effect.gen(function*() {
    const events = yield* Effect.acquireRelease(PubSub.unbounded<GroupEvent>(), PubSub.shutdown)
    const table = tableOf(runtime)
    const resolve = (id: string): string | undefined => {
      const proc = table?.resolve(id)
      return proc !== undefined && proc.alive && proc.stopReason === undefined ? proc.id : undefined
    }
    // Work started by callbacks (a member's exit) is owned by the scope: closing it interrupts what is left.
    const runFork = yield* FiberSet.makeRuntime<never, void, never>()
    const runLater = (effect: Effect.Effect<void>) => void runFork(effect)
    const scopes = new NodeGroups({ runtime, hooks, events, resolve, runLater })
    const scopeOf = (options: ScopeOptions | undefined) => scopes.scope(options?.scope ?? DEFAULT_SCOPE)
    yield* scopes.scope(DEFAULT_SCOPE)

    const change = (op: "join" | "leave") =>
    (
      group: string,
      refs: ServerRef | ReadonlyArray<ServerRef>,
      options?: ScopeOptions
    ): Effect.Effect<void, JoinError> =>
      Effect.flatMap(scopeOf(options), (scope) => {
        const all: ReadonlyArray<ServerRef> = Array.isArray(refs) ? refs : [refs as ServerRef]
        const byNode = new Map<NodeId, Array<string>>()
        for (const ref of all) {
          let ids = byNode.get(ref.nodeId)
          if (ids === undefined) byNode.set(ref.nodeId, ids = [])
          ids.push(ref.id)
        }
        // Node by node: each node's part is all-or-nothing, but parts on several nodes are not one change.
        return Effect.forEach(byNode, ([nodeId, ids]) =>
          nodeId === runtime.nodeId
            ? scopes.change(scope, op, group, ids)
            // Its own node does it: a node speaks only for its processes.
            : scopes.ask(scope.name, nodeId, op, group, ids), { discard: true })
      })

    const service: Service = {
      join: (group, refs, options) =>
        group.length > MAX_GROUP_NAME_CHARS
          ? Effect.die(new RangeError(`a group name may have at most ${MAX_GROUP_NAME_CHARS} characters`))
          : change("join")(group, refs, options),
      leave: change("leave"),
      members: (group, options) => Effect.map(scopeOf(options), (s) => s.members(group)),
      localMembers: (group, options) => Effect.map(scopeOf(options), (s) => s.localMembers(group)),
      whichGroups: (options) => Effect.map(scopeOf(options), (s) => s.groups()),
      subscribe: (options) => {
        const name = options?.scope ?? DEFAULT_SCOPE
        return Effect.zipRight(
          scopeOf(options),
          Effect.map(
            Stream.fromPubSub(events, { scoped: true }),
            (stream) => Stream.filter(stream, (e) => e.scope === name)
          )
        )
      },
      changes: (options) => {
        const name = options?.scope ?? DEFAULT_SCOPE
        return Stream.unwrap(
          Effect.as(scopeOf(options), Stream.filter(Stream.fromPubSub(events), (e) => e.scope === name))
        )
      }
    }
    rememberBudget(service, hooks.frameBudget)
    return {
      service,
      nodeUp: (peer) =>
        hooks.isMember(peer)
          ? Effect.forEach(scopes.all(), (scope) => scope.discover(peer), { discard: true })
          : Effect.void,
      nodeDown: (peer) => {
        for (const scope of scopes.all()) scope.peerGone(peer)
      }
    }
  })

/** Process groups for a program that never clusters (local processes only). */
export const layer: Layer.Layer<ProcessGroups, never, GenServerRuntime> = Layer.scoped(
  ProcessGroups,
  Effect.flatMap(GenServerRuntime, (rt) => Effect.map(make(rt), (m) => m.service))
)

/**
 * Adds processes to a group (Erlang's `pg:join`). A process may join a group several
 * times and must leave as often. A ref on another node is joined by its node.
 */
export const join = (
  group: string,
  refs: ServerRef | ReadonlyArray<ServerRef>,
  options?: ScopeOptions
): Effect.Effect<void, JoinError, ProcessGroups> => Effect.flatMap(ProcessGroups, (g) => g.join(group, refs, options))

/** Removes one membership of each process from a group; a process not in it is skipped. */
export const leave = (
  group: string,
  refs: ServerRef | ReadonlyArray<ServerRef>,
  options?: ScopeOptions
): Effect.Effect<void, JoinError, ProcessGroups> => Effect.flatMap(ProcessGroups, (g) => g.leave(group, refs, options))

/** Every member of a group on every node this node sees: local ones first, then by node and id. */
export const members = (
  group: string,
  options?: ScopeOptions
): Effect.Effect<ReadonlyArray<ServerRef>, never, ProcessGroups> =>
  Effect.flatMap(ProcessGroups, (g) => g.members(group, options))

/** The members of a group on this node. */
export const localMembers = (
  group: string,
  options?: ScopeOptions
): Effect.Effect<ReadonlyArray<ServerRef>, never, ProcessGroups> =>
  Effect.flatMap(ProcessGroups, (g) => g.localMembers(group, options))

/** The groups with at least one member anywhere, sorted. */
export const whichGroups = (options?: ScopeOptions): Effect.Effect<ReadonlyArray<string>, never, ProcessGroups> =>
  Effect.flatMap(ProcessGroups, (g) => g.whichGroups(options))

/** A stream of a scope's membership changes (`Joined` / `Left`), from when it is run. */
export const changes = (options?: ScopeOptions): Stream.Stream<GroupEvent, never, ProcessGroups> =>
  Stream.unwrap(Effect.map(ProcessGroups, (g) => g.changes(options)))

/**
 * A scope's membership changes, subscribed at once (unlike {@link changes}, which
 * subscribes when it runs): no change after this effect is missed while the scope lives.
 */
export const subscribe = (
  options?: ScopeOptions
): Effect.Effect<Stream.Stream<GroupEvent>, never, ProcessGroups | Scope.Scope> =>
  Effect.flatMap(ProcessGroups, (g) => g.subscribe(options))

/** One member of a group picked by `pick` over its members, if there is any (a pool's dispatch). */
export const pick = (
  group: string,
  choose: (members: ReadonlyArray<ServerRef>) => ServerRef | undefined = (ms) => ms[0],
  options?: ScopeOptions
): Effect.Effect<Option.Option<ServerRef>, never, ProcessGroups> =>
  Effect.map(members(group, options), (ms) => Option.fromNullable(ms.length === 0 ? undefined : choose(ms)))
