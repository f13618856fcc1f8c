/**
 * noex-effect/node: the Node.js platform entry. Everything of the core entry, plus
 * the TCP transport.
 */
export * from "./index.js"
export * as TcpTransport from "./node/TcpTransport.js"
