import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Buffer } from 'node:buffer'
import { hmacDigest, hmacVerify } from '../src/lib/hmac.ts'
import { verifyAccessTokenSync } from '../src/verify.ts'
import { claims, HEADER, NOW, rejects, resolveKey, sign } from './support/tokens.ts'

// access-tokens.md §3.4: known answers for the HMAC/JWS layer.

const RFC7515_A1_KEY = Buffer.from(
  'AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow',
  'base64url',
)
const RFC7515_A1_INPUT =
  'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ'
const RFC7515_A1_SIG = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'

test('RFC 7515 A.1: HS256 over the received bytes (the header contains CRLF)', () => {
  assert.equal(
    hmacDigest('HS256', RFC7515_A1_KEY, RFC7515_A1_INPUT).toString('base64url'),
    RFC7515_A1_SIG,
  )
  assert.equal(
    hmacVerify('HS256', RFC7515_A1_KEY, RFC7515_A1_INPUT, Buffer.from(RFC7515_A1_SIG, 'base64url')),
    true,
  )
  assert.match(Buffer.from(RFC7515_A1_INPUT.split('.')[0]!, 'base64url').toString(), /\r\n/)
})

test('RFC 7515 A.1 as a token: a JWS without cty is refused at the header (20102), before any key lookup', () => {
  let looked = false
  assert.throws(
    () =>
      verifyAccessTokenSync(`${RFC7515_A1_INPUT}.${RFC7515_A1_SIG}`, {
        resolveKey: () => {
          looked = true
          return undefined
        },
        now: 1300819000,
      }),
    { code: 20102 },
  )
  assert.equal(looked, false)
})

test('RFC 7520 §4.4: HS256 JWS with a text payload', () => {
  const key = Buffer.from('hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg', 'base64url')
  const header = Buffer.from(
    '{"alg":"HS256","kid":"018c0ae5-4d9b-471b-bfd6-eef314bc7037"}',
  ).toString('base64url')
  const payload =
    'SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4'
  assert.equal(
    header,
    'eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9',
  )
  assert.equal(
    hmacDigest('HS256', key, `${header}.${payload}`).toString('base64url'),
    's0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0',
  )
})

const WYCHEPROOF_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i))
const WYCHEPROOF_VALID = [
  { msg: '', tag: 'd38b42096d80f45f826b44a9d5607de72496a415d3f4a1a8c88e3bb9da8dc1cb' },
  {
    msg: Buffer.from(Array.from({ length: 16 }, (_, i) => i)).toString('latin1'),
    tag: 'd8b99f2709a3ca74172cbe93824c1f29b23a0c1e9c21bd851ff2d2c39dbef14e',
  },
]

/** Wycheproof-style ModifiedTag cases: flipped bits, all bits flipped, all-zero, all-one, msb/lsb changes. */
function modifiedTags(tag: Buffer): Buffer[] {
  const out: Buffer[] = []
  for (const bit of [0, 1, 7, 8, 31, 32, 63, 64, 127, 128, 255]) {
    const t = Buffer.from(tag)
    t[bit >> 3]! ^= 1 << (bit & 7)
    out.push(t)
  }
  out.push(Buffer.from(tag.map((b) => b ^ 0xff)))
  out.push(Buffer.alloc(tag.length, 0))
  out.push(Buffer.alloc(tag.length, 0xff))
  out.push(Buffer.from(tag.map((b) => b ^ 0x80)))
  out.push(Buffer.from(tag.map((b) => b ^ 0x01)))
  return out
}

test('Wycheproof HMAC-SHA256 (keySize 256, tagSize 256): valid tags verify, every ModifiedTag fails', () => {
  for (const { msg, tag } of WYCHEPROOF_VALID) {
    const t = Buffer.from(tag, 'hex')
    assert.equal(hmacDigest('HS256', WYCHEPROOF_KEY, msg).toString('hex'), tag)
    assert.equal(hmacVerify('HS256', WYCHEPROOF_KEY, msg, t), true)
    for (const bad of modifiedTags(t))
      assert.equal(hmacVerify('HS256', WYCHEPROOF_KEY, msg, bad), false)
  }
})

test('Wycheproof tagSize 128: a truncated (valid-prefix) tag is rejected; JWS needs full-length HMACs', async () => {
  for (const { msg, tag } of WYCHEPROOF_VALID) {
    assert.equal(
      hmacVerify('HS256', WYCHEPROOF_KEY, msg, Buffer.from(tag, 'hex').subarray(0, 16)),
      false,
    )
  }
  const token = sign(HEADER, claims())
  const [h, p, s] = token.split('.') as [string, string, string]
  const half = Buffer.from(s, 'base64url').subarray(0, 16).toString('base64url')
  await rejects(
    () => verifyAccessTokenSync(`${h}.${p}.${half}`, { resolveKey, now: NOW }),
    20107,
    'signature.length',
  )
})

test('ModifiedTag signatures wrapped over a fixed valid token are rejected with 20107', async () => {
  for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
    const token = sign({ ...HEADER, alg }, claims())
    const [h, p, s] = token.split('.') as [string, string, string]
    verifyAccessTokenSync(token, { resolveKey, now: NOW })
    for (const bad of modifiedTags(Buffer.from(s, 'base64url'))) {
      await rejects(
        () =>
          verifyAccessTokenSync(`${h}.${p}.${bad.toString('base64url')}`, { resolveKey, now: NOW }),
        20107,
        'signature',
      )
    }
  }
})
