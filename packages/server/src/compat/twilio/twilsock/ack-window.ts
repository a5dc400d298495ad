/**
 * The packets a session has sent and the client has not acknowledged yet.
 *
 * Server packet ids are a per-session prefix followed by an increasing counter in base 36, and clients ack almost
 * always in order. So instead of a `Map` of ids (whose hash table V8 reallocates every few deletes: one allocation
 * per ack or so, on every socket) the window keeps the outstanding counter values in a growable ring, oldest first;
 * an in-order ack advances the head, an out-of-order one is found by binary search and marked. Steady traffic
 * allocates nothing; ids are parsed in place.
 *
 * @module
 */

/** Outstanding packet sequence numbers of one session, in the order sent (increasing), and their sizes. */
export class AckWindow {
  /** A sequence number `s` is stored as `s` while outstanding and as `-s` once acked (both keep the order). */
  #ring = new Float64Array(8)
  /** The size of the packet at the same position of {@link #ring}. */
  #sizes = new Float64Array(8)
  #bytes = 0
  #head = 0
  /** Entries between head and tail, acked ones included. */
  #length = 0
  #outstanding = 0

  /** Packets sent and not acked. */
  get size(): number {
    return this.#outstanding
  }

  /** Bytes of the packets sent and not acked. */
  get bytes(): number {
    return this.#bytes
  }

  /** Entries the ring can hold before it grows (for tests: the window must not keep acked entries). */
  get capacity(): number {
    return this.#ring.length
  }

  /** Records a sent packet of `bytes` bytes; `seq` (≥ 1) must be greater than every earlier one. */
  add(seq: number, bytes = 0): void {
    if (this.#length === this.#ring.length) this.#grow()
    const at = (this.#head + this.#length) & (this.#ring.length - 1)
    this.#ring[at] = seq
    this.#sizes[at] = bytes
    this.#bytes += bytes
    this.#length++
    this.#outstanding++
  }

  /** Marks `seq` acked; `false` when it is not outstanding (never sent, or acked before). */
  ack(seq: number): boolean {
    if (this.#outstanding === 0 || !(seq >= 1)) return false
    const ring = this.#ring
    const mask = ring.length - 1
    if (ring[this.#head] === seq) {
      this.#outstanding--
      this.#bytes -= this.#sizes[this.#head]!
      this.#head = (this.#head + 1) & mask
      this.#length--
      // Drop the acked entries that are now at the head.
      while (this.#length > 0 && ring[this.#head]! < 0) {
        this.#head = (this.#head + 1) & mask
        this.#length--
      }
      return true
    }
    let lo = 0
    let hi = this.#length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const at = (this.#head + mid) & mask
      const v = ring[at]!
      const s = v < 0 ? -v : v
      if (s === seq) {
        if (v < 0) return false
        ring[at] = -seq
        this.#outstanding--
        this.#bytes -= this.#sizes[at]!
        return true
      }
      if (s < seq) lo = mid + 1
      else hi = mid - 1
    }
    return false
  }

  /**
   * Makes room for one more entry: drops the acked entries stuck behind an outstanding one (a packet the client
   * never acks must not make the ring grow with every later packet) and grows only when at least half the entries
   * are still outstanding, so the ring stays within twice the outstanding count (plus its initial size).
   */
  #grow(): void {
    const old = this.#ring
    const oldSizes = this.#sizes
    const mask = old.length - 1
    const grow = this.#outstanding * 2 > old.length
    const next = grow ? new Float64Array(old.length * 2) : old
    const nextSizes = grow ? new Float64Array(old.length * 2) : oldSizes
    let n = 0
    for (let i = 0; i < this.#length; i++) {
      const from = (this.#head + i) & mask
      const v = old[from]!
      if (v < 0) continue
      // In place, the write position never passes the read position (n ≤ i).
      const to = grow ? n : (this.#head + n) & mask
      next[to] = v
      nextSizes[to] = oldSizes[from]!
      n++
    }
    if (grow) this.#head = 0
    this.#ring = next
    this.#sizes = nextSizes
    this.#length = n
  }
}

/**
 * The counter of a packet id `<prefix><counter in base 36>` as the session writes it (lower-case digits and letters,
 * no leading zero), without allocating; `-1` for any other string.
 */
export function packetSeq(id: string, prefix: string): number {
  const n = id.length
  if (n <= prefix.length || n - prefix.length > 10 || !id.startsWith(prefix)) return -1
  let seq = 0
  for (let i = prefix.length; i < n; i++) {
    const c = id.charCodeAt(i)
    let d: number
    if (c >= 48 && c <= 57) d = c - 48
    else if (c >= 97 && c <= 122) d = c - 87
    else return -1
    if (d === 0 && i === prefix.length) return -1
    seq = seq * 36 + d
  }
  return seq
}
