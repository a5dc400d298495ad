/**
 * Token-bucket rate limiting (reliability.md §2.3): per connection, and by key (per identity, per client address).
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

  /** Whether the bucket holds its whole burst again (then it is as good as a new one). */
  isFull(nowMs: number): boolean {
    this.#refill(nowMs)
    return this.#tokens >= this.#capacity
  }

  #refill(nowMs: number): void {
    const elapsed = nowMs - this.#last
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#capacity, this.#tokens + elapsed * this.#perMs)
      this.#last = nowMs
    }
  }
}

/**
 * Token buckets by key (a client address, an identity), all with the same options. A key's bucket lives while someone
 * holds it ({@link KeyedBuckets.acquire}) or while it is not full again; a full bucket nobody holds is the same as a
 * fresh one, so such entries are dropped, in a sweep each time the map has doubled since the last one. The map thus
 * holds the keys in use or active within the last refill time, and reconnecting does not refill a bucket.
 *
 * @example
 * ```ts
 * const perIdentity = new KeyedBuckets({ capacity: 300, refillPerSecond: 150 })
 * const bucket = perIdentity.acquire(identity, now)   // shared by every session of the identity
 * if (!bucket.take(now)) replyTooManyRequests()
 * perIdentity.release(identity, now)                  // when the session ends
 * ```
 */
export class KeyedBuckets {
  readonly #opts: TokenBucketOptions
  readonly #entries = new Map<string, { bucket: TokenBucket; holders: number }>()
  #sweepAt = 1024

  constructor(opts: TokenBucketOptions) {
    // Validates the options once, up front.
    new TokenBucket(opts, 0)
    this.#opts = opts
  }

  /** Keys tracked now (held, or not yet refilled). */
  get size(): number {
    return this.#entries.size
  }

  /** The bucket of `key`, shared with its other holders, until {@link release}. */
  acquire(key: string, nowMs: number): TokenBucket {
    const e = this.#entry(key, nowMs)
    e.holders++
    return e.bucket
  }

  /** Ends one {@link acquire} of `key`. */
  release(key: string, nowMs: number): void {
    const e = this.#entries.get(key)
    if (e === undefined || e.holders === 0) return
    e.holders--
    if (e.holders === 0 && e.bucket.isFull(nowMs)) this.#entries.delete(key)
  }

  /** The bucket of `key` for a single use (not held: it may be dropped once full). */
  get(key: string, nowMs: number): TokenBucket {
    return this.#entry(key, nowMs).bucket
  }

  /** The bucket of `key` if it is tracked (else it is full). */
  peek(key: string): TokenBucket | undefined {
    return this.#entries.get(key)?.bucket
  }

  #entry(key: string, nowMs: number): { bucket: TokenBucket; holders: number } {
    let e = this.#entries.get(key)
    if (e === undefined) {
      if (this.#entries.size >= this.#sweepAt) {
        for (const [k, v] of this.#entries) {
          if (v.holders === 0 && v.bucket.isFull(nowMs)) this.#entries.delete(k)
        }
        this.#sweepAt = Math.max(1024, 2 * this.#entries.size)
      }
      e = { bucket: new TokenBucket(this.#opts, nowMs), holders: 0 }
      this.#entries.set(key, e)
    }
    return e
  }
}
