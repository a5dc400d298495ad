import assert from 'node:assert/strict'
import { test } from 'node:test'
import { systemClock } from '../../src/adapters/clock/system.ts'
import { cryptoIds } from '../../src/adapters/ids/crypto.ts'

test('cryptoIds.sid returns the prefix and 32 lower-case hex digits, never repeating', () => {
  const ids = cryptoIds()
  const seen = new Set<string>()
  for (let i = 0; i < 5000; i++) {
    const s = ids.sid('CH')
    assert.match(s, /^CH[0-9a-f]{32}$/)
    assert.ok(!seen.has(s))
    seen.add(s)
  }
  assert.match(ids.secret(16), /^[0-9a-f]{32}$/)
})

test('systemClock.now returns integer milliseconds', () => {
  const t = systemClock().now()
  assert.ok(Number.isSafeInteger(t) && Math.abs(t - Date.now()) < 1000)
})
