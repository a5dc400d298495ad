/**
 * Ping/pong liveness for many sockets on one timer (reliability.md §2.4 "ping every 25 s; close after 2 missed pongs",
 * R20 "the server closes its socket within 2 × ping interval + 5 s"): every socket is pinged once per `intervalMs`, and
 * one that has not answered for `maxMissed × intervalMs` is reported dead and dropped.
 *
 * One shared timer instead of one per socket keeps idle connections cheap. It ticks `S` times per interval
 * (`S = ⌊intervalMs / SLICE_MS⌋`, clamped to 1…{@link MAX_SLICES}; one tick is `intervalMs / S`, 250 ms at the
 * default 25 s). Each socket gets a slot, the least loaded one when it is added, and is pinged on every tick of that
 * slot, so that 10,000 connections do not all get a ping frame written (and answer it) in the same turn of the event
 * loop. The slot is fixed: opening or closing other sockets never moves a socket's pings.
 *
 * **The bound, exactly.** The heartbeat sees a pong as `missedPongs` back at 0, and looks at every socket with a ping
 * outstanding on every tick. A socket whose last pong (or its {@link Heartbeat.add}) came after tick `k` and before
 * tick `k + 1` is reported dead on tick `k + 1 + maxMissed·S` unless it pongs again: the first tick at least
 * `maxMissed × intervalMs` after that pong, so between `maxMissed × intervalMs` and that plus one tick after it
 * (50 s to 50.25 s at the defaults, inside R20's 55 s). Its slot comes round exactly `maxMissed` times in between, so
 * it is sent exactly `maxMissed` pings; the last one has as many ticks to be answered as its last pong took, rounded up
 * (at least one tick). Ticks are scheduled against `timers.now()`, so a late timer delays one tick, not all later ones.
 *
 * @module
 */
import type { TimerHandle, Timers } from './timers.ts'

/** A socket watched by a {@link Heartbeat}. The heartbeat owns `missedPongs`. */
export interface HeartbeatTarget {
  /**
   * Pings sent since the last pong; the heartbeat increments it on every ping. Reset it to 0 on every pong (or call
   * {@link Heartbeat.pong}): that is how the heartbeat learns of the pong, on its next tick.
   */
  missedPongs: number
  /** Sends a WebSocket ping. MUST NOT throw. */
  ping(): void
  /** Called once when the peer stopped answering; the target SHOULD terminate its socket. */
  dead(): void
}

/** Options of a {@link Heartbeat}. */
export interface HeartbeatOptions {
  /** Time between pings. Default 25 s. */
  readonly intervalMs?: number
  /**
   * Unanswered pings after which a socket is dead: it is reported dead `maxMissed × intervalMs` (plus at most one
   * tick) after its last pong, having been sent `maxMissed` pings meanwhile. Default 2.
   */
  readonly maxMissed?: number
  readonly timers: Timers
}

/** The target length of one tick (slice of an interval). */
export const SLICE_MS = 250
/** Most ticks per interval. */
export const MAX_SLICES = 100

/** What the heartbeat keeps per target. */
interface Entry {
  readonly target: HeartbeatTarget
  /** Pinged on the ticks `n` with `n mod S = slot`. */
  readonly slot: number
  /** The last tick before the target's last pong (or its `add`). */
  aliveTick: number
}

/** Pings a set of sockets on a shared interval and reports the ones that stopped answering. */
export class Heartbeat {
  readonly #targets = new Map<HeartbeatTarget, Entry>()
  /** `#slots[s]`: the targets pinged on the ticks `n` with `n mod S = s`. */
  readonly #slots: Set<Entry>[]
  /** The targets with a ping outstanding, looked at on every tick for a pong or for their deadline. */
  readonly #awaiting = new Set<Entry>()
  readonly #intervalMs: number
  readonly #tickMs: number
  /** Ticks of silence after which a target is dead: `maxMissed·S`. */
  readonly #deadAfterTicks: number
  readonly #timers: Timers
  #timer: TimerHandle | undefined
  /** When the armed tick is due. */
  #due = 0
  /** Ticks run so far. */
  #tick = 0

  constructor(opts: HeartbeatOptions) {
    const intervalMs = opts.intervalMs ?? 25_000
    const maxMissed = opts.maxMissed ?? 2
    if (!(intervalMs > 0) || !(maxMissed >= 1)) {
      throw new RangeError('Heartbeat: intervalMs must be > 0 and maxMissed ≥ 1')
    }
    const slices = Math.min(MAX_SLICES, Math.max(1, Math.floor(intervalMs / SLICE_MS)))
    this.#intervalMs = intervalMs
    this.#tickMs = intervalMs / slices
    this.#deadAfterTicks = maxMissed * slices
    this.#timers = opts.timers
    this.#slots = Array.from({ length: slices }, () => new Set<Entry>())
  }

  get size(): number {
    return this.#targets.size
  }

  /** Starts watching `target`; being added counts as a pong. Its first ping comes within one interval. */
  add(target: HeartbeatTarget): void {
    const old = this.#targets.get(target)
    if (old) this.#drop(old)
    target.missedPongs = 0
    // The least loaded slot, the soonest one among equals.
    const slices = this.#slots.length
    const first = (this.#tick + 1) % slices
    let slot = first
    for (let i = 1; i < slices; i++) {
      const s = (first + i) % slices
      if (this.#slots[s]!.size < this.#slots[slot]!.size) slot = s
    }
    const e: Entry = { target, slot, aliveTick: this.#tick }
    this.#targets.set(target, e)
    this.#slots[slot]!.add(e)
    if (this.#timer === undefined) this.#arm(this.#timers.now() + this.#tickMs)
  }

  remove(target: HeartbeatTarget): void {
    const e = this.#targets.get(target)
    if (e) this.#drop(e)
  }

  /** Records a pong from `target` (the same as resetting its `missedPongs` to 0). */
  pong(target: HeartbeatTarget): void {
    target.missedPongs = 0
  }

  stop(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer)
    this.#timer = undefined
    this.#targets.clear()
    for (const s of this.#slots) s.clear()
    this.#awaiting.clear()
  }

  #drop(e: Entry): void {
    this.#targets.delete(e.target)
    this.#slots[e.slot]!.delete(e)
    this.#awaiting.delete(e)
  }

  #arm(due: number): void {
    this.#due = due
    this.#timer = this.#timers.setTimeout(() => this.#onTick(), due - this.#timers.now())
  }

  /** Tick `n`: pings slot `n mod S`, after checking each of its targets; then checks the other awaited targets. */
  #onTick(): void {
    this.#timer = undefined
    const n = ++this.#tick
    const slot = n % this.#slots.length
    for (const e of this.#slots[slot]!) {
      if (this.#died(e, n)) continue
      e.target.missedPongs++
      this.#awaiting.add(e)
      e.target.ping()
    }
    for (const e of this.#awaiting) if (e.slot !== slot) this.#died(e, n)
    if (this.#targets.size === 0) return // idle until the next add
    // After a stall of more than an interval, start afresh instead of running the missed ticks in a burst.
    const now = this.#timers.now()
    const next = this.#due + this.#tickMs
    this.#arm(now - next > this.#intervalMs ? now + this.#tickMs : next)
  }

  /**
   * On tick `n`: notes a pong that came since tick `n − 1` from a target with a ping outstanding, or reports the
   * target dead once `maxMissed·S` ticks have passed since the tick before its last pong.
   */
  #died(e: Entry, n: number): boolean {
    if (!this.#awaiting.has(e)) return false
    if (e.target.missedPongs === 0) {
      e.aliveTick = n - 1
      this.#awaiting.delete(e)
      return false
    }
    if (n - e.aliveTick <= this.#deadAfterTicks) return false
    this.#drop(e)
    e.target.dead()
    return true
  }
}
