/**
 * noex-effect: Erlang/OTP-style distribution for TypeScript, built on Effect.
 * This entry is platform independent; the TCP transport lives in `noex-effect/node`.
 */
export * from "./errors.js"
export { NodeId } from "./NodeId.js"
export type { NodeIdComponents } from "./NodeId.js"
export { ServerRef, SpawnResult } from "./ServerRef.js"
export type { SerializedRef } from "./ServerRef.js"
export * as GenServer from "./GenServer.js"
export type { AnyBehavior, BehaviorSchemas, ExitReason, GenServerBehavior } from "./GenServer.js"
export * as Transport from "./transport/Transport.js"
export * as MemoryTransport from "./transport/MemoryTransport.js"
export { MemoryNetwork } from "./transport/MemoryNetwork.js"
export * as Frame from "./wire/Frame.js"
export * as Protocol from "./wire/Protocol.js"
export * as Codec from "./wire/Codec.js"
export * as Cluster from "./cluster/Cluster.js"
export type { ClusterConfig, NodeDownReason, NodeEvent, NodeInfo } from "./cluster/Cluster.js"
export * as BehaviorRegistry from "./BehaviorRegistry.js"
export { BehaviorRegistrationError } from "./BehaviorRegistry.js"
export * as RemoteCall from "./RemoteCall.js"
export * as RemoteSpawn from "./RemoteSpawn.js"
export type { SpawnOptions } from "./RemoteSpawn.js"
