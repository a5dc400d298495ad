/**
 * SIDs and secrets from `node:crypto`.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import type { Ids, SidPrefix } from '../../ports/ids.ts'

/** An {@link Ids} backed by `crypto.randomBytes` (buffered to keep SID generation cheap). */
export function cryptoIds(): Ids {
  let pool = Buffer.alloc(0)
  let offset = 0
  const take = (n: number): Buffer => {
    if (offset + n > pool.length) {
      pool = randomBytes(Math.max(4096, n))
      offset = 0
    }
    const out = pool.subarray(offset, offset + n)
    offset += n
    return out
  }
  return {
    sid: (prefix: SidPrefix) => prefix + take(16).toString('hex'),
    secret: (bytes: number) => randomBytes(bytes).toString('hex'),
  }
}
