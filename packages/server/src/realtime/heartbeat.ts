/**
 * Ping/pong liveness for many sockets on one timer (reliability.md §2.4, R20): every `intervalMs` each socket is
 * pinged; a socket that has not answered `maxMissed` pings in a row is reported dead and dropped.
 *
 * One shared timer instead of one per socket keeps idle connections cheap. A round is spread over the interval in
 * slices of about {@link SLICE_MS} (at most {@link MAX_SLICES}), each pinging its share of the sockets, so that
 * 10,000 connections do not all get a ping frame written (and answer it) in the same turn of the event loop.
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

/** The target length of one slice of a round. */
export const SLICE_MS = 250
/** Most slices per round. */
export const MAX_SLICES = 100

/** Pings a set of sockets on a shared interval and reports the ones that stopped answering. */
export class Heartbeat {
  readonly #targets = new Set<HeartbeatTarget>()
  readonly #intervalMs: number
  readonly #maxMissed: number
  readonly #timers: Timers
  #timer: TimerHandle | undefined
  readonly #slices: number
  /** The targets of the current round (a snapshot taken when it starts), and how far the round has got. */
  #round: HeartbeatTarget[] = []
  #slice = 0

  constructor(opts: HeartbeatOptions) {
    this.#intervalMs = opts.intervalMs ?? 25_000
    this.#maxMissed = opts.maxMissed ?? 2
    this.#timers = opts.timers
    if (!(this.#intervalMs > 0) || !(this.#maxMissed >= 1)) {
      throw new RangeError('Heartbeat: intervalMs must be > 0 and maxMissed ≥ 1')
    }
    this.#slices = Math.min(MAX_SLICES, Math.max(1, Math.floor(this.#intervalMs / SLICE_MS)))
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
    this.#round = []
    this.#slice = 0
  }

  #arm(): void {
    this.#timer = this.#timers.setTimeout(() => this.#tick(), this.#intervalMs / this.#slices)
  }

  /**
   * One slice of a round. Slice 0 takes a snapshot of the targets (one added later waits for the next round); slice
   * `k` of `S` handles targets `⌊k·N/S⌋` to `⌊(k+1)·N/S⌋ − 1`, so every target is handled once per `intervalMs`.
   */
  #tick(): void {
    this.#timer = undefined
    if (this.#slice === 0) this.#round = [...this.#targets]
    const n = this.#round.length
    const from = Math.floor((this.#slice * n) / this.#slices)
    const to = Math.floor(((this.#slice + 1) * n) / this.#slices)
    for (let i = from; i < to; i++) {
      const t = this.#round[i]!
      if (!this.#targets.has(t)) continue
      if (t.missedPongs >= this.#maxMissed) {
        this.#targets.delete(t)
        t.dead()
        continue
      }
      t.missedPongs++
      t.ping()
    }
    this.#slice = (this.#slice + 1) % this.#slices
    if (this.#slice === 0) this.#round = []
    if (this.#targets.size > 0) this.#arm()
    else {
      this.#slice = 0
      this.#round = []
    }
  }
}
