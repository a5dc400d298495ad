/**
 * Ping/pong liveness for many sockets on one timer (reliability.md §2.4, R20): every `intervalMs` each socket is
 * pinged; a socket that has not answered `maxMissed` pings in a row is reported dead and dropped.
 *
 * One shared timer instead of one per socket keeps idle connections cheap.
 *
 * @module
 */
import type { TimerHandle, Timers } from './timers.ts'

/** A socket watched by a {@link Heartbeat}. The heartbeat owns `missedPongs`. */
export interface HeartbeatTarget {
  /** Pings sent since the last pong. Reset it to 0 on every pong (see {@link Heartbeat.pong}). */
  missedPongs: number
  /** Sends a WebSocket ping. MUST NOT throw. */
  ping(): void
  /** Called once when the peer missed too many pongs; the target SHOULD terminate its socket. */
  dead(): void
}

/** Options of a {@link Heartbeat}. */
export interface HeartbeatOptions {
  /** Time between pings. Default 25 s. */
  readonly intervalMs?: number
  /** Unanswered pings after which a socket is dead. Default 2. */
  readonly maxMissed?: number
  readonly timers: Timers
}

/** Pings a set of sockets on a shared interval and reports the ones that stopped answering. */
export class Heartbeat {
  readonly #targets = new Set<HeartbeatTarget>()
  readonly #intervalMs: number
  readonly #maxMissed: number
  readonly #timers: Timers
  #timer: TimerHandle | undefined

  constructor(opts: HeartbeatOptions) {
    this.#intervalMs = opts.intervalMs ?? 25_000
    this.#maxMissed = opts.maxMissed ?? 2
    this.#timers = opts.timers
    if (!(this.#intervalMs > 0) || !(this.#maxMissed >= 1)) {
      throw new RangeError('Heartbeat: intervalMs must be > 0 and maxMissed ≥ 1')
    }
  }

  get size(): number {
    return this.#targets.size
  }

  add(target: HeartbeatTarget): void {
    target.missedPongs = 0
    this.#targets.add(target)
    if (this.#timer === undefined) this.#arm()
  }

  remove(target: HeartbeatTarget): void {
    this.#targets.delete(target)
  }

  /** Records a pong from `target`. */
  pong(target: HeartbeatTarget): void {
    target.missedPongs = 0
  }

  stop(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer)
    this.#timer = undefined
    this.#targets.clear()
  }

  #arm(): void {
    this.#timer = this.#timers.setTimeout(() => this.#tick(), this.#intervalMs)
  }

  #tick(): void {
    this.#timer = undefined
    for (const t of [...this.#targets]) {
      if (t.missedPongs >= this.#maxMissed) {
        this.#targets.delete(t)
        t.dead()
        continue
      }
      t.missedPongs++
      t.ping()
    }
    if (this.#targets.size > 0) this.#arm()
  }
}
