/**
 * Bounded outbound buffering (reliability.md §2.4): a socket whose unsent bytes would exceed the limit is a slow
 * consumer and gets closed instead of letting its queue grow without bound.
 *
 * @module
 */

/** Close code for a slow consumer (Parley's private-use code, reliability.md §2.4). */
export const CLOSE_SLOW_CONSUMER = 4008

/** The part of a `ws` WebSocket this module needs. */
export interface BufferedSocket {
  /** Bytes accepted by `send` but not yet written to the kernel (`ws` includes its own queue). */
  readonly bufferedAmount: number
  send(data: Buffer, cb?: (err?: Error) => void): void
}

/**
 * Sends `data` unless that would leave more than `maxBytes` unsent on the socket.
 *
 * @returns `true` when sent; `false` when the socket is over its limit (the caller closes it with
 *   {@link CLOSE_SLOW_CONSUMER}). Nothing is sent in that case.
 */
export function sendBounded(socket: BufferedSocket, data: Buffer, maxBytes: number): boolean {
  if (socket.bufferedAmount + data.length > maxBytes) return false
  socket.send(data)
  return true
}

/**
 * What a connection's owner needs of its WebSocket: `ws`'s `WebSocket`, or the socket process's stand-in
 * (`pump/parent.ts`). `readyState` as in `ws` (1 open).
 */
export interface MessageSocket extends BufferedSocket {
  readonly readyState: number
  ping(): void
  close(code?: number, reason?: string): void
  terminate(): void
  on(
    event: 'message',
    listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void,
  ): this
  on(event: 'pong', listener: () => void): this
  on(event: 'error', listener: (err: Error) => void): this
  on(event: 'close', listener: (code: number) => void): this
}

/** The part of a `net.Socket` that {@link WriteBatcher} needs. */
export interface CorkableSocket {
  cork(): void
  uncork(): void
}

/**
 * Bytes held back in one batch before it is flushed early, so that a burst (e.g. a replay) reaches the kernel as it
 * did before batching and the slow-consumer bound keeps measuring what the peer has not read.
 */
export const MAX_BATCH_BYTES = 64 * 1024

let pending: WriteBatcher[] = []
let scheduled = false

function flushAll(): void {
  scheduled = false
  const batch = pending
  pending = []
  for (const b of batch) b.flush()
}

/**
 * Coalesces the writes of one event-loop turn on one socket into one `writev`: the socket is corked before the first
 * write of a turn and uncorked once when the turn's JavaScript is done (`process.nextTick`, one for all sockets: after
 * the current callback and the promise jobs it started, so a whole fan-out, pumps and all, is one batch), or as soon
 * as {@link MAX_BATCH_BYTES} are held. Corked bytes stay in the socket's writable buffer, so `ws`'s `bufferedAmount`
 * (and {@link sendBounded}) count them. `ws`'s own frames (ping, pong, close) join the batch when they are written in
 * the same turn; `end()` uncorks by itself, and uncorking a destroyed socket is a no-op.
 *
 * `process.nextTick` rather than `setImmediate`: the fan-out bench batches the same (≈1.09 writes per `writev`)
 * with lower latency, since `setImmediate` from inside a check-phase callback (the store's commit batch) waits for the
 * next loop iteration's poll phase.
 */
export class WriteBatcher {
  readonly #socket: CorkableSocket
  #corked = false
  #bytes = 0

  constructor(socket: CorkableSocket) {
    this.#socket = socket
  }

  /** Call before writing: corks the socket for the rest of this turn. */
  hold(): void {
    if (this.#corked) return
    this.#corked = true
    this.#socket.cork()
    pending.push(this)
    if (!scheduled) {
      scheduled = true
      process.nextTick(flushAll)
    }
  }

  /** Call after writing `n` bytes; flushes early past {@link MAX_BATCH_BYTES}. */
  wrote(n: number): void {
    this.#bytes += n
    if (this.#bytes >= MAX_BATCH_BYTES) this.flush()
  }

  /** Writes out what is held (one `writev`). Idempotent. */
  flush(): void {
    if (!this.#corked) return
    this.#corked = false
    this.#bytes = 0
    this.#socket.uncork()
  }

  /** Flushes what is held and corks again; `false` (and nothing done) when nothing was held. */
  flushAndHold(): boolean {
    if (this.#bytes === 0) return false
    this.flush()
    this.hold()
    return true
  }
}

/**
 * Sends `data` on a socket whose turn's writes `batcher` coalesces (if any), within the slow-consumer bound: over the
 * limit with a batch held, the batch goes to the kernel first (as unbatched writes would have), then the bound is
 * judged again on what the kernel could not take.
 *
 * @returns `false` when the socket is a slow consumer (nothing sent; the caller closes it with
 *   {@link CLOSE_SLOW_CONSUMER}).
 */
export function sendWithin(
  socket: BufferedSocket,
  batcher: WriteBatcher | undefined,
  data: Buffer,
  maxBytes: number,
): boolean {
  batcher?.hold()
  if (
    sendBounded(socket, data, maxBytes) ||
    (batcher?.flushAndHold() === true && sendBounded(socket, data, maxBytes))
  ) {
    batcher?.wrote(data.length)
    return true
  }
  return false
}
