/**
 * A man in the middle on raw `node:net`: it listens where a node is advertised, relays
 * every connection to where the node really listens, frame by frame, and lets a test
 * alter, drop, duplicate or inject frames on the way — what anyone on the network path
 * can do without knowing the cookie.
 */
import * as net from "node:net"
import { encodeFrame, FrameDecoder } from "../../src/wire/Frame.js"

/** Which way a frame travels: from the dialing node to the listening one, or back. */
export type Direction = "toListener" | "toDialer"

/** Rewrites one relayed frame into the frames forwarded in its place (none: dropped). */
export type Edit = (direction: Direction, frame: Uint8Array) => ReadonlyArray<Uint8Array>

/** A relay on the path between nodes. */
export interface OnPath {
  /** Replaces how frames are relayed from now on; the default forwards each unchanged. */
  readonly setEdit: (edit: Edit) => void
  /** Writes a frame of the attacker's own into the newest relayed connection. */
  readonly inject: (direction: Direction, payload: Uint8Array) => void
  /** Connections relayed so far. */
  readonly connections: () => number
  readonly close: () => Promise<void>
}

const forward: Edit = (_, frame) => [frame]

/** Listens on `listen` and relays each connection to `target`. */
export const onPath = (
  listen: { readonly host: string; readonly port: number },
  target: { readonly host: string; readonly port: number }
): Promise<OnPath> =>
  new Promise((resolve, reject) => {
    let edit = forward
    const sockets = new Set<net.Socket>()
    let newest: { toListener: net.Socket; toDialer: net.Socket } | undefined
    let count = 0
    const pipe = (from: net.Socket, to: net.Socket, direction: Direction) => {
      const decoder = new FrameDecoder(64 * 1024 * 1024)
      from.on("data", (chunk) => {
        decoder.push(chunk, (frame) => {
          for (const out of edit(direction, frame)) to.write(encodeFrame(out))
        })
      })
      from.on("close", () => to.destroy())
      from.on("error", () => {})
    }
    const server = net.createServer((dialer) => {
      count++
      const listener = net.connect(target.port, target.host)
      for (const s of [dialer, listener]) {
        sockets.add(s)
        s.on("close", () => sockets.delete(s))
      }
      pipe(dialer, listener, "toListener")
      pipe(listener, dialer, "toDialer")
      newest = { toListener: listener, toDialer: dialer }
    })
    server.on("error", reject)
    server.listen(listen.port, listen.host, () =>
      resolve({
        setEdit: (e) => {
          edit = e
        },
        inject: (direction, payload) => newest?.[direction].write(encodeFrame(payload)),
        connections: () => count,
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy()
            server.close(() => done())
          })
      }))
  })

/** Whether `frame` contains `needle` (the relay can read what it carries: it is signed, not encrypted). */
export const contains = (frame: Uint8Array, needle: string): boolean =>
  Buffer.from(frame.buffer, frame.byteOffset, frame.length).includes(needle)

/** `frame` with every `from` replaced by `to` (same length). */
export const replace = (frame: Uint8Array, from: string, to: string): Uint8Array => {
  const out = Buffer.from(frame)
  for (let i = out.indexOf(from); i >= 0; i = out.indexOf(from, i + 1)) out.write(to, i)
  return out
}
