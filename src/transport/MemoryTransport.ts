/**
 * MemoryTransport: simulated nodes in one process, linked by an in-memory
 * {@link MemoryNetwork} that can partition, heal, kill nodes, add latency and drop
 * frames. All delays go through the `Clock`, so `TestClock` drives them and tests
 * are deterministic. Connections behave like TCP ones: ordered frames, the same
 * outbox (batching, backpressure), the same frame limit, and a close seen by the
 * other side after the frames sent before it.
 */
import { Clock, Deferred, Duration, Effect, FiberSet, Layer, Runtime } from "effect"
import { Outbox } from "../internal/outbox.js"
import { OUTBOX_HIGH_WATER_BYTES, outboxHardCap, SLOW_CONSUMER, Transport, TransportError } from "./Transport.js"
import type { Address, CloseInfo, Connection, Listener, Service } from "./Transport.js"

/** The key of a simulated node: its NodeId string. */
const keyOf = (address: Address) => `${address.name}@${address.host}:${address.port}`

type PipeItem = { readonly at: number; readonly frames: ReadonlyArray<Uint8Array> | undefined; readonly close?: string }

/** One side of a simulated connection. */
class Endpoint {
  peer!: Endpoint
  onFrame: ((frame: Uint8Array) => void) | undefined = undefined
  onActivity: (() => void) | undefined = undefined
  held: Array<Uint8Array> = []
  ended: CloseInfo | undefined = undefined
  readonly outbox: Outbox
  private readonly pipe: Array<PipeItem> = []
  private draining = false

  constructor(
    readonly net: MemoryNetworkImpl,
    readonly owner: string,
    readonly remote: string,
    readonly maxFrameBytes: number,
    readonly closed: Deferred.Deferred<CloseInfo>
  ) {
    this.outbox = new Outbox(
      { write: (frames) => this.transmit(frames), pending: () => 0 },
      OUTBOX_HIGH_WATER_BYTES,
      outboxHardCap(maxFrameBytes),
      { onOverflow: (bytes) => this.abort(`${SLOW_CONSUMER}: ${bytes} bytes queued`) }
    )
  }

  /**
   * Frames sent while a partition separates the two sides. Like TCP retransmission,
   * they arrive after the partition heals, in order (a close too) — unless the receiving
   * side closed the connection meanwhile (its failure detector fired), and then they are lost.
   */
  private blocked: Array<PipeItem> = []

  /** Sends a batch towards the peer, through the network's faults and latency. */
  private transmit(frames: ReadonlyArray<Uint8Array>): boolean {
    if (this.ended !== undefined || this.net.isKilled(this.owner, this.remote)) return true
    const kept = this.net.loss > 0 ? frames.filter(() => !this.net.drop()) : frames
    // Copies: a simulated wire must not let the receiver see the sender's later mutations.
    this.send({ at: 0, frames: kept.map((f) => f.slice()) })
    return true
  }

  /** Queues a close behind the frames in flight, as a FIN follows data on TCP. */
  sendClose(reason: string): void {
    if (this.net.isKilled(this.owner, this.remote)) return
    this.send({ at: 0, frames: undefined, close: reason })
  }

  private send(item: PipeItem): void {
    if (this.blocked.length > 0 || !this.net.canDeliver(this.owner, this.remote)) {
      this.blocked.push(item)
      this.net.holding.add(this)
      return
    }
    this.enqueue({ ...item, at: this.net.now() + this.net.latencyMs })
  }

  /** The partition healed: send what was held, in order. */
  release(): void {
    if (!this.net.canDeliver(this.owner, this.remote)) return
    const held = this.blocked
    this.blocked = []
    this.net.holding.delete(this)
    // The other side gave up on the connection meanwhile: what was held is lost with it.
    if (this.peer.ended !== undefined) return
    for (const item of held) this.enqueue({ ...item, at: this.net.now() + this.net.latencyMs })
  }

  private enqueue(item: PipeItem): void {
    this.pipe.push(item)
    if (!this.draining) {
      this.draining = true
      this.net.schedule(item.at, () => this.drain())
    }
  }

  private drain(): void {
    const now = this.net.now()
    while (this.pipe.length > 0 && this.pipe[0]!.at <= now) {
      const item = this.pipe.shift()!
      if (item.frames === undefined) this.peer.end({ by: "Remote", reason: `peer closed: ${item.close}` })
      else for (const frame of item.frames) this.peer.receive(frame)
    }
    if (this.pipe.length > 0) this.net.schedule(this.pipe[0]!.at, () => this.drain())
    else this.draining = false
  }

  receive(frame: Uint8Array): void {
    if (this.ended !== undefined) return
    if (frame.length > this.maxFrameBytes) {
      this.abort(`frame of ${frame.length} bytes over the ${this.maxFrameBytes}-byte limit`)
      return
    }
    if (this.onFrame === undefined) {
      this.held.push(frame)
      return
    }
    this.onActivity?.()
    try {
      this.onFrame(frame)
    } catch (defect) {
      this.abort(`frame handler threw: ${defect instanceof Error ? defect.message : String(defect)}`)
    }
  }

  /** Ends this side: later frames are ignored. Returns `false` if it had already ended. */
  end(info: CloseInfo): boolean {
    if (this.ended !== undefined) return false
    this.ended = info
    this.outbox.close(info.reason)
    this.net.forget(this)
    Deferred.unsafeDone(this.closed, Effect.succeed(info))
    return true
  }

  /** Closes from this side: flushes, then the peer sees the close after the data. */
  closeLocal(reason: string): void {
    if (this.ended !== undefined) return
    this.outbox.flushNow()
    this.end({ by: "Local", reason })
    this.sendClose(reason)
  }

  abort(reason: string): void {
    if (this.end({ by: "Local", reason })) this.sendClose(reason)
  }

  connection(): Connection {
    return {
      remoteAddress: this.remote,
      run: (onFrame, onActivity) =>
        Effect.suspend(() => {
          this.onFrame = onFrame
          this.onActivity = onActivity
          const held = this.held
          this.held = []
          for (const frame of held) this.receive(frame)
          return Deferred.await(this.closed)
        }),
      offer: (frame, options) => this.outbox.offer(frame, options?.urgent === true),
      writable: this.outbox.writable,
      transformFrom: (transform) => this.outbox.transformFrom(transform),
      queuedBytes: () => this.outbox.queuedBytes(),
      close: (reason) => Effect.sync(() => this.closeLocal(reason)),
      closed: Deferred.await(this.closed)
    }
  }
}

interface SimNode {
  accept: ((endpoint: Endpoint) => void) | undefined
  maxFrameBytes: number
  readonly endpoints: Set<Endpoint>
}

/** An in-process network of simulated nodes. Nodes are named by their NodeId string. */
export interface MemoryNetwork {
  /**
   * Separates every node of `a` from every node of `b` (both ways): dials between them
   * are refused, and frames on existing connections are held — as TCP retransmits —
   * until `heal`, unless a failure detector closes the connection first.
   */
  readonly partition: (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => Effect.Effect<void>
  /** Removes every partition. */
  readonly heal: Effect.Effect<void>
  /** The node dies: its connections close (peers see `connection_closed`), it can no longer listen or be reached. */
  readonly kill: (nodeId: string) => Effect.Effect<void>
  /** Resets every connection between two nodes (both sides see the close at once); they may reconnect. */
  readonly disconnect: (a: string, b: string) => Effect.Effect<void>
  /** Lets a killed node listen and be reached again (as a new incarnation would). */
  readonly revive: (nodeId: string) => Effect.Effect<void>
  /** One-way delay applied to every frame sent from now on. */
  readonly setLatency: (latency: Duration.DurationInput) => Effect.Effect<void>
  /** Probability in [0, 1] that a batch's frame is dropped (deterministic, seeded). */
  readonly setLoss: (probability: number) => Effect.Effect<void>
  /** Dial attempts made on this network so far (refused ones included). */
  readonly dialAttempts: Effect.Effect<number>
  /** Live simulated connections (both sides counted once each). */
  readonly connectionCount: Effect.Effect<number>
  /** @internal */
  readonly impl: MemoryNetworkImpl
}

class MemoryNetworkImpl {
  readonly nodes = new Map<string, SimNode>()
  readonly killed = new Set<string>()
  partitions: Array<readonly [ReadonlySet<string>, ReadonlySet<string>]> = []
  latencyMs = 0
  loss = 0
  dials = 0
  private seed = 0x9e3779b9

  constructor(
    private readonly clock: Clock.Clock,
    private readonly runtime: Runtime.Runtime<never>
  ) {}

  now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  /** Runs `f` at clock time `at` (now, if `at` has passed). */
  schedule(at: number, f: () => void): void {
    const delay = at - this.now()
    const wait = delay > 0 ? Effect.sleep(Duration.millis(delay)) : Effect.yieldNow()
    Runtime.runFork(this.runtime, Effect.zipRight(wait, Effect.sync(f)))
  }

  /** A deterministic coin: xorshift32 seeded at construction. */
  drop(): boolean {
    let x = this.seed
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.seed = x >>> 0
    return this.seed / 0x1_0000_0000 < this.loss
  }

  /** Endpoints holding frames behind a partition. */
  readonly holding = new Set<Endpoint>()

  isKilled(from: string, to: string): boolean {
    return this.killed.has(from) || this.killed.has(to)
  }

  canDeliver(from: string, to: string): boolean {
    if (this.killed.has(from) || this.killed.has(to)) return false
    for (const [a, b] of this.partitions) {
      if ((a.has(from) && b.has(to)) || (b.has(from) && a.has(to))) return false
    }
    return true
  }

  node(key: string): SimNode {
    let node = this.nodes.get(key)
    if (node === undefined) {
      node = { accept: undefined, maxFrameBytes: Infinity, endpoints: new Set() }
      this.nodes.set(key, node)
    }
    return node
  }

  forget(endpoint: Endpoint): void {
    this.nodes.get(endpoint.owner)?.endpoints.delete(endpoint)
  }

  disconnect(a: string, b: string): void {
    const node = this.nodes.get(a)
    if (node === undefined) return
    for (const endpoint of Array.from(node.endpoints)) {
      if (endpoint.remote !== b) continue
      endpoint.peer.end({ by: "Remote", reason: "connection reset" })
      endpoint.end({ by: "Remote", reason: "connection reset" })
    }
  }

  kill(key: string): void {
    this.killed.add(key)
    const node = this.nodes.get(key)
    if (node === undefined) return
    for (const endpoint of Array.from(node.endpoints)) {
      // The dead node's peers see a reset, at once, like a TCP RST from the peer's OS.
      endpoint.peer.end({ by: "Remote", reason: "connection reset: peer node killed" })
      endpoint.end({ by: "Local", reason: "node killed" })
    }
  }
}

/** Creates an empty network. Nodes join it through {@link layer}. */
export const make: Effect.Effect<MemoryNetwork> = Effect.gen(function*() {
  const impl = new MemoryNetworkImpl(yield* Effect.clock, yield* Effect.runtime<never>())
  return {
    impl,
    partition: (a, b) =>
      Effect.sync(() => {
        impl.partitions.push([new Set(a), new Set(b)])
      }),
    heal: Effect.sync(() => {
      impl.partitions = []
      for (const endpoint of Array.from(impl.holding)) endpoint.release()
    }),
    kill: (nodeId) => Effect.sync(() => impl.kill(nodeId)),
    disconnect: (a, b) => Effect.sync(() => impl.disconnect(a, b)),
    revive: (nodeId) => Effect.sync(() => void impl.killed.delete(nodeId)),
    setLatency: (latency) =>
      Effect.sync(() => {
        impl.latencyMs = Duration.toMillis(Duration.decode(latency))
      }),
    setLoss: (probability) =>
      Effect.sync(() => {
        impl.loss = Math.min(1, Math.max(0, probability))
      }),
    dialAttempts: Effect.sync(() => impl.dials),
    connectionCount: Effect.sync(() => {
      let n = 0
      for (const node of impl.nodes.values()) n += node.endpoints.size
      return n
    })
  }
})

const makeService = (network: MemoryNetwork): Service => {
  const net = network.impl
  // The node this transport instance serves, learned when it listens: partitions and
  // kills apply to its dials too. A transport that never listened dials as "anonymous".
  let self = "anonymous"
  const listen: Service["listen"] = (address, options) =>
    Effect.gen(function*() {
      const key = keyOf(address)
      self = key
      const node = net.node(key)
      if (net.killed.has(key)) {
        return yield* Effect.fail(new TransportError({ reason: "Listen", address: key, message: "node is killed" }))
      }
      if (node.accept !== undefined) {
        return yield* Effect.fail(new TransportError({ reason: "Listen", address: key, message: "address in use" }))
      }
      const inbound: Array<Endpoint> = []
      node.accept = (endpoint) => inbound.push(endpoint)
      node.maxFrameBytes = options.maxFrameBytes
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          node.accept = undefined
        })
      )
      const listener: Listener = {
        address,
        serve: (handler) =>
          Effect.gen(function*() {
            const fibers = yield* FiberSet.make()
            const run = yield* FiberSet.runtime(fibers)<any>()
            const accept = (endpoint: Endpoint) => {
              run(
                Effect.ensuring(
                  handler(endpoint.connection()),
                  Effect.sync(() => endpoint.closeLocal("connection handler ended"))
                )
              )
            }
            node.accept = accept
            for (const endpoint of inbound.splice(0)) accept(endpoint)
            return yield* Effect.never
          }).pipe(Effect.scoped) as Effect.Effect<never, never, any>
      }
      return listener
    })

  const dial: Service["dial"] = (address, options) =>
    Effect.gen(function*() {
      const target = keyOf(address)
      net.dials++
      const node = net.nodes.get(target)
      const from = self
      if (node?.accept === undefined || !net.canDeliver(from, target)) {
        return yield* Effect.fail(
          new TransportError({ reason: "Dial", address: target, message: "connection refused (simulated)" })
        )
      }
      const local = new Endpoint(net, from, target, options.maxFrameBytes, yield* Deferred.make<CloseInfo>())
      const remote = new Endpoint(net, target, from, node.maxFrameBytes, yield* Deferred.make<CloseInfo>())
      local.peer = remote
      remote.peer = local
      net.node(from).endpoints.add(local)
      node.endpoints.add(remote)
      yield* Effect.addFinalizer(() => Effect.sync(() => local.closeLocal("connection scope closed")))
      node.accept(remote)
      return local.connection()
    })

  return { listen, dial, exposes: () => false }
}

/** Provides {@link Transport} over the given in-memory network; each build is one simulated node. */
export const layer = (network: MemoryNetwork): Layer.Layer<Transport> =>
  Layer.sync(Transport, () => makeService(network))

/** A transport instance on the network, for tests that use the transport without a cluster. */
export const makeTransport = (network: MemoryNetwork): Service => makeService(network)
