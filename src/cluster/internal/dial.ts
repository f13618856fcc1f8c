/** How membership dials a peer. */
import { Duration, Effect } from "effect"
import type { Scope } from "effect"
import { TransportError } from "../../transport/Transport.js"
import type { Address, Connection, Service as TransportService } from "../../transport/Transport.js"
import { connectionOptions } from "../ClusterConfig.js"
import type { ResolvedConfig } from "../ClusterConfig.js"

/**
 * A dial bounded by the handshake timeout: an address that accepts TCP and never finishes
 * TLS, or a SYN into a void, must not hold a peer's dials nor the node's shutdown.
 */
export const boundedDial = (
  transport: TransportService,
  address: Address,
  config: ResolvedConfig
): Effect.Effect<Connection, TransportError, Scope.Scope> =>
  transport.dial(address, connectionOptions(config)).pipe(
    Effect.timeoutFail({
      duration: config.handshakeTimeout,
      onTimeout: () =>
        new TransportError({
          reason: "Dial",
          address: `${address.host}:${address.port}`,
          message: `not connected within ${Duration.format(config.handshakeTimeout)}`
        })
    })
  )
