/**
 * noex-effect/node: the Node.js platform entry (TCP transport and process helpers).
 */
export * from "./index.js"
