/**
 * The Promise facade's `ProcessGroups`: the Effect API's functions run on a facade node,
 * lists as arrays, and a scope's membership changes delivered to a callback. The reads
 * are Promises: the first use of a scope on a node starts it there.
 */
import { Effect } from "effect"
import * as ProcessGroupsModule from "../../ProcessGroups.js"
import type { PromiseNode } from "../../promise.js"
import type { Driver } from "./driver.js"

const toArray = <A>(effect: Effect.Effect<ReadonlyArray<A>, never, ProcessGroupsModule.ProcessGroups>) =>
  Effect.map(effect, (items) => Array.from(items))

/** The facade's `ProcessGroups` of one node. */
export const makeProcessGroups = ({ listen, run }: Driver): PromiseNode["ProcessGroups"] => ({
  join: (group, refs, options) => run(ProcessGroupsModule.join(group, refs, options)),
  leave: (group, refs, options) => run(ProcessGroupsModule.leave(group, refs, options)),
  members: (group, options) => run(toArray(ProcessGroupsModule.members(group, options))),
  localMembers: (group, options) => run(toArray(ProcessGroupsModule.localMembers(group, options))),
  whichGroups: (options) => run(toArray(ProcessGroupsModule.whichGroups(options))),
  subscribe: (handler, options) =>
    // For a scope running here, subscribed before this returns (a scope's first use starts it
    // first, and the subscription follows).
    listen(ProcessGroupsModule.changes(options), handler, "ProcessGroups.subscribe")
})
