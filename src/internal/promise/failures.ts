/**
 * The facade's monitors and links (noex's `RemoteMonitor` / `RemoteLink`, and the same
 * on `GenServer`): the Effect API's `GenServer.monitor` / `link`, their refs as noex names them.
 */
import { Effect } from "effect"
import * as GenServerModule from "../../GenServer.js"
import type { LinkRef, MonitorRef } from "../../promise.js"
import type { ServerRef } from "../../ServerRef.js"
import { asRef } from "./driver.js"
import type { Driver } from "./driver.js"

/** The four functions, for one node. */
export interface Failures {
  readonly monitor: (monitoringRef: ServerRef, monitoredRef: ServerRef) => Promise<MonitorRef>
  readonly demonitor: (monitorRef: MonitorRef) => Promise<void>
  readonly link: (ref1: ServerRef, ref2: ServerRef) => Promise<LinkRef>
  readonly unlink: (linkRef: LinkRef) => Promise<void>
}

export const makeFailures = ({ run }: Driver): Failures => {
  let links = 0
  return {
    monitor: (owner, ref) =>
      run(
        Effect.map(GenServerModule.monitor(asRef(owner), asRef(ref)), (m) => ({ monitorId: m.id, monitoredRef: m.ref }))
      ),
    demonitor: (m) => run(Effect.map(GenServerModule.GenServerRuntime, (rt) => void rt.unwatch(m.monitorId))),
    link: (ref1, ref2) =>
      run(Effect.as(GenServerModule.link(asRef(ref1), asRef(ref2)), { linkId: `link-${++links}`, ref1, ref2 })),
    unlink: (l) => run(GenServerModule.unlink(asRef(l.ref1), asRef(l.ref2)))
  }
}
