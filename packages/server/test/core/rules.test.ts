import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { decodePageToken, encodePageToken, pageSizeOf } from '../../src/core/pagination.ts'
import {
  checkAttributes,
  checkBody,
  checkFriendlyName,
  checkIdentity,
  checkPermissions,
  checkRoleType,
  checkUniqueName,
  utf8Length,
} from '../../src/core/rules.ts'

const code = (fn: () => unknown): number | undefined => {
  try {
    fn()
  } catch (e) {
    return (e as { code?: number }).code
  }
  return undefined
}

test('checkIdentity accepts 256 characters and rejects 257 with 50207', () => {
  assert.equal(checkIdentity('a'.repeat(256)), 'a'.repeat(256))
  assert.equal(
    code(() => checkIdentity('a'.repeat(257))),
    50207,
  )
})

test('checkIdentity rejects user-SID-shaped identities with 50206 and reserved ones with 50203', () => {
  assert.equal(
    code(() => checkIdentity('US' + 'a'.repeat(32))),
    50206,
  )
  assert.equal(
    code(() => checkIdentity('US' + 'A'.repeat(32))),
    50206,
  )
  assert.equal(checkIdentity('US' + 'a'.repeat(31)), 'US' + 'a'.repeat(31))
  for (const r of ['system', 'private', 'unique'])
    assert.equal(
      code(() => checkIdentity(r)),
      50203,
    )
  assert.equal(checkIdentity('System'), 'System')
})

test('checkIdentity rejects empty, control characters and lone surrogates with 20001', () => {
  for (const bad of ['', 'a\u0000b', 'line\nbreak', 'tab\t', 'x\u007f', '\ud800', 'a\udc00b']) {
    assert.equal(
      code(() => checkIdentity(bad)),
      20001,
      JSON.stringify(bad),
    )
  }
  assert.equal(checkIdentity('émoji 😀 ok'), 'émoji 😀 ok')
})

test('utf8Length equals Buffer.byteLength for well-formed strings', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'grapheme' }),
      (s) => utf8Length(s) === Buffer.byteLength(s, 'utf8'),
    ),
  )
})

test('checkBody accepts exactly 32 KiB of UTF-8 and rejects one more byte with 50504', () => {
  assert.equal(checkBody(null), '')
  assert.equal(checkBody(undefined), '')
  assert.equal(checkBody('x'.repeat(32768)).length, 32768)
  assert.equal(
    code(() => checkBody('x'.repeat(32769))),
    50504,
  )
  // 3-byte characters: 10922 × 3 = 32766 bytes, plus "ab" = 32768.
  assert.equal(checkBody('€'.repeat(10922) + 'ab').length, 10924)
  assert.equal(
    code(() => checkBody('€'.repeat(10922) + 'abc')),
    50504,
  )
})

test('checkAttributes requires JSON and enforces byte limits (channel → 50303)', () => {
  assert.equal(checkAttributes(null, 10), '{}')
  assert.equal(checkAttributes('', 10), '{}')
  assert.equal(checkAttributes('{"a":1}', 100), '{"a":1}')
  assert.equal(
    code(() => checkAttributes('{a:1}', 100)),
    20001,
  )
  const exact = JSON.stringify({ k: 'x'.repeat(4096 - 8) })
  assert.equal(utf8Length(exact), 4096)
  assert.equal(checkAttributes(exact, 4096), exact)
  const over = JSON.stringify({ k: 'x'.repeat(4096 - 7) })
  assert.equal(
    code(() => checkAttributes(over, 4096)),
    20001,
  )
  assert.equal(
    code(() => checkAttributes(over, 4096, 50303)),
    50303,
  )
})

test('checkUniqueName rejects channel-SID-shaped names with 50306 and enforces the length', () => {
  assert.equal(
    code(() => checkUniqueName('CH' + '0'.repeat(32), 64)),
    50306,
  )
  assert.equal(checkUniqueName('general', 64), 'general')
  assert.equal(checkUniqueName('', 64), null)
  assert.equal(
    code(() => checkUniqueName('x'.repeat(65), 64)),
    20001,
  )
  assert.equal(checkUniqueName('x'.repeat(256), 256)?.length, 256)
})

test('checkFriendlyName enforces the given maximum', () => {
  assert.equal(checkFriendlyName('x'.repeat(64), 64)?.length, 64)
  assert.equal(
    code(() => checkFriendlyName('x'.repeat(65), 64)),
    20001,
  )
})

test('checkPermissions rejects a permission of the other scope with 50104, checkRoleType bad types with 50105', () => {
  assert.deepEqual(checkPermissions('channel', ['sendMessage', 'sendMessage', 'leaveChannel']), [
    'sendMessage',
    'leaveChannel',
  ])
  assert.equal(
    code(() => checkPermissions('channel', ['editOwnUserInfo'])),
    50104,
  )
  assert.equal(
    code(() => checkPermissions('deployment', ['sendMessage'])),
    50104,
  )
  assert.equal(
    code(() => checkPermissions('deployment', ['nope'])),
    50104,
  )
  assert.equal(
    code(() => checkPermissions('deployment', [])),
    20001,
  )
  assert.equal(checkRoleType('deployment'), 'deployment')
  assert.equal(
    code(() => checkRoleType('service')),
    50105,
  )
})

test('page tokens round-trip, are order-bound and reject tampering with 20001', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0 }), fc.string(), fc.boolean(), (n, s, desc) => {
      const t = encodePageToken('next', [n, s], desc)
      assert.match(t, /^PT[A-Za-z0-9_-]*$/)
      assert.deepEqual(decodePageToken(t, 2, desc), { next: true, key: [n, s] })
    }),
  )
  const t = encodePageToken('previous', [5], false)
  assert.equal(
    code(() => decodePageToken(t, 1, true)),
    20001,
  )
  assert.equal(
    code(() => decodePageToken(t, 2, false)),
    20001,
  )
  assert.equal(
    code(() => decodePageToken('PTbm9wZQ', 1, false)),
    20001,
  )
  assert.equal(
    code(() => decodePageToken('garbage', 1, false)),
    20001,
  )
  assert.equal(pageSizeOf(undefined, 100), 50)
  assert.equal(pageSizeOf({ pageSize: 1000 }, 100), 100)
  assert.equal(pageSizeOf({ pageSize: 0 }, 100), 1)
  assert.equal(pageSizeOf(undefined, 5), 5)
})
