/**
 * MemoryNetwork: the in-process network simulated nodes share. Create one with
 * `MemoryNetwork.make`, give each node `MemoryTransport.layer(net)`, then partition,
 * heal, kill, delay and drop to test the cluster deterministically under `TestClock`.
 */
import * as MemoryTransport from "./MemoryTransport.js"

/** An in-process network of simulated nodes. */
export type MemoryNetwork = MemoryTransport.MemoryNetwork

/** MemoryNetwork constructors. */
export const MemoryNetwork = { make: MemoryTransport.make } as const
