import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  aesGcmVault,
  loadOrCreateMasterKey,
  parseMasterKey,
} from '../../src/adapters/vault/aes-gcm.ts'

test('aesGcmVault seals with a v1 prefix and a fresh nonce, and opens only with the same aad and key', () => {
  const vault = aesGcmVault(randomBytes(32))
  const a = vault.seal('s3cret-value', 'AC1|SK1|v1')
  const b = vault.seal('s3cret-value', 'AC1|SK1|v1')
  assert.match(a, /^v1:[A-Za-z0-9_-]+$/)
  assert.notEqual(a, b)
  assert.ok(!a.includes('s3cret'))
  assert.equal(vault.open(a, 'AC1|SK1|v1'), 's3cret-value')
  assert.equal(vault.open(a, 'AC1|SK2|v1'), undefined)
  assert.equal(aesGcmVault(randomBytes(32)).open(a, 'AC1|SK1|v1'), undefined)
  // Flip a bit of the sealed bytes (editing the text could touch only base64 padding bits, which decode the same).
  const raw = Buffer.from(a.slice(3), 'base64url')
  raw[raw.length - 1] = raw[raw.length - 1]! ^ 1
  const tampered = `v1:${raw.toString('base64url')}`
  assert.equal(vault.open(tampered, 'AC1|SK1|v1'), undefined)
  assert.equal(vault.open('v2:abc', 'AC1|SK1|v1'), undefined)
  assert.equal(vault.open('garbage', 'x'), undefined)
})

test('aesGcmVault.equal compares any lengths without throwing', () => {
  const vault = aesGcmVault(randomBytes(32))
  assert.equal(vault.equal('abc', 'abc'), true)
  assert.equal(vault.equal('abc', 'abcd'), false)
  assert.equal(vault.equal('', 'x'.repeat(10_000)), false)
})

test('aesGcmVault rejects a master key that is not 32 bytes with RangeError', () => {
  assert.throws(() => aesGcmVault(randomBytes(16)), RangeError)
})

test('loadOrCreateMasterKey creates a 0600 key file once and reads it back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-key-'))
  try {
    const k1 = loadOrCreateMasterKey(dir)
    const k2 = loadOrCreateMasterKey(dir)
    assert.equal(k1.length, 32)
    assert.deepEqual(k1, k2)
    assert.equal(statSync(join(dir, 'master.key')).mode & 0o777, 0o600)
    assert.match(readFileSync(join(dir, 'master.key'), 'utf8'), /^[0-9a-f]{64}\n$/)
    writeFileSync(join(dir, 'master.key'), 'nope')
    assert.throws(() => loadOrCreateMasterKey(dir), /invalid master key/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('parseMasterKey accepts hex and base64 of 32 bytes only', () => {
  const k = randomBytes(32)
  assert.deepEqual(parseMasterKey(k.toString('hex')), k)
  assert.deepEqual(parseMasterKey(k.toString('base64')), k)
  assert.deepEqual(parseMasterKey(k.toString('base64url')), k)
  assert.throws(() => parseMasterKey('abcd'))
})
