/**
 * The inspection sub-protocol, owned by `cluster/internal/inspector.ts`: one node asks
 * another what it runs (its facts, its members, a page of its processes, a page of the
 * global names it holds). Answers are bounded pages, so a node of 100k processes answers
 * in frames of a known size.
 */
import { Schema } from "effect"
import { NodeId } from "../NodeId.js"
import { NonNegativeInt, ServerId, tagged } from "./internal/fields.js"

/**
 * Entries of one answer at most: bounds what one request makes a node build (~200 bytes
 * per entry, ~50 KB a page) while 100k processes take 400 pages. An answer larger than
 * the asker's frame limit is halved until it fits; `total` tells the asker there is more.
 */
export const MAX_INSPECT_PAGE = 256

/** What an inspection asks for; `name` looks up one global name (`Inspect.name`). */
export const InspectSection = Schema.Literal("node", "processes", "names", "name")

/** A node's facts and the members it is connected to. */
export const NodeReport = Schema.Struct({
  nodeId: NodeId.schema,
  incarnation: Schema.String,
  uptimeMs: NonNegativeInt,
  processCount: NonNegativeInt,
  behaviors: Schema.Array(Schema.String),
  members: Schema.Array(
    Schema.Struct({ nodeId: NodeId.schema, processCount: NonNegativeInt, uptimeMs: NonNegativeInt })
  )
})

/** One live process. */
export const ProcessReport = Schema.Struct({
  serverId: ServerId,
  name: Schema.optionalWith(Schema.String, { exact: true }),
  /** The global names it holds. */
  globalNames: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
  behavior: Schema.optionalWith(Schema.String, { exact: true }),
  /** Messages waiting in its mailbox. */
  mailbox: NonNegativeInt,
  /** Whether a handler is running now. */
  busy: Schema.Boolean
})

/** One global name and the process holding it. */
export const NameReport = Schema.Struct({ name: Schema.String, serverId: ServerId, nodeId: NodeId.schema })

/** Ask for a section; answered by `Inspected` with the same `inspectId`. */
export const Inspect = tagged("Inspect", {
  inspectId: NonNegativeInt,
  section: InspectSection,
  offset: NonNegativeInt,
  limit: NonNegativeInt,
  /** The global name the `name` section looks up. */
  name: Schema.optionalWith(Schema.String, { exact: true })
})

/** The answer: `node` for the node section, a page and the total for the others. */
export const Inspected = tagged("Inspected", {
  inspectId: NonNegativeInt,
  node: Schema.optionalWith(NodeReport, { exact: true }),
  total: NonNegativeInt,
  processes: Schema.Array(ProcessReport),
  names: Schema.Array(NameReport),
  /** Something was left out to fit the asker's frame limit (a list of the node report, an entry's global names). */
  truncated: Schema.optionalWith(Schema.Boolean, { exact: true })
})

/** The messages of this sub-protocol. */
export const messages = [Inspect, Inspected] as const

/** An inspection message. */
export type InspectMessage = Schema.Schema.Type<(typeof messages)[number]>
