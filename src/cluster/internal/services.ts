/**
 * The public services of a node, built over its internal machinery. Each is a plain
 * object of the shape its public module declares; the composition root
 * (`internal/node.ts`) builds them once per node.
 */
import { Effect, FiberRef, Option } from "effect"
import { GlobalNameNotFoundError, MessageTooLargeError } from "../../errors.js"
import type { CallError } from "../../errors.js"
import type * as GenServer from "../../GenServer.js"
import type * as GlobalRegistry from "../../GlobalRegistry.js"
import { defaults as genServerDefaults } from "../../internal/runtime.js"
import { currentProcess } from "../../internal/self.js"
import { toMillis } from "../../internal/timers.js"
import type { NodeId } from "../../NodeId.js"
import type * as RemoteCall from "../../RemoteCall.js"
import type { CallOptions } from "../../RemoteCall.js"
import type * as RemoteSpawn from "../../RemoteSpawn.js"
import { defaults as spawnDefaults } from "../../RemoteSpawn.js"
import type { ServerRef } from "../../ServerRef.js"
import type { GlobalLock } from "./globalLock.js"
import type { Replica } from "./registry.js"
import { MAX_ENTRY_BYTES } from "./registryEntries.js"
import type { Remoting } from "./remoting.js"

/** `RemoteCall` over the local runtime and remoting: a local ref never touches the network. */
export const remoteCall = (runtime: GenServer.Service, remoting: Remoting): RemoteCall.Service => {
  // Decoded once: a call without options should not pay for decoding the default.
  const defaultTimeoutMs = toMillis(genServerDefaults.callTimeout)
  return {
    call: <Reply>(ref: ServerRef, msg: unknown, options?: CallOptions) =>
      ref.nodeId === runtime.nodeId
        ? runtime.call<Reply>(ref, msg, options)
        : (remoting.call(
          ref,
          msg,
          options?.timeout === undefined ? defaultTimeoutMs : toMillis(options.timeout)
        ) as Effect.Effect<
          Reply,
          CallError
        >),
    cast: (ref, msg) => (ref.nodeId === runtime.nodeId ? runtime.cast(ref, msg) : remoting.cast(ref, msg))
  }
}

/** `RemoteSpawn` over remoting, with the guide's defaults applied. */
export const remoteSpawn = (remoting: Remoting, self: NodeId): RemoteSpawn.Service => ({
  spawn: (behaviorName, nodeId, options) => {
    const request = (linkTo: ServerRef | undefined) =>
      remoting.spawn(behaviorName, nodeId, {
        name: options?.name,
        registration: options?.registration ?? "none",
        initTimeoutMs: toMillis(options?.initTimeout ?? genServerDefaults.initTimeout),
        timeoutMs: toMillis(options?.timeout ?? spawnDefaults.timeout),
        args: options?.args ?? [],
        linkTo
      })
    const link = options?.link
    if (link === undefined) return request(undefined)
    // A link to a process elsewhere, or `true` outside a process, is a mistake in the program.
    return Effect.flatMap(FiberRef.get(currentProcess), (current) => {
      const parent = link === true ? current : link
      if (parent === undefined) {
        return Effect.dieMessage("RemoteSpawn.spawn({ link: true }) outside a process's Effect handler")
      }
      if (parent.nodeId !== self) {
        return Effect.dieMessage(
          `RemoteSpawn.spawn({ link }) links with a process of this node, not of ${parent.nodeId}`
        )
      }
      return request(parent)
    })
  }
})

/** `GlobalRegistry` over a node's replica. */
export const globalRegistry = (
  replica: Replica,
  runtime: GenServer.Service,
  lock: GlobalLock
): GlobalRegistry.Service => ({
  register: (name, ref) => replica.register(name, ref),
  registerOrWhereis: (name, start) =>
    // A name the registry would refuse is refused before the lock: the arbiter's peers could not even read it.
    !replica.globalNames.fits(name)
      ? Effect.fail(new MessageTooLargeError({ bytes: name.length * 3, limit: MAX_ENTRY_BYTES }))
      : lock.run(name, start, (ref) =>
        replica.register(name, ref).pipe(
          Effect.as(ref),
          // Another contender registered first (it asked another arbiter): its process is the
          // singleton, and the one just started goes.
          Effect.catchTag("GlobalNameConflictError", (conflict) =>
            Option.match(replica.whereis(name), {
              onNone: () => Effect.fail(conflict),
              onSome: (winner) => Effect.as(Effect.ignore(runtime.stop(ref, { conflict: name })), winner)
            })),
          // Not registered (a name too long, a node gone): the process started for it must not outlive the failure.
          Effect.tapError(() => Effect.ignore(runtime.stop(ref, "shutdown")))
        )),
  unregister: (name) => replica.unregister(name),
  whereis: (name) => Effect.sync(() => replica.whereis(name)),
  lookup: (name) =>
    Effect.suspend(() =>
      Option.match(replica.whereis(name), {
        onNone: () => Effect.fail(new GlobalNameNotFoundError({ name })),
        onSome: Effect.succeed
      })
    ),
  isRegistered: (name) => Effect.sync(() => Option.isSome(replica.whereis(name))),
  getNames: Effect.sync(() => replica.names()),
  events: replica.eventStream
})
