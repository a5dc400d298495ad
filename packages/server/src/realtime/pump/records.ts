/**
 * The records the server and its socket process exchange over one pipe (see `parent.ts`): every socket's WebSocket
 * messages and control events, multiplexed by connection id, many records per pipe write.
 *
 * A record is `u32 length` (of what follows), `u8 type`, `u32 connection id`, then the type's payload; integers are
 * little-endian. Payloads: {@link REC.send} and {@link REC.message} the WebSocket message (`message` first has a `u8`
 * 1 for binary, 0 for text); {@link REC.close} a `u16` close code then the reason in UTF-8; {@link REC.closed} the
 * `u16` close code `ws` reported; the others none.
 *
 * @module
 */

/** Record types: 1–9 from the server to the socket process, 11–19 back. */
export const REC = {
  /** Send this binary WebSocket message (within the slow-consumer bound). */
  send: 1,
  ping: 2,
  /** Start the closing handshake with this code and reason. */
  close: 3,
  /** Cut the connection. */
  terminate: 4,
  /** The handshake completed: the connection is open. */
  open: 11,
  /** A WebSocket message arrived. */
  message: 12,
  pong: 13,
  /** The connection is gone (also when the handshake failed); no record for it follows. */
  closed: 14,
  /**
   * The connection is a slow consumer: the socket process is closing it (4008, then cut after the grace). For the
   * server it is gone now, as after {@link REC.closed} with 4008; no record for it follows.
   */
  slow: 15,
} as const

const HEADER = 9

/** Records a pipe write may carry before it is written out early. */
const FLUSH_BYTES = 256 * 1024

/**
 * Collects records and writes them with one call per batch, or earlier once {@link FLUSH_BYTES} are held. A batch ends
 * with the current callback (`'tick'`: `process.nextTick`, after its JavaScript and promise jobs, like
 * `WriteBatcher`; right for the server, whose fan-out runs in one callback) or with the event-loop iteration
 * (`'iteration'`: `setImmediate`, after every I/O callback of the poll phase; right for the socket process, where
 * each socket's read is its own callback).
 */
export class RecordWriter {
  readonly #write: (chunk: Buffer) => void
  readonly #defer: (fn: () => void) => void
  /** Reused between batches: each batch is copied out to a buffer of its own size. */
  #buf = Buffer.allocUnsafe(64 * 1024)
  #len = 0
  #scheduled = false
  readonly #flushScheduled = (): void => {
    this.#scheduled = false
    this.flush()
  }

  /** @param write Takes ownership of each chunk (it is never written to again). */
  constructor(write: (chunk: Buffer) => void, batch: 'tick' | 'iteration' = 'tick') {
    this.#write = write
    this.#defer = batch === 'tick' ? (fn) => process.nextTick(fn) : (fn) => setImmediate(fn)
  }

  /** Queues a record; `a` and `b` are its payload, in that order. */
  add(type: number, id: number, a?: Uint8Array, b?: Uint8Array): void {
    const body = 5 + (a?.length ?? 0) + (b?.length ?? 0)
    this.#reserve(4 + body)
    const buf = this.#buf
    let at = this.#len
    buf.writeUInt32LE(body, at)
    buf[at + 4] = type
    buf.writeUInt32LE(id, at + 5)
    at += HEADER
    if (a !== undefined) {
      buf.set(a, at)
      at += a.length
    }
    if (b !== undefined) {
      buf.set(b, at)
      at += b.length
    }
    this.#len = at
    if (at >= FLUSH_BYTES) this.flush()
    else if (!this.#scheduled) {
      this.#scheduled = true
      this.#defer(this.#flushScheduled)
    }
  }

  /** Writes out what is queued. */
  flush(): void {
    if (this.#len === 0) return
    // Small batches land in Node's shared pool (`allocUnsafe` under 4 KiB), not in a fresh allocation each.
    const out = Buffer.allocUnsafe(this.#len)
    this.#buf.copy(out, 0, 0, this.#len)
    this.#len = 0
    this.#write(out)
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n))
    this.#buf.copy(next, 0, 0, this.#len)
    this.#buf = next
  }
}

/** A `u16` close code, then the reason in UTF-8 (the {@link REC.close} payload). */
export function closePayload(code: number, reason = ''): Buffer {
  const reasonBytes = Buffer.from(reason, 'utf8')
  const out = Buffer.allocUnsafe(2 + reasonBytes.length)
  out.writeUInt16LE(code, 0)
  reasonBytes.copy(out, 2)
  return out
}

/** A `u16` (the {@link REC.closed} payload, and the code of a {@link REC.close} one). */
export function u16(code: number): Buffer {
  const out = Buffer.allocUnsafe(2)
  out.writeUInt16LE(code, 0)
  return out
}

/** Splits the pipe's byte stream back into records. */
export class RecordReader {
  readonly #on: (type: number, id: number, payload: Buffer) => void
  /** The start of an incomplete record, in the chunks that carried it so far (joined once it is complete). */
  #rest: Buffer[] = []
  #restBytes = 0
  /** That record's total size, once its length prefix has arrived. */
  #need = 0

  /** @param on Called for each complete record, in order; `payload` is a view into the chunk that carried it. */
  constructor(on: (type: number, id: number, payload: Buffer) => void) {
    this.#on = on
  }

  push(chunk: Buffer): void {
    let buf = chunk
    if (this.#restBytes > 0) {
      this.#rest.push(chunk)
      this.#restBytes += chunk.length
      if (this.#need === 0 && this.#restBytes >= 4) {
        const head = Buffer.concat(this.#rest)
        this.#rest = [head]
        this.#need = 4 + head.readUInt32LE(0)
      }
      // A large record arrives in many chunks: they are joined once, when it is complete.
      if (this.#need === 0 || this.#restBytes < this.#need) return
      buf = Buffer.concat(this.#rest, this.#restBytes)
      this.#rest = []
      this.#restBytes = 0
      this.#need = 0
    }
    let at = 0
    while (at + 4 <= buf.length) {
      const body = buf.readUInt32LE(at)
      if (body < 5) throw new RangeError('socket pipe: malformed record')
      const end = at + 4 + body
      if (end > buf.length) break
      this.#on(buf[at + 4]!, buf.readUInt32LE(at + 5), buf.subarray(at + HEADER, end))
      at = end
    }
    if (at < buf.length) {
      const rest = buf.subarray(at)
      this.#rest = [rest]
      this.#restBytes = rest.length
      this.#need = rest.length >= 4 ? 4 + rest.readUInt32LE(0) : 0
    }
  }
}
