/**
 * Token buckets by key (per identity, per client address): shared by their holders, kept until refilled, dropped
 * once full and unused.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { KeyedBuckets, TokenBucket } from '../../src/realtime/rate-limiter.ts'

test('KeyedBuckets: holders of one key share its bucket; other keys have their own', () => {
  const kb = new KeyedBuckets({ capacity: 3, refillPerSecond: 1 })
  const a1 = kb.acquire('alice', 0)
  const a2 = kb.acquire('alice', 0)
  assert.equal(a1, a2)
  assert.deepEqual([a1.take(0), a2.take(0), a1.take(0), a2.take(0)], [true, true, true, false])
  assert.equal(kb.acquire('bob', 0).take(0), true)
  assert.throws(() => new KeyedBuckets({ capacity: 0, refillPerSecond: 1 }), RangeError)
})

test('KeyedBuckets: letting go and coming back does not refill a bucket; a full one nobody holds is dropped', () => {
  const kb = new KeyedBuckets({ capacity: 2, refillPerSecond: 1 })
  const b = kb.acquire('alice', 0)
  b.take(0)
  b.take(0)
  kb.release('alice', 0)
  // Not full yet: kept, so a new session of alice is still limited.
  assert.equal(kb.acquire('alice', 100).take(100), false)
  kb.release('alice', 100)
  // Full again and not held: dropped at once on release, or by a later sweep.
  assert.equal(kb.get('carol', 0).take(0), true)
  const held = kb.acquire('dave', 0)
  held.take(0)
  for (let i = 0; i < 2000; i++) kb.get(`k${i}`, 10_000)
  assert.equal(kb.peek('carol'), undefined, 'full and unheld: swept')
  assert.equal(kb.peek('alice'), undefined)
  assert.equal(kb.peek('dave'), held, 'held: kept even when full')
  assert.ok(kb.size < 2000, `swept down to ${kb.size}`)
  kb.release('dave', 10_000)
  assert.equal(kb.peek('dave'), undefined)
})

test('KeyedBuckets: any interleaving of holders takes exactly what one shared TokenBucket would', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          key: fc.constantFrom('a', 'b', 'c'),
          op: fc.constantFrom('acquire', 'release', 'take'),
          dt: fc.integer({ min: 0, max: 400 }),
        }),
        { maxLength: 200 },
      ),
      (steps) => {
        const kb = new KeyedBuckets({ capacity: 4, refillPerSecond: 5 })
        const model = new Map<string, TokenBucket>()
        let now = 0
        for (const { key, op, dt } of steps) {
          now += dt
          const m = model.get(key) ?? new TokenBucket({ capacity: 4, refillPerSecond: 5 }, now)
          model.set(key, m)
          if (op === 'acquire') kb.acquire(key, now)
          else if (op === 'release') kb.release(key, now)
          else {
            assert.equal(kb.get(key, now).take(now), m.take(now))
          }
        }
      },
    ),
  )
})
