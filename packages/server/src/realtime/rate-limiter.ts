/**
 * Token-bucket rate limiting for one connection (reliability.md §2.3).
 *
 * @module
 */

/** Options of a {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Largest burst: the bucket starts full with this many tokens. */
  readonly capacity: number
  /** Tokens added per second. */
  readonly refillPerSecond: number
}

/**
 * A token bucket that refills continuously. Time comes from the caller so that tests need no real clock.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ capacity: 100, refillPerSecond: 50 }, Date.now())
 * if (!bucket.take(Date.now())) replyTooManyRequests()
 * ```
 */
export class TokenBucket {
  readonly #capacity: number
  readonly #perMs: number
  #tokens: number
  #last: number

  constructor(opts: TokenBucketOptions, nowMs: number) {
    if (!(opts.capacity > 0) || !(opts.refillPerSecond >= 0)) {
      throw new RangeError('TokenBucket: capacity must be > 0 and refillPerSecond ≥ 0')
    }
    this.#capacity = opts.capacity
    this.#perMs = opts.refillPerSecond / 1000
    this.#tokens = opts.capacity
    this.#last = nowMs
  }

  /** Takes `n` tokens if available; returns whether it did. */
  take(nowMs: number, n = 1): boolean {
    this.#refill(nowMs)
    if (this.#tokens < n) return false
    this.#tokens -= n
    return true
  }

  /** Milliseconds until `n` tokens will be available (0 when they are now). */
  retryAfterMs(nowMs: number, n = 1): number {
    this.#refill(nowMs)
    if (this.#tokens >= n) return 0
    if (this.#perMs === 0) return Number.POSITIVE_INFINITY
    return Math.ceil((n - this.#tokens) / this.#perMs)
  }

  #refill(nowMs: number): void {
    const elapsed = nowMs - this.#last
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#capacity, this.#tokens + elapsed * this.#perMs)
      this.#last = nowMs
    }
  }
}
