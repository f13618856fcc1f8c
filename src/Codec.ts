/**
 * Codec: how user values (call and cast messages, replies, spawn arguments, stop
 * reasons) become bytes inside a frame, as a service so a node can use another one
 * (as `@effect/rpc`'s `RpcSerialization`). `Cluster.layer` uses the `Codec` in its
 * context when there is one, and {@link make} otherwise: msgpack for plain data with a
 * `node:v8` fallback that keeps Date, Map, Set, BigInt, typed arrays, -0, holes, shared
 * references and Errors intact (docs/wire.md, "Payload codec"). Every node of a
 * cluster must use the same codec.
 */
import { Context, Layer } from "effect"
import type { PayloadCodec } from "./wire/Codec.js"
import { makeCodec } from "./wire/Codec.js"

export type { PayloadCodec } from "./wire/Codec.js"
export { CodecError } from "./wire/Codec.js"

/** The payload codec of a node. */
export class Codec extends Context.Tag("noex-effect/Codec")<Codec, PayloadCodec>() {}

/** The default codec: msgpack where it is exact, `node:v8` structured serialization otherwise. */
export const make: () => PayloadCodec = makeCodec

/** Provides the default codec. */
export const layer: Layer.Layer<Codec> = Layer.sync(Codec, makeCodec)

/** Provides `codec` (every node of the cluster must use the same one). */
export const layerWith = (codec: PayloadCodec): Layer.Layer<Codec> => Layer.succeed(Codec, codec)
