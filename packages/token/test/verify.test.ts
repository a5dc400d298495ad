import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AccessToken } from '../src/access-token.ts'
import { ChatError } from '../src/errors.ts'
import { twilsockErrorCode } from '../src/twilsock-error-code.ts'
import {
  decodeAccessToken,
  verifyAccessToken,
  verifyAccessTokenSync,
  type VerifyOptions,
} from '../src/verify.ts'
import {
  AC,
  AC2,
  b64,
  claims,
  HEADER,
  IS,
  KEYS,
  NOW,
  rejects,
  resolveKey,
  SECRET,
  sign,
  SK,
  SK2,
  TwilioAccessToken,
} from './support/tokens.ts'

const opts = (extra: Partial<VerifyOptions> = {}): VerifyOptions => ({
  resolveKey,
  now: NOW,
  ...extra,
})
const verify = (token: string, extra: Partial<VerifyOptions> = {}) =>
  verifyAccessToken(token, opts(extra))
const valid = () => sign(HEADER, claims())
const grants = (g: Record<string, unknown>) => claims({ grants: g })

// --- Accepting ---

test('verifyAccessToken returns a frozen principal for a valid token', async () => {
  const p = await verify(valid())
  assert.deepEqual(p, {
    identity: 'alice',
    accountSid: AC,
    keySid: SK,
    serviceSid: IS,
    endpointId: 'demo:alice:web',
    issuedAt: NOW,
    notBefore: null,
    expiresAt: NOW + 3600,
    algorithm: 'HS256',
    region: null,
    grantKey: 'chat',
    grants: { identity: 'alice', chat: { service_sid: IS, endpoint_id: 'demo:alice:web' } },
  })
  assert.ok(Object.isFrozen(p))
  assert.ok(Object.isFrozen(p.grants))
  assert.ok(Object.isFrozen(p.grants['chat']))
})

test('verifyAccessTokenSync returns the same principal synchronously', () => {
  const p = verifyAccessTokenSync(valid(), { resolveKey, now: NOW })
  assert.equal(p.identity, 'alice')
  assert.throws(() => verifyAccessTokenSync('x', { resolveKey, now: NOW }), ChatError)
})

test('verifyAccessTokenSync refuses an async resolveKey with a TypeError', () => {
  assert.throws(
    () =>
      verifyAccessTokenSync(valid(), {
        resolveKey: (async (s: string) => resolveKey(s)) as any,
        now: NOW,
      }),
    TypeError,
  )
})

test('an async resolveKey is awaited, and called once with the iss', async () => {
  const seen: string[] = []
  const p = await verify(valid(), {
    resolveKey: async (sid) => {
      seen.push(sid)
      return KEYS.get(sid)
    },
  })
  assert.equal(p.identity, 'alice')
  assert.deepEqual(seen, [SK])
})

test('21 tokens minted by the real twilio-node helper verify (HS256/384/512 × region, nbf, ttl, grants)', async (t) => {
  t.mock.method(Date, 'now', () => NOW * 1000)
  const variants: Record<string, unknown>[] = [
    {},
    { region: 'ie1' },
    { nbf: NOW - 10 },
    { ttl: 86400 },
    { ttl: 60, region: 'us1', nbf: NOW },
    { identity: 42 },
    { identity: 'Ünïcødé 😀 user' },
  ]
  let count = 0
  for (const alg of ['HS256', 'HS384', 'HS512']) {
    for (const extra of variants) {
      const helper = new TwilioAccessToken(AC, SK, SECRET, {
        identity: 'user@example.com',
        ...extra,
      })
      helper.addGrant(
        new TwilioAccessToken.ChatGrant({ serviceSid: IS, endpointId: 'app:user@example.com:d1' }),
      )
      helper.addGrant(new TwilioAccessToken.VideoGrant({ room: 'r1' }))
      helper.addGrant(new TwilioAccessToken.VoiceGrant({ incomingAllow: true }))
      const p = await verify(helper.toJwt(alg))
      assert.equal(p.algorithm, alg)
      assert.equal(p.identity, String(extra['identity'] ?? 'user@example.com'))
      assert.equal(p.expiresAt, NOW + ((extra['ttl'] as number | undefined) ?? 3600))
      assert.equal(p.region, (extra['region'] as string | undefined) ?? null)
      assert.deepEqual(p.grants['video'], { room: 'r1' })
      count++
    }
  }
  assert.equal(count, 21)
})

test('our own AccessToken round-trips through the verifier', async (t) => {
  t.mock.method(Date, 'now', () => NOW * 1000)
  const token = new AccessToken(AC, SK, SECRET, { identity: 7, region: 'us1', nbf: NOW })
  token.addGrant(new AccessToken.ChatGrant({ serviceSid: IS }))
  const p = await verify(token.toJwt('HS384'))
  assert.equal(p.identity, '7')
  assert.equal(p.region, 'us1')
  assert.equal(p.notBefore, NOW)
  assert.equal(p.endpointId, null)
})

test('a twilio-python-shaped token verifies: header cty,twr,typ,alg; nbf without iat; exp − nbf = 86401', async () => {
  const header = '{"cty": "twilio-fpa;v=1", "twr": "ie1", "typ": "JWT", "alg": "HS256"}'
  const token = sign(header, claims({ iat: undefined, nbf: NOW, exp: NOW + 86401 }))
  const p = await verify(token)
  assert.equal(p.issuedAt, null)
  assert.equal(p.notBefore, NOW)
  assert.equal(p.region, 'ie1')
})

test('a twilio-java-shaped token verifies: header typ,cty,alg; neither iat nor nbf', async () => {
  const header = '{"typ":"JWT","cty":"twilio-fpa;v=1","alg":"HS256"}'
  const p = await verify(sign(header, claims({ iat: undefined })))
  assert.equal(p.issuedAt, null)
  assert.equal(p.notBefore, null)
})

test('the Twilio docs sample shape verifies: legacy ip_messaging grant, nbf, no iat', async () => {
  const header = '{"typ":"JWT","alg":"HS256","cty":"twilio-fpa;v=1"}'
  const payload = {
    jti: `${SK}-${NOW}`,
    iss: SK,
    sub: AC,
    nbf: NOW,
    exp: NOW + 3600,
    grants: {
      identity: 'user@example.com',
      ip_messaging: { service_sid: IS, endpoint_id: 'HipFlow:user@example.com:ios' },
    },
  }
  const p = await verify(sign(header, payload))
  assert.equal(p.grantKey, 'ip_messaging')
  assert.equal(p.serviceSid, IS)
})

test('unknown header members and kid are ignored; unknown grants are kept and ignored', async () => {
  const p = await verify(
    sign(
      { ...HEADER, kid: 'k1', foo: 'bar' },
      grants({
        identity: 'a',
        chat: { service_sid: IS },
        voice: { incoming: { allow: true } },
        rtc: {},
      }),
    ),
  )
  assert.deepEqual(p.grants['voice'], { incoming: { allow: true } })
})

test('identity is case-sensitive and may hold any well-formed text, including astral characters', async () => {
  for (const identity of [
    'Alice',
    'alice',
    'José 😀',
    'a'.repeat(256),
    'user:with:colons',
    'x@y.z',
  ]) {
    const p = await verify(sign(HEADER, grants({ identity, chat: { service_sid: IS } })))
    assert.equal(p.identity, identity)
  }
})

// --- 20101: size and structure ---

test('a non-string token is rejected with 20101', async () => {
  for (const t of [undefined, null, 42, {}, Buffer.from('a.b.c')] as any[])
    await rejects(() => verify(t), 20101, 'token', 51130)
})

test('the size cap runs before any parsing: a huge string of garbage is a 20101 size, not shape', async () => {
  const e = await rejects(() => verify('!'.repeat(100_000)), 20101, 'size', 51130)
  assert.match(e.message, /longer than 8192 bytes/)
})

test('a token at the exact size boundary: 8192 bytes accepted when otherwise valid', async () => {
  let found: string | undefined
  for (let n = 5000; n < 6500 && found === undefined; n++) {
    const token = sign(HEADER, claims({ pad: 'x'.repeat(n) }))
    if (token.length === 8192) found = token
  }
  assert.ok(found, 'a pad length giving exactly 8192 bytes exists')
  assert.equal((await verify(found)).identity, 'alice')
  await rejects(() => verify(found + 'A'), 20101, 'size')
})

test('anything but three non-empty base64url segments is rejected with 20101 shape', async () => {
  const [h, p, s] = valid().split('.') as [string, string, string]
  for (const t of [
    '',
    `${h}.${p}`,
    `${h}.${p}.${s}.${s}`,
    `${h}..${s}`,
    `.${p}.${s}`,
    `${h}.${p}.`,
    ` ${h}.${p}.${s}`,
    `${h}.${p}.${s}\n`,
    `${h}.${p}.${s}=`,
    `${h}.${p}.${s.replace(/-|_/, '+')}`.replace(/[-_]/, '/') + '+',
    `${h}.${p}.${s.slice(0, 10)} ${s.slice(10)}`,
    `${h}.${p}.${s}é`,
    `Bearer ${h}.${p}.${s}`,
  ]) {
    await rejects(() => verify(t), 20101, 'shape', 51130)
  }
})

test('non-canonical base64url (length % 4 = 1, non-zero trailing bits) is rejected with 20101', async () => {
  const token = valid()
  const [h, p, s] = token.split('.') as [string, string, string]
  const h1 = h + 'A'.repeat((5 - (h.length % 4)) % 4) // length % 4 = 1 decodes to no whole byte
  assert.equal(h1.length % 4, 1)
  await rejects(() => verify(`${h1}.${p}.${s}`), 20101, 'base64url')
  assert.equal(s.length % 4, 3) // 32 bytes → 43 characters, 2 unused bits
  const last = s[s.length - 1]!
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const v = alphabet.indexOf(last)
  for (let bits = 1; bits < 4; bits++) {
    // Same decoded bytes (Buffer ignores the unused bits), different string: only one form is canonical.
    const alt = s.slice(0, -1) + alphabet[(v & ~3) | bits]
    assert.deepEqual(Buffer.from(alt, 'base64url'), Buffer.from(s, 'base64url'))
    await rejects(() => verify(`${h}.${p}.${alt}`), 20101, 'base64url')
  }
  const p1 = p + 'A'.repeat((5 - (p.length % 4)) % 4)
  await rejects(() => verify(`${h}.${p1}.${s}`), 20101, 'base64url')
})

test('invalid UTF-8 (C0 AF) and a byte order mark are rejected with 20101 utf8', async () => {
  const json = Buffer.from(JSON.stringify(claims()))
  const bad = Buffer.concat([json.subarray(0, 20), Buffer.from([0xc0, 0xaf]), json.subarray(20)])
  await rejects(() => verify(sign(HEADER, bad)), 20101, 'utf8')
  const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json])
  await rejects(() => verify(sign(HEADER, bom)), 20101, 'utf8')
  const headerBom = Buffer.concat([
    Buffer.from([0xef, 0xbb, 0xbf]),
    Buffer.from(JSON.stringify(HEADER)),
  ])
  await rejects(() => verify(sign(headerBom, claims())), 20101, 'utf8')
})

test('duplicate member names are rejected with 20101, in the header and at any depth of the payload', async () => {
  await rejects(
    () => verify(sign('{"alg":"none","alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}', claims())),
    20101,
    'json',
  )
  const p = JSON.stringify(claims())
  await rejects(() => verify(sign(HEADER, p.replace('"exp":', '"exp":1,"exp":'))), 20101, 'json')
  await rejects(
    () => verify(sign(HEADER, p.replace('"identity":', '"identity":"mallory","identity":'))),
    20101,
    'json',
  )
  // Escaped and raw spellings of the same name are duplicates too.
  await rejects(
    () => verify(sign(HEADER, p.replace('"sub":', '"s\\u0075b":"x","sub":'))),
    20101,
    'json',
  )
})

test('JSON nesting: 16 levels accepted, 17 rejected with 20101', async () => {
  const nest = (levels: number) => {
    let v: unknown = 1
    for (let i = 0; i < levels; i++) v = { n: v }
    return v
  }
  // payload (1) → grants (2) → other (3): 14 more levels inside "other" reaches 16.
  const ok = sign(HEADER, grants({ identity: 'a', chat: { service_sid: IS }, other: nest(14) }))
  assert.equal((await verify(ok)).identity, 'a')
  const deep = sign(HEADER, grants({ identity: 'a', chat: { service_sid: IS }, other: nest(15) }))
  await rejects(() => verify(deep), 20101, 'json')
})

test('a header or payload that is not a JSON object is rejected with 20101', async () => {
  for (const v of ['0', '1', '-1', 'true', 'false', 'null', '[]', '""', '"x"', '[{}]']) {
    await rejects(() => verify(sign(HEADER, v)), 20101, 'json')
    await rejects(() => verify(sign(v, claims())), 20101, 'json')
  }
  for (const v of [
    '{',
    '{"a":1,}',
    "{'a':1}",
    '{"a":01}',
    '{"a":1} x',
    '{"a":"\\x"}',
    '{"a":NaN}',
    '{"a":"\u0001"}',
  ]) {
    await rejects(() => verify(sign(HEADER, v)), 20101, 'json')
  }
})

// --- 20102: header ---

test('alg outside HS256/HS384/HS512 is rejected with 20102, in any spelling', async () => {
  for (const alg of [
    'none',
    'None',
    'NONE',
    'nOnE',
    'RS256',
    'ES256',
    'PS256',
    'EdDSA',
    'hs256',
    'HS256 ',
    'HS1',
    '',
    256,
    null,
    ['HS256'],
  ]) {
    await rejects(
      () => verify(sign({ ...HEADER, alg }, claims(), { alg: 'HS256' })),
      20102,
      'header.alg',
      51114,
    )
  }
  await rejects(
    () => verify(sign({ typ: 'JWT', cty: 'twilio-fpa;v=1' }, claims())),
    20102,
    'header.alg',
  )
})

test('alg outside options.algorithms is rejected with 20102', async () => {
  const token = sign({ ...HEADER, alg: 'HS512' }, claims())
  await rejects(() => verify(token, { algorithms: ['HS256'] }), 20102, 'header.alg')
  assert.equal((await verify(token, { algorithms: ['HS512'] })).algorithm, 'HS512')
})

test('typ must be exactly "JWT" and cty exactly "twilio-fpa;v=1" (20102)', async () => {
  for (const typ of [undefined, 'jwt', 'at+jwt', 'JWS']) {
    await rejects(() => verify(sign({ ...HEADER, typ }, claims())), 20102, 'header.typ')
  }
  for (const cty of [undefined, 'twilio-fpa;v=2', 'TWILIO-FPA;V=1', 'JWT']) {
    await rejects(() => verify(sign({ ...HEADER, cty }, claims())), 20102, 'header.cty')
  }
})

test('forbidden header parameters are rejected with 20102', async () => {
  for (const name of [
    'crit',
    'jku',
    'jwk',
    'x5u',
    'x5c',
    'x5t',
    'x5t#S256',
    'b64',
    'zip',
    'enc',
    'epk',
    'p2s',
    'p2c',
  ]) {
    await rejects(
      () => verify(sign({ ...HEADER, [name]: name === 'crit' ? [] : 'x' }, claims())),
      20102,
      'header.param',
    )
  }
  await rejects(() => verify(sign({ ...HEADER, twr: 1 }, claims())), 20102, 'header')
})

test('the header rules hold for a header seen before (the memo caches only accepted headers)', async () => {
  const good = valid()
  await verify(good)
  await verify(good)
  const bad = sign({ ...HEADER, alg: 'none' }, claims())
  await rejects(() => verify(bad), 20102)
  await rejects(() => verify(bad), 20102)
})

// --- 20107: signature ---

test('a signature of the wrong length for its alg is rejected with 20107 (truncated HMACs are not accepted)', async () => {
  const token = valid()
  await rejects(() => verify(token.slice(0, -3)), 20107, 'signature.length', 51117)
  const [h, p] = token.split('.')
  const sig512 = sign({ ...HEADER, alg: 'HS512' }, claims()).split('.')[2]
  await rejects(() => verify(`${h}.${p}.${sig512}`), 20107, 'signature.length')
  const half = b64(Buffer.from(token.split('.')[2]!, 'base64url').subarray(0, 16))
  await rejects(() => verify(`${h}.${p}.${half}`), 20107, 'signature.length')
})

test('a wrong secret is rejected with 20107', async () => {
  await rejects(
    () => verify(sign(HEADER, claims(), { secret: 'not-the-secret-but-32-chars-long' })),
    20107,
    'signature',
    51117,
  )
})

test('an unknown key fails exactly like a bad signature (same code, same message)', async () => {
  const unknown = 'SK' + 'e'.repeat(32)
  const e1 = await rejects(() => verify(sign(HEADER, claims({ iss: unknown }))), 20107, 'signature')
  const e2 = await rejects(
    () =>
      verify(sign(HEADER, claims({ iss: unknown })), {
        resolveKey: () => ({ secret: 'x'.repeat(32), accountSid: AC }),
      }),
    20107,
    'signature',
  )
  assert.equal(e1.message, e2.message)
  assert.deepEqual(e1.toJSON(), e2.toJSON())
  assert.deepEqual(e1.details, e2.details)
  await rejects(() => verify(valid(), { resolveKey: () => null }), 20107, 'signature')
  await rejects(() => verify(valid(), { resolveKey: async () => undefined }), 20107, 'signature')
  assert.match(e1.message, /iss SKe{32} is not a known API key/)
})

test('claims are checked only after the signature: an expired token with a bad signature is a 20107', async () => {
  const token = sign(HEADER, claims({ exp: NOW - 1000, iat: NOW - 2000, grants: {} }), {
    secret: 'x'.repeat(32),
  })
  await rejects(() => verify(token), 20107)
})

test('the key is looked up by iss only: kid is never used', async () => {
  const seen: string[] = []
  await verify(sign({ ...HEADER, kid: SK2 }, claims()), {
    resolveKey: (sid) => {
      seen.push(sid)
      return resolveKey(sid)
    },
  })
  assert.deepEqual(seen, [SK])
})

test('a resolveKey result with an empty or short secret or no accountSid is a TypeError, never a pass', async () => {
  for (const bad of [
    { secret: '', accountSid: AC },
    { secret: 'short', accountSid: AC },
    { secret: SECRET },
    'secret',
    42,
  ]) {
    await assert.rejects(() => verify(valid(), { resolveKey: () => bad as any }), TypeError)
  }
})

// --- 20103: iss and sub ---

test('iss missing or not ^SK[0-9a-f]{32}$ is rejected with 20103 before any key lookup', async () => {
  let calls = 0
  const counting = (sid: string) => {
    calls++
    return resolveKey(sid)
  }
  for (const iss of [
    undefined,
    'SK' + 'A'.repeat(32),
    'SK' + '0'.repeat(31),
    'SK' + '0'.repeat(33),
    'AC' + '0'.repeat(32),
    7,
    [SK],
    null,
  ]) {
    await rejects(
      () => verify(sign(HEADER, claims({ iss })), { resolveKey: counting }),
      20103,
      'iss',
      51115,
    )
  }
  assert.equal(calls, 0)
})

test('sub missing or not the key account is rejected with 20103', async () => {
  for (const sub of [undefined, AC2, AC.toUpperCase(), 'x', 1]) {
    await rejects(() => verify(sign(HEADER, claims({ sub }))), 20103, 'sub', 51115)
  }
  const e = await rejects(() => verify(sign(HEADER, claims({ sub: AC2 }))), 20103, 'sub')
  assert.match(e.message, new RegExp(`sub ${AC2} is not the account of API key ${SK}`))
})

// --- 20104 / 20105 / 20157: time ---

test('exp is required and must be an integer NumericDate (20104)', async () => {
  await rejects(() => verify(sign(HEADER, claims({ exp: undefined }))), 20104, 'exp', 20104)
  for (const exp of [String(NOW + 60), NOW + 0.5, null, true, 2 ** 53, [NOW + 60]]) {
    await rejects(() => verify(sign(HEADER, claims({ exp }))), 20104, 'exp')
  }
  const p = JSON.stringify(claims())
  await rejects(
    () => verify(sign(HEADER, p.replace(`"exp":${NOW + 3600}`, '"exp":1e400'))),
    20104,
    'exp',
  )
  // An integer spelled with a fraction or an exponent is still an integer value.
  assert.equal(
    (await verify(sign(HEADER, p.replace(`"exp":${NOW + 3600}`, `"exp":${NOW + 3600}.0`))))
      .expiresAt,
    NOW + 3600,
  )
})

test('exp boundary with the 60 s leeway: exp = now − 59 accepted, exp = now − 60 rejected (20104)', async () => {
  const at = (exp: number) => sign(HEADER, claims({ exp, iat: exp - 3600 }))
  assert.equal((await verify(at(NOW - 59))).expiresAt, NOW - 59)
  const e = await rejects(() => verify(at(NOW - 60)), 20104, 'exp', 20104)
  assert.match(e.message, /^token expired at .* \(60 s ago\)$/)
})

test('exp === now is rejected with leeway 0 (RFC 7519 §4.1.4: on or after exp)', async () => {
  const token = sign(HEADER, claims({ exp: NOW, iat: NOW - 10 }))
  await rejects(() => verify(token, { leewaySeconds: 0 }), 20104, 'exp')
  assert.ok(
    await verify(sign(HEADER, claims({ exp: NOW + 1, iat: NOW - 10 })), { leewaySeconds: 0 }),
  )
})

test('the expiry message names the time and how long ago, in ISO form', async () => {
  const exp = Date.UTC(2026, 10, 27, 10, 0, 0) / 1000
  const e = await rejects(
    () => verify(sign(HEADER, claims({ exp, iat: exp - 3600 })), { now: exp + 125 }),
    20104,
  )
  assert.equal(e.message, 'token expired at 2026-11-27T10:00:00Z (125 s ago)')
})

test('a negative exp (year 0001) is a clear 20104', async () => {
  const e = await rejects(
    () => verify(sign(HEADER, claims({ exp: -62135596800, iat: undefined }))),
    20104,
    'exp',
  )
  assert.match(e.message, /token expired at 0001-01-01T00:00:00Z/)
})

test('nbf and iat must be safe integers when present (20101, Twilsock 51118)', async () => {
  for (const v of [null, '1', NOW + 0.5, true, 2 ** 53]) {
    await rejects(() => verify(sign(HEADER, claims({ nbf: v }))), 20101, 'nbf', 51118)
    await rejects(() => verify(sign(HEADER, claims({ iat: v }))), 20101, 'iat', 51118)
  }
})

test('nbf boundary: nbf = now + 60 accepted, now + 61 rejected (20105)', async () => {
  assert.ok(await verify(sign(HEADER, claims({ nbf: NOW + 60 }))))
  const e = await rejects(
    () => verify(sign(HEADER, claims({ nbf: NOW + 61 }))),
    20105,
    'nbf',
    51120,
  )
  assert.match(e.message, /not valid before .* \(61 s from now\)/)
})

test('iat boundary: iat = now + 60 accepted, now + 61 rejected (20105)', async () => {
  assert.ok(await verify(sign(HEADER, claims({ iat: NOW + 60, exp: NOW + 3660 }))))
  await rejects(
    () => verify(sign(HEADER, claims({ iat: NOW + 61, exp: NOW + 3661 }))),
    20105,
    'iat',
    51120,
  )
})

test('nbf after exp is rejected with 20104; nbf = exp is not', async () => {
  await rejects(() => verify(sign(HEADER, claims({ nbf: NOW + 3601 }))), 20104, 'nbf', 20104)
  // nbf = exp = now + 30: within the leeway on both sides.
  assert.ok(await verify(sign(HEADER, claims({ iat: undefined, nbf: NOW + 30, exp: NOW + 30 }))))
})

test('lifetime cap: exp − iat = 86405 accepted, 86406 rejected with 20157 (Twilsock 51121)', async () => {
  assert.ok(await verify(sign(HEADER, claims({ iat: NOW, exp: NOW + 86405 }))))
  const e = await rejects(
    () => verify(sign(HEADER, claims({ iat: NOW, exp: NOW + 86406 }))),
    20157,
    'lifetime',
    51121,
  )
  assert.match(e.message, /lifetime is 86406 s \(exp − iat\), more than the 86400 s maximum/)
})

test('lifetime cap without iat uses nbf, then now', async () => {
  assert.ok(
    await verify(sign(HEADER, claims({ iat: undefined, nbf: NOW - 100, exp: NOW - 100 + 86405 }))),
  )
  await rejects(
    () => verify(sign(HEADER, claims({ iat: undefined, nbf: NOW - 100, exp: NOW - 100 + 86406 }))),
    20157,
  )
  assert.ok(await verify(sign(HEADER, claims({ iat: undefined, exp: NOW + 86405 }))))
  await rejects(
    () => verify(sign(HEADER, claims({ iat: undefined, exp: NOW + 86406 }))),
    20157,
    'lifetime',
  )
})

test('exp at most now + 86400 + 60 even when iat is in the allowed future', async () => {
  assert.ok(await verify(sign(HEADER, claims({ iat: NOW + 60, exp: NOW + 86460 }))))
  await rejects(
    () => verify(sign(HEADER, claims({ iat: NOW + 60, exp: NOW + 86461 }))),
    20157,
    'lifetime',
  )
})

test('maxTtlSeconds lowers the lifetime cap', async () => {
  await rejects(() => verify(valid(), { maxTtlSeconds: 600 }), 20157)
  assert.ok(await verify(sign(HEADER, claims({ exp: NOW + 605 })), { maxTtlSeconds: 600 }))
})

test('leewaySeconds changes the windows', async () => {
  const token = sign(HEADER, claims({ exp: NOW - 100, iat: NOW - 3700 }))
  await rejects(() => verify(token), 20104)
  assert.ok(await verify(token, { leewaySeconds: 101 }))
})

test('now defaults to the clock; options are validated', async (t) => {
  t.mock.method(Date, 'now', () => (NOW + 10_000) * 1000)
  await rejects(() => verifyAccessToken(valid(), { resolveKey }), 20104)
  for (const bad of [
    { leewaySeconds: -1 },
    { leewaySeconds: 1.5 },
    { leewaySeconds: 301 },
    { maxTtlSeconds: 0 },
    { maxTtlSeconds: 86401 },
  ]) {
    await assert.rejects(() => verify(valid(), bad), RangeError)
  }
  for (const bad of [
    { now: Number.NaN },
    { now: '1' as any },
    { algorithms: [] },
    { algorithms: ['RS256' as any] },
  ]) {
    await assert.rejects(() => verify(valid(), bad), TypeError)
  }
  await assert.rejects(() => verifyAccessToken(valid(), {} as any), TypeError)
  // A fractional now behaves as its floor for integer claims.
  assert.ok(await verify(sign(HEADER, claims({ exp: NOW - 59 })), { now: NOW + 0.999 }))
})

// --- 20106: grants ---

test('grants must be an object (20106)', async () => {
  for (const g of [undefined, null, 'x', [], 1]) {
    await rejects(() => verify(sign(HEADER, claims({ grants: g }))), 20106, 'grants', 51116)
  }
})

test('identity: missing, non-string, empty, over 256, control characters and lone surrogates are 20106 (51105)', async () => {
  const withIdentity = (identity: unknown) =>
    sign(
      HEADER,
      grants(
        identity === undefined
          ? { chat: { service_sid: IS } }
          : { identity, chat: { service_sid: IS } },
      ),
    )
  for (const identity of [
    undefined,
    42,
    null,
    ['a'],
    {},
    '',
    'a'.repeat(257),
    'a\u0000b',
    'a\nb',
    'a\rb',
    'a\u007fb',
    'a\u009fb',
    '\ud800',
    'a\udc00b',
  ]) {
    await rejects(() => verify(withIdentity(identity)), 20106, 'identity', 51105)
  }
})

test('no chat grant is 20106 (51116); both chat and ip_messaging is 20106 (51110)', async () => {
  await rejects(
    () => verify(sign(HEADER, grants({ identity: 'a', video: {} }))),
    20106,
    'grant',
    51116,
  )
  await rejects(
    () =>
      verify(
        sign(
          HEADER,
          grants({ identity: 'a', chat: { service_sid: IS }, ip_messaging: { service_sid: IS } }),
        ),
      ),
    20106,
    'grant',
    51110,
  )
  for (const chat of [null, 'IS', [], 1]) {
    await rejects(() => verify(sign(HEADER, grants({ identity: 'a', chat }))), 20106, 'grant')
  }
})

test('inherited or __proto__ members never satisfy a lookup', async () => {
  const p = JSON.stringify(claims()).replace(
    /"grants":\{.*?\}\}/,
    `"grants":{"identity":"a","__proto__":{"chat":{"service_sid":"${IS}"}}}`,
  )
  await rejects(() => verify(sign(HEADER, p)), 20106, 'grant')
  const q = JSON.stringify(claims({ iss: undefined })).replace('{', `{"__proto__":{"iss":"${SK}"},`)
  await rejects(() => verify(sign(HEADER, q)), 20103, 'iss')
  const h = `{"__proto__":{"alg":"HS256"},"typ":"JWT","cty":"twilio-fpa;v=1"}`
  await rejects(() => verify(sign(h, claims())), 20102, 'header.alg')
})

test('service_sid: missing is 20106 (51102); malformed or a Messaging Service SID is 20106 (51101)', async () => {
  await rejects(
    () => verify(sign(HEADER, grants({ identity: 'a', chat: {} }))),
    20106,
    'service_sid',
    51102,
  )
  for (const sid of ['IS' + 'A'.repeat(32), 'IS123', 'CH' + '0'.repeat(32), 5, null, '']) {
    await rejects(
      () => verify(sign(HEADER, grants({ identity: 'a', chat: { service_sid: sid } }))),
      20106,
      'service_sid',
      51101,
    )
  }
  const e = await rejects(
    () =>
      verify(sign(HEADER, grants({ identity: 'a', chat: { service_sid: 'MG' + '0'.repeat(32) } }))),
    20106,
    'service_sid',
    51101,
  )
  assert.match(e.message, /Messaging Service SID/)
  await rejects(
    () => verify(sign(HEADER, grants({ identity: 'a', ip_messaging: {} }))),
    20106,
    'service_sid',
    51102,
  )
})

test('endpoint_id: absent gives null, 256 characters accepted, 257 or a non-string rejected (20106)', async () => {
  const withEndpoint = (endpoint_id: unknown) =>
    sign(HEADER, grants({ identity: 'a', chat: { service_sid: IS, endpoint_id } }))
  assert.equal(
    (await verify(sign(HEADER, grants({ identity: 'a', chat: { service_sid: IS } })))).endpointId,
    null,
  )
  assert.equal((await verify(withEndpoint('e'.repeat(256)))).endpointId, 'e'.repeat(256))
  for (const v of ['e'.repeat(257), 1, null, {}])
    await rejects(() => verify(withEndpoint(v)), 20106, 'endpoint_id')
})

// --- Errors and messages ---

test('messages never contain the token or the secret', async () => {
  const token = sign(HEADER, claims({ exp: NOW - 1000 }))
  const e = await rejects(() => verify(token), 20104)
  const [h, p, s] = token.split('.') as [string, string, string]
  for (const part of [h, p, s, SECRET]) assert.ok(!e.message.includes(part))
  const f = await rejects(() => verify(sign({ ...HEADER, alg: 'x'.repeat(100) }, claims())), 20102)
  assert.ok(!f.message.includes('x'.repeat(50)), 'long user input is not echoed')
})

test('twilsockErrorCode maps each rejection (§7.6)', async () => {
  const code = async (token: string) => {
    try {
      await verify(token)
    } catch (err) {
      return twilsockErrorCode(err)
    }
    return undefined
  }
  assert.equal(await code('x.y'), 51130)
  assert.equal(await code(sign({ ...HEADER, alg: 'none' }, claims())), 51114)
  assert.equal(await code(sign(HEADER, claims({ sub: AC2 }))), 51115)
  assert.equal(await code(sign(HEADER, claims(), { secret: 'y'.repeat(32) })), 51117)
  assert.equal(await code(sign(HEADER, claims({ exp: NOW - 100 }))), 20104)
  assert.equal(await code(sign(HEADER, claims({ nbf: NOW + 100 }))), 51120)
  assert.equal(await code(sign(HEADER, claims({ nbf: 1.5 }))), 51118)
  assert.equal(await code(sign(HEADER, claims({ exp: NOW + 90000 }))), 51121)
  assert.equal(await code(sign(HEADER, grants({ identity: 'a' }))), 51116)
  assert.equal(await code(sign(HEADER, grants({ chat: { service_sid: IS } }))), 51105)
  assert.equal(await code(sign(HEADER, grants({ identity: 'a', chat: {} }))), 51102)
  assert.equal(
    await code(sign(HEADER, grants({ identity: 'a', chat: { service_sid: 'IS1' } }))),
    51101,
  )
  assert.equal(
    await code(
      sign(HEADER, grants({ identity: 'a', chat: { service_sid: IS }, ip_messaging: {} })),
    ),
    51110,
  )
  // Defaults for ChatErrors built elsewhere, and for anything else.
  assert.equal(twilsockErrorCode(new ChatError(20104)), 20104)
  assert.equal(twilsockErrorCode(new ChatError(20107)), 51117)
  assert.equal(twilsockErrorCode(new ChatError(50300)), 51130)
  assert.equal(twilsockErrorCode(new Error('x')), 51130)
})

test('every rejection is a ChatError with HTTP status 401 and a Twilio-shaped body', async () => {
  const e = await rejects(() => verify(sign(HEADER, claims({ exp: NOW - 1000 }))), 20104)
  assert.equal(e.status, 401)
  assert.deepEqual(Object.keys(e.toJSON()), ['code', 'message', 'more_info', 'status'])
})

// --- decodeAccessToken ---

test('decodeAccessToken returns header and payload without verifying, with the same structural rules', async () => {
  const token = sign(HEADER, claims({ exp: NOW - 1000 }))
  const d = decodeAccessToken(token)
  assert.deepEqual(d.header, HEADER)
  assert.equal(d.payload['exp'], NOW - 1000)
  assert.throws(() => decodeAccessToken('a.b'), ChatError)
  assert.throws(() => decodeAccessToken(sign(HEADER, '{"a":1,"a":2}')), { code: 20101 })
})
