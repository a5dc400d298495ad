import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { hashPassword, verifyPassword } from '../src/password.ts'

const FAST = { N: 1024, r: 8, p: 1 }

void describe('hashPassword / verifyPassword', () => {
  void test('verifies the right password and rejects a wrong one', async () => {
    const stored = await hashPassword('hunter2hunter2', FAST)
    assert.equal(await verifyPassword('hunter2hunter2', stored), true)
    assert.equal(await verifyPassword('hunter2hunter3', stored), false)
    assert.equal(await verifyPassword('', stored), false)
  })

  void test('uses a random salt: the same password hashes differently', async () => {
    const a = await hashPassword('same password', FAST)
    const b = await hashPassword('same password', FAST)
    assert.notEqual(a, b)
    assert.match(a, /^scrypt\$1024\$8\$1\$/)
    assert.ok(!a.includes('same password'))
  })

  void test('the default parameters are N=2^15, r=8, p=1', async () => {
    assert.match(await hashPassword('x'.repeat(12)), /^scrypt\$32768\$8\$1\$/)
  })

  void test('normalizes to NFC, so the same visible password matches', async () => {
    const stored = await hashPassword('caf\u00e9-pass', FAST)
    assert.equal(await verifyPassword('cafe\u0301-pass', stored), true)
  })

  void test('a malformed or absurd stored value is false, not an exception', async () => {
    for (const bad of [
      '',
      'plain',
      'scrypt$1$2$3',
      'bcrypt$1024$8$1$AAAA$BBBB',
      'scrypt$9999999999$8$1$AAAA$BBBB',
      'scrypt$1024$8$1$$',
    ]) {
      assert.equal(await verifyPassword('whatever', bad), false, bad)
    }
  })
})
