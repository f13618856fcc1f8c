import * as net from "node:net"
const log: string[] = []
const t0 = performance.now()
const orig = net.Socket.prototype.destroySoon
net.Socket.prototype.destroySoon = function (this: net.Socket) {
  log.push(`${(performance.now()-t0).toFixed(1)} destroySoon ${this.localPort}->${this.remotePort} wl=${this.writableLength} read=${this.bytesRead} written=${this.bytesWritten}`)
  this.once("close", (hadErr) => log.push(`${(performance.now()-t0).toFixed(1)} close ${this.remotePort} err=${hadErr}`))
  return orig.call(this)
}
const origExit = process.exit
process.exit = ((code?: number) => { log.push(`${(performance.now()-t0).toFixed(1)} exit`); process.stderr.write(log.map(l => `[${process.pid}] ${l}`).join("\n") + "\n"); return origExit.call(process, code) }) as any
