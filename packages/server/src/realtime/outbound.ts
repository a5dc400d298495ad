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

/** The raw socket under a WebSocket, as {@link FramedSocket} and {@link WriteBatcher} use it. */
export interface RawSocket extends CorkableSocket {
  write(data: Buffer): boolean
}

/**
 * A whole unmasked, final, binary WebSocket frame (RFC 6455 §5.2) holding `payload`: what a server sends, in one
 * buffer.
 */
export function binaryFrame(payload: Buffer): Buffer {
  const n = payload.length
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + n)
  frame[0] = 0x82 // FIN, opcode 2 (binary)
  if (head === 2) frame[1] = n
  else if (head === 4) {
    frame[1] = 126
    frame.writeUInt16BE(n, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2)
    frame.writeUInt32BE(n >>> 0, 6)
  }
  payload.copy(frame, head)
  return frame
}

/**
 * Sends binary messages of a `ws` WebSocket as whole frames written straight to its raw socket: one buffer and one
 * write per message, where `ws`'s sender writes a header and the payload as two (a cork, a two-buffer `writev`, and
 * their bookkeeping on every delivery: ≈ 10 % of the server's allocations in the fan-out). Safe alongside `ws`,
 * which writes its own frames (ping, pong, close) to the same socket synchronously: without per-message deflate
 * (off, `webSocketServerOptions`) its sender never queues, so the order of writes is the order of frames. The
 * caller sends only while the WebSocket is open. `bufferedAmount` is `ws`'s, which counts the socket's buffer.
 */
export class FramedSocket implements BufferedSocket {
  readonly #ws: { readonly bufferedAmount: number }
  readonly #raw: RawSocket

  constructor(ws: { readonly bufferedAmount: number }, raw: RawSocket) {
    this.#ws = ws
    this.#raw = raw
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount
  }

  send(data: Buffer): void {
    this.#raw.write(binaryFrame(data))
  }
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
 * Coalesces the writes of one event-loop turn on one socket: the first write of a turn goes straight to the socket;
 * if a second one follows in the same turn, the socket is corked and the rest of the turn's writes go out together in
 * one `writev` once the turn's JavaScript is done (`process.nextTick`, one for all sockets: after the current callback
 * and the promise jobs it started, so a whole fan-out, pumps and all, is one batch), or as soon as
 * {@link MAX_BATCH_BYTES} are held. In a fan-out a socket gets ≈ 1.09 writes per turn, so corking every turn only
 * added the stream's buffering to nearly every write; bursts (a replay) are still batched. Corked bytes stay in the
 * socket's writable buffer, so `ws`'s `bufferedAmount` (and {@link sendBounded}) count them. `ws`'s own frames (ping,
 * pong, close) join the batch when they are written in the same turn; `end()` uncorks by itself, and uncorking a
 * destroyed socket is a no-op.
 *
 * `process.nextTick` rather than `setImmediate`: the fan-out bench batches the same with lower latency, since
 * `setImmediate` from inside a check-phase callback (the store's commit batch) waits for the next loop iteration's
 * poll phase.
 */
export class WriteBatcher {
  readonly #socket: CorkableSocket
  /** Written to in this turn (the turn's end is scheduled). */
  #active = false
  #corked = false
  #bytes = 0

  constructor(socket: CorkableSocket) {
    this.#socket = socket
  }

  /** Call before writing: the turn's second write corks the socket for the rest of the turn. */
  hold(): void {
    if (this.#corked) return
    if (!this.#active) {
      this.#active = true
      pending.push(this)
      if (!scheduled) {
        scheduled = true
        process.nextTick(flushAll)
      }
      return
    }
    this.#corked = true
    this.#socket.cork()
  }

  /** Call after writing `n` bytes; flushes early past {@link MAX_BATCH_BYTES} held. */
  wrote(n: number): void {
    if (!this.#corked) return
    this.#bytes += n
    if (this.#bytes >= MAX_BATCH_BYTES) this.flush()
  }

  /** Writes out what is held (one `writev`) and ends the turn's batch. Idempotent. */
  flush(): void {
    this.#active = false
    if (!this.#corked) return
    this.#corked = false
    this.#bytes = 0
    this.#socket.uncork()
  }

  /** Flushes what is held and corks again; `false` (and nothing done) when nothing was held. */
  flushAndHold(): boolean {
    if (this.#bytes === 0) return false
    // Still corked and in this turn's batch afterwards: only the held bytes go out.
    this.#bytes = 0
    this.#socket.uncork()
    this.#socket.cork()
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
