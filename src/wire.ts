/**
 * noex-effect/wire: the wire format — framing, the protocol's Schemas and the default
 * payload codec — for tools that speak to nodes directly (tests, proxies, a peer in
 * another language). Unstable: it changes with `PROTOCOL_VERSION`, without notice.
 */
export * as PayloadCodec from "./wire/Codec.js"
export * as Frame from "./wire/Frame.js"
export * as HandshakeProtocol from "./wire/HandshakeProtocol.js"
export * as InspectProtocol from "./wire/InspectProtocol.js"
export * as MembershipProtocol from "./wire/MembershipProtocol.js"
export * as Protocol from "./wire/Protocol.js"
export * as RegistryProtocol from "./wire/RegistryProtocol.js"
export * as RequestProtocol from "./wire/RequestProtocol.js"
export * as SignalProtocol from "./wire/SignalProtocol.js"
