/**
 * The clock and timers the realtime gateways run on, injectable so that lifecycle tests can move time by hand.
 *
 * @module
 */

/** An opaque timer handle returned by {@link Timers.setTimeout}. */
export type TimerHandle = { readonly __timer: unique symbol } | object

/**
 * Wall-clock time and one-shot timers.
 *
 * Implementations MUST call each callback at most once, MUST NOT call a cleared callback, and MUST NOT keep the
 * process alive only because of a pending timer (Node: `unref()`).
 */
export interface Timers {
  /** Milliseconds since the Unix epoch. */
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

/** Node's largest timer delay (2^31 − 1 ms, about 24.8 days); longer delays fire at once. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1

/** Real time: `Date.now()` and unref'd Node timers. */
export const systemTimers: Timers = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_DELAY_MS))
    t.unref()
    return t
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>)
  },
}
