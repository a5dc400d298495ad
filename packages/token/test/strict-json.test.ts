import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { parseStrictJson, StrictJsonError } from '../src/lib/strict-json.ts'
import { decodeBase64urlStrict, isCanonicalBase64url } from '../src/lib/base64url.ts'

test('parseStrictJson agrees with JSON.parse on any JSON without duplicate names', () => {
  fc.assert(
    fc.property(fc.json({ depthSize: 'small', maxDepth: 10 }), (text) => {
      assert.deepEqual(parseStrictJson(text, 32), JSON.parse(text))
    }),
    { numRuns: 500 },
  )
})

test('parseStrictJson rejects what JSON.parse rejects', () => {
  for (const bad of [
    '',
    ' ',
    '{',
    '}',
    '[1,]',
    '{"a":1,}',
    '{a:1}',
    "'a'",
    '01',
    '1.',
    '.5',
    '-',
    '+1',
    '1e',
    'tru',
    'nul',
    'NaN',
    'Infinity',
    '"\\u12"',
    '"\\x"',
    '"a\u0000"',
    '"a\nb"',
    '[1 2]',
    '{"a" 1}',
    '1 2',
    '\ufeff{}',
  ]) {
    assert.throws(() => JSON.parse(bad), SyntaxError, `JSON.parse accepts ${JSON.stringify(bad)}`)
    assert.throws(() => parseStrictJson(bad), StrictJsonError, JSON.stringify(bad))
  }
})

test('parseStrictJson rejects duplicate member names, including escaped spellings', () => {
  for (const dup of [
    '{"a":1,"a":1}',
    '{"x":{"a":1,"a":2}}',
    '[{"a":1,"a":2}]',
    '{"a":1,"\\u0061":2}',
    '{"__proto__":1,"__proto__":2}',
  ]) {
    assert.throws(
      () => parseStrictJson(dup),
      (e: unknown) => e instanceof StrictJsonError && e.reason === 'duplicate',
      dup,
    )
  }
})

test('parseStrictJson caps the depth', () => {
  assert.deepEqual(parseStrictJson('[[[1]]]', 3), [[[1]]])
  assert.throws(
    () => parseStrictJson('[[[[1]]]]', 3),
    (e: unknown) => e instanceof StrictJsonError && e.reason === 'depth',
  )
  assert.throws(() => parseStrictJson('['.repeat(200_000) + ']'.repeat(200_000)), StrictJsonError)
})

test('parseStrictJson keeps __proto__ as an own member and leaves the prototype alone', () => {
  const v = parseStrictJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>
  assert.equal(Object.getPrototypeOf(v), Object.prototype)
  assert.ok(Object.hasOwn(v, '__proto__'))
  assert.equal((v as { polluted?: unknown }).polluted, undefined)
})

test('isCanonicalBase64url is exactly "decode then re-encode gives the same string"', () => {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .!'
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...chars), maxLength: 12 }), (s) => {
      const roundTrips =
        /^[A-Za-z0-9_-]*$/.test(s) && Buffer.from(s, 'base64url').toString('base64url') === s
      assert.equal(isCanonicalBase64url(s), roundTrips, s)
      assert.equal(decodeBase64urlStrict(s) !== undefined, roundTrips)
    }),
    { numRuns: 3000 },
  )
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      const s = Buffer.from(bytes).toString('base64url')
      assert.equal(isCanonicalBase64url(s), true)
      assert.deepEqual(decodeBase64urlStrict(s), Buffer.from(bytes))
    }),
  )
})

test('parseStrictJson numbers equal JSON.parse, including -0, long integers and exponents', () => {
  for (const n of [
    '0',
    '-0',
    '7',
    '-7',
    '123456789012345',
    '1234567890123456',
    '9007199254740993',
    '1e400',
    '-1e-400',
    '1.5',
    '10E2',
    '0.000001',
    '-123456789012345',
  ]) {
    assert.ok(Object.is(parseStrictJson(n), JSON.parse(n)), n)
  }
  fc.assert(
    fc.property(
      fc.oneof(
        fc.integer(),
        fc.maxSafeInteger(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
      ),
      (x) => {
        const text = JSON.stringify(x)
        assert.ok(Object.is(parseStrictJson(text), JSON.parse(text)), text)
      },
    ),
    { numRuns: 1000 },
  )
})
