/**
 * noex-effect/node: the Node.js platform entry. Everything of the core entry, plus
 * the TCP and TLS transports.
 */
export * from "./index.js"
export * as TcpTransport from "./node/TcpTransport.js"
export * as TlsTransport from "./node/TlsTransport.js"
