/**
 * Rate limiting of failed Basic-auth attempts per client address (reliability.md §2.10: "Failed auth attempts are
 * rate-limited"). A fixed window per address: after `limit` failures within `windowMs`, every request from that
 * address is answered 429 (20429) without checking credentials until the window ends. Successful requests are never
 * counted, so one noisy client cannot lock out others.
 *
 * @module
 */

/** Tracks failed authentications by client address. */
export class AuthFailureLimiter {
  readonly #limit: number
  readonly #windowMs: number
  readonly #now: () => number
  readonly #byKey = new Map<string, { count: number; resetAt: number }>()

  /** @param limit - failures allowed per window; 0 disables the limiter. */
  constructor(limit: number, windowMs: number, now: () => number = Date.now) {
    this.#limit = limit
    this.#windowMs = windowMs
    this.#now = now
  }

  /** Milliseconds until `key` may try again, or 0 when it is not blocked. */
  blockedFor(key: string): number {
    if (this.#limit === 0) return 0
    const e = this.#byKey.get(key)
    if (e === undefined) return 0
    const now = this.#now()
    if (now >= e.resetAt) {
      this.#byKey.delete(key)
      return 0
    }
    return e.count >= this.#limit ? e.resetAt - now : 0
  }

  /** Count one failed attempt from `key`. */
  fail(key: string): void {
    if (this.#limit === 0) return
    const now = this.#now()
    const e = this.#byKey.get(key)
    if (e === undefined || now >= e.resetAt) {
      if (this.#byKey.size >= 100_000) this.#prune(now)
      this.#byKey.set(key, { count: 1, resetAt: now + this.#windowMs })
    } else {
      e.count++
    }
  }

  #prune(now: number): void {
    for (const [k, e] of this.#byKey) if (now >= e.resetAt) this.#byKey.delete(k)
    // Still full (an address-spraying flood): forget the oldest half rather than grow without bound.
    if (this.#byKey.size >= 100_000) {
      let n = this.#byKey.size / 2
      for (const k of this.#byKey.keys()) {
        if (n-- <= 0) break
        this.#byKey.delete(k)
      }
    }
  }
}
