/**
 * The socket process: an optional child process that owns the WebSocket connections, so that the server's event loop
 * spends nothing on WebSocket framing and per-socket reads and writes (docs/internals/fanout-performance.md).
 *
 * The server still accepts each upgrade request and decides about it (path, origin, limits); then, instead of
 * completing the handshake itself, it {@link SocketPump.adopt adopts} the socket into the child (`subprocess.send`
 * with the socket as handle), which does the handshake with `ws` and from then on reads and writes that socket. The
 * server keeps a {@link PumpedSocket} per connection, a stand-in with the part of `ws`'s WebSocket interface a
 * session uses; every message, ping, close and event travels as a record (`records.ts`) over one pipe, all records
 * of one event-loop turn in one write each way. The slow-consumer bound is applied in the child, where the unsent
 * bytes are.
 *
 * If the child dies, every connection it held is reported closed (1006), the sockets whose handoff was still queued
 * are closed, and the next upgrade starts a new child. A child that leaves the pipe backed up for
 * {@link SocketPumpOptions.stuckMs} is killed and replaced the same way. The other direction has back-pressure: while
 * the server does not read the pipe, the child stops reading its clients. Connections being handed over count
 * against the gateway's connection limit ({@link SocketPump.opening}).
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { CLOSE_SLOW_CONSUMER } from '../outbound.ts'
import { closePayload, REC, RecordReader, RecordWriter } from './records.ts'

/** The child's settings, its first IPC message. */
export interface PumpConfig {
  type: 'config'
  /** Largest incoming WebSocket message (`ws`'s `maxPayload`; larger closes with 1009). */
  maxPayloadBytes: number
  /** Unsent bytes per socket before it is closed as a slow consumer (4008). */
  maxOutboundBytes: number
  /** Time a slow consumer gets to finish the closing handshake before it is cut. */
  closeGraceMs: number
}

/** One connection handed to the child, with its socket. */
export interface AdoptMessage {
  type: 'adopt'
  id: number
  method: string
  url: string
  headers: IncomingHttpHeaders
  /** The bytes read past the upgrade request (`head`), base64. */
  head: string
}

/** Options of {@link SocketPump}. */
export interface SocketPumpOptions {
  maxPayloadBytes: number
  maxOutboundBytes: number
  closeGraceMs: number
  /**
   * Time the pipe to the child may stay backed up (no `drain`) before the child is considered stuck, then killed (its
   * connections close with 1006) and replaced on the next upgrade. Default 30 s. Judged by time, not size: one large
   * fan-out may queue a lot for a child that is reading fine.
   */
  stuckMs?: number
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void
}

/**
 * The server's side of one connection held by the socket process: what a Twilsock session needs of a `ws` WebSocket.
 * `readyState` follows `ws` (0 until the handshake is done, 1 open, 2 closing, 3 closed); `bufferedAmount` is always 0
 * here, since the child applies the slow-consumer bound. Events: `message` (data, isBinary), `pong`, `close` (code).
 */
export class PumpedSocket extends EventEmitter {
  readyState = 0
  readonly bufferedAmount = 0
  readonly #pump: SocketPump
  readonly #id: number

  constructor(pump: SocketPump, id: number) {
    super()
    this.#pump = pump
    this.#id = id
  }

  send(data: Buffer): void {
    if (this.readyState === 1) this.#pump.record(REC.send, this.#id, data)
  }

  ping(): void {
    if (this.readyState === 1) this.#pump.record(REC.ping, this.#id)
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState !== 1) return
    this.readyState = 2
    this.#pump.record(REC.close, this.#id, closePayload(code, reason))
  }

  terminate(): void {
    if (this.readyState === 3) return
    this.readyState = 2
    this.#pump.record(REC.terminate, this.#id)
  }
}

interface Entry {
  ws: PumpedSocket
  onOpen: (ws: PumpedSocket) => void
  /** Called instead of `onOpen` when the connection is gone before its handshake completed. */
  onFailed: (() => void) | undefined
  /** This process's copy of the socket until its handoff completes (Node passes handles one at a time). */
  handoff: Duplex | undefined
}

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url))

/** Starts (lazily) and talks to the socket process. */
export class SocketPump {
  readonly #opts: SocketPumpOptions
  readonly #conns = new Map<number, Entry>()
  #child: ChildProcess | undefined
  #pipe: Duplex | undefined
  #writer: RecordWriter | undefined
  #nextId = 0
  #closed = false
  #starts = 0
  /** Connections handed to the child and not open yet. */
  #opening = 0

  constructor(opts: SocketPumpOptions) {
    this.#opts = opts
  }

  /** Connections held by the child (handshake done or under way). */
  get connections(): number {
    return this.#conns.size
  }

  /** Connections handed to the child whose handshake is not done yet (they count against connection limits). */
  get opening(): number {
    return this.#opening
  }

  /** Child processes started so far (more than one: one died and was replaced). */
  get starts(): number {
    return this.#starts
  }

  /**
   * Hands an accepted upgrade to the child, which completes the handshake; `onOpen` gets the connection's stand-in
   * once it is open. A failed handshake (answered 400 by `ws`) or a peer gone first never calls `onOpen`.
   */
  adopt(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    onOpen: (ws: PumpedSocket) => void,
    onFailed?: () => void,
  ): void {
    const child = this.#closed || socket.destroyed ? undefined : this.#ensureChild()
    if (child === undefined) {
      socket.destroy()
      onFailed?.()
      return
    }
    this.#nextId = this.#nextId >= 0xffff_ffff ? 1 : this.#nextId + 1
    const id = this.#nextId
    const entry: Entry = { ws: new PumpedSocket(this, id), onOpen, onFailed, handoff: socket }
    this.#conns.set(id, entry)
    this.#opening++
    const msg: AdoptMessage = {
      type: 'adopt',
      id,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      head: head.toString('base64'),
    }
    // Sent with `keepOpen`, then this process's copy of the descriptor is closed by `destroy()` (no FIN: the child's
    // copy keeps the connection). That way the HTTP server counts the connection as ended here, as for a socket
    // `ws` closes. Without `socket.server`, Node does not track the socket as held by a "worker" either: that
    // tracking would make `server.close()` wait for the child to report it closed, and never return once the child
    // is gone. Nothing arrives on the socket meanwhile: a WebSocket client sends only after the 101 (the child's).
    ;(socket as Socket & { server: unknown }).server = null
    // If the child dies with handoffs still queued, their callbacks never run: `#onExit` destroys those copies.
    child.send(msg, socket as Socket, { keepOpen: true }, (err) => {
      entry.handoff = undefined
      socket.destroy()
      if (err !== null && err !== undefined) this.#forget(id)
    })
  }

  /** Queues a record for the child (used by {@link PumpedSocket}). */
  record(type: number, id: number, payload?: Uint8Array): void {
    this.#writer?.add(type, id, payload)
  }

  /** Stops the child (its connections close with it). Resolves once it has exited. */
  async close(): Promise<void> {
    this.#closed = true
    const child = this.#child
    if (child === undefined) return
    this.#writer?.flush()
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve()
      else child.once('exit', () => resolve())
    })
    if (child.connected) child.disconnect()
    const kill = setTimeout(() => child.kill('SIGKILL'), 2000)
    await exited
    clearTimeout(kill)
  }

  /** The running child, started if need be; `undefined` when it cannot be started (e.g. out of descriptors). */
  #ensureChild(): ChildProcess | undefined {
    if (this.#child !== undefined) return this.#child
    let child: ChildProcess
    try {
      child = fork(CHILD, [], {
        stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'ipc'],
        execArgv: [],
        serialization: 'json',
      })
    } catch (err) {
      this.#opts.log?.('error', 'socket process could not start', { err })
      return undefined
    }
    // First of all: a spawn that failed (EMFILE, EAGAIN) reports it as an 'error' event, which must be handled.
    child.on('error', (err) => {
      this.#opts.log?.('error', 'socket process error', { err })
      // A child that could not even start never exits: forget it, so that the next upgrade tries again.
      if (child.pid === undefined) this.#onExit(child, null, null)
    })
    child.once('exit', (code, signal) => this.#onExit(child, code, signal))
    const pipe = child.stdio?.[3] as Duplex | null | undefined
    if (child.pid === undefined || pipe === null || pipe === undefined) {
      this.#opts.log?.('error', 'socket process could not start', { pid: child.pid })
      child.kill('SIGKILL')
      return undefined
    }
    this.#starts++
    const stuckMs = this.#opts.stuckMs ?? 30_000
    let stuck: NodeJS.Timeout | undefined
    pipe.on('drain', () => {
      clearTimeout(stuck)
      stuck = undefined
    })
    const writer = new RecordWriter((chunk) => {
      if (pipe.write(chunk) || stuck !== undefined) return
      stuck = setTimeout(() => {
        this.#opts.log?.('error', 'socket process not reading: restarting it', {
          pid: child.pid,
          queuedBytes: pipe.writableLength,
        })
        child.kill('SIGKILL')
      }, stuckMs)
      stuck.unref()
    })
    child.once('exit', () => clearTimeout(stuck))
    const reader = new RecordReader((type, id, payload) => this.#onRecord(type, id, payload))
    pipe.on('data', (chunk: Buffer) => reader.push(chunk))
    pipe.on('error', () => child.kill('SIGKILL'))
    const config: PumpConfig = {
      type: 'config',
      maxPayloadBytes: this.#opts.maxPayloadBytes,
      maxOutboundBytes: this.#opts.maxOutboundBytes,
      closeGraceMs: this.#opts.closeGraceMs,
    }
    child.send(config)
    this.#child = child
    this.#pipe = pipe
    this.#writer = writer
    return child
  }

  #onRecord(type: number, id: number, payload: Buffer): void {
    const e = this.#conns.get(id)
    if (e === undefined) return
    const ws = e.ws
    try {
      switch (type) {
        case REC.open:
          this.#opening--
          ws.readyState = 1
          e.onOpen(ws)
          return
        case REC.message:
          ws.emit('message', payload.subarray(1), payload[0] === 1)
          return
        case REC.pong:
          ws.emit('pong')
          return
        case REC.closed:
          this.#forget(id)
          ws.readyState = 3
          ws.emit('close', payload.readUInt16LE(0))
          return
        case REC.slow:
          this.#opts.log?.('warn', 'slow consumer closed by the socket process', { connection: id })
          this.#forget(id)
          ws.readyState = 3
          ws.emit('close', CLOSE_SLOW_CONSUMER)
          return
      }
    } catch (err) {
      // A listener's failure must cost this connection only.
      this.#opts.log?.('error', 'socket process record handling failed', { err })
      ws.terminate()
    }
  }

  /** Drops a connection's entry (its `closed` record came, or its handoff failed). */
  #forget(id: number): void {
    const e = this.#conns.get(id)
    if (e === undefined) return
    this.#conns.delete(id)
    if (e.ws.readyState === 0) {
      this.#opening--
      this.#failed(e)
    }
  }

  #failed(e: Entry): void {
    try {
      e.onFailed?.()
    } catch (err) {
      this.#opts.log?.('error', 'socket process handoff failure handling failed', { err })
    }
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#child !== child) return
    this.#child = undefined
    this.#pipe?.destroy()
    this.#pipe = undefined
    this.#writer = undefined
    if (!this.#closed || this.#conns.size > 0)
      this.#opts.log?.(this.#closed ? 'info' : 'error', 'socket process exited', {
        code,
        signal,
        connections: this.#conns.size,
      })
    const lost = [...this.#conns.values()]
    this.#conns.clear()
    this.#opening = 0
    for (const e of lost) {
      const { ws, handoff } = e
      // Handoffs still queued in Node died with the child: this process's copy is all that holds the connection.
      handoff?.destroy()
      if (ws.readyState === 0) {
        this.#failed(e) // never opened: no session knows it
        continue
      }
      ws.readyState = 3
      try {
        ws.emit('close', 1006)
      } catch (err) {
        this.#opts.log?.('error', 'socket process close handling failed', { err })
      }
    }
  }
}
