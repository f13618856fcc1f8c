/**
 * The metrics of one node, tagged with its id so one process running many nodes
 * keeps them apart. Updated with `unsafeUpdate` on the frame path: an Effect per
 * frame would cost more than the frame.
 */
import { Metric, MetricBoundaries } from "effect"
import type { NodeId } from "../../NodeId.js"

/** Counters and gauges a node updates. */
export interface NodeMetrics {
  readonly connectedNodes: Metric.Metric.Gauge<number>
  readonly framesIn: Metric.Metric.Counter<number>
  readonly framesOut: Metric.Metric.Counter<number>
  readonly bytesIn: Metric.Metric.Counter<number>
  readonly bytesOut: Metric.Metric.Counter<number>
  readonly castsDropped: Metric.Metric.Counter<number>
  readonly callLatencyMs: Metric.Metric.Histogram<number>
}

/** Builds the metrics of node `nodeId`. */
export const make = (nodeId: NodeId): NodeMetrics => {
  const tag = <M extends Metric.Metric<any, any, any>>(m: M): M => Metric.tagged(m, "node", nodeId) as M
  return {
    connectedNodes: tag(
      Metric.gauge("noex_connected_nodes", {
        description: "members with an established link (hidden nodes are not counted)"
      })
    ),
    framesIn: tag(Metric.counter("noex_frames_in_total", { description: "frames received from peers" })),
    framesOut: tag(Metric.counter("noex_frames_out_total", { description: "frames queued for peers" })),
    bytesIn: tag(Metric.counter("noex_bytes_in_total", { description: "frame payload bytes received" })),
    bytesOut: tag(Metric.counter("noex_bytes_out_total", { description: "frame payload bytes queued" })),
    castsDropped: tag(
      Metric.counter("noex_casts_dropped_total", { description: "casts to unreachable nodes or unknown processes" })
    ),
    callLatencyMs: tag(
      Metric.histogram(
        "noex_remote_call_latency_ms",
        MetricBoundaries.exponential({ start: 0.05, factor: 2, count: 18 }),
        "remote call round trip, milliseconds"
      )
    )
  }
}
