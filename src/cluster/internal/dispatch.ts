/**
 * The dispatch table: every wire message tag mapped to the one component that owns
 * it. `Cluster.layer` builds the table from each sub-protocol's handlers; the type
 * `Table` names every tag, so a message nobody handles does not compile.
 */
import type { NodeId } from "../../NodeId.js"
import type { MessageOf, Tag, WireMessage } from "../../wire/Protocol.js"
import type { Link } from "../Link.js"

/** Handles one message from a link; `from` is the peer the handshake bound to the link. */
export type Handler<K extends Tag> = (from: NodeId, link: Link, message: MessageOf<K>) => void

/** Handlers for a set of tags: what a sub-protocol's owner contributes to the table. */
export type Handlers<K extends Tag> = { readonly [P in K]: Handler<P> }

/** The whole table: one handler for every tag. */
export type Table = Handlers<Tag>

/** Receives one message and hands it to its handler. */
export type Dispatch = (from: NodeId, link: Link, message: WireMessage) => void

/** The dispatcher of a complete table. */
export const make = (table: Table): Dispatch => (from, link, message) =>
  (table[message._tag] as Handler<Tag>)(from, link, message)

/** Where the other components find links: membership owns them. */
export interface Links {
  /** The current link to `nodeId`, if connected. */
  readonly linkTo: (nodeId: NodeId) => Link | undefined
  /** The nodes connected now. */
  readonly connectedIds: () => Array<NodeId>
  /** Counts a spawn sent to `nodeId` until that node's heartbeats show it; call the result when it is answered. */
  readonly spawnSent: (nodeId: NodeId) => (placed: boolean) => void
}

/**
 * `handlers` with the messages tagged `guarded` accepted from members only: one from a
 * hidden node (a tool, `ClusterConfig.hidden`) is dropped. The replicated registry is the
 * members' (as Erlang's `global` ignores hidden nodes); a tool may still ask a member to
 * register that member's own process, and be answered.
 */
export const membersOnly = <K extends Tag>(handlers: Handlers<K>, guarded: ReadonlyArray<NoInfer<K>>): Handlers<K> => {
  const result: Partial<Record<K, Handler<any>>> = { ...handlers }
  for (const tag of guarded) {
    const handle = handlers[tag] as Handler<any>
    result[tag] = (from, link, message) => {
      if (link.peer.hidden !== true) handle(from, link, message)
    }
  }
  return result as Handlers<K>
}
