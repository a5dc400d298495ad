import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { AccessToken } from '../src/access-token.ts'
import { isChatError } from '../src/errors.ts'
import { endpointId } from '../src/endpoint-id.ts'
import { verifyAccessTokenSync } from '../src/verify.ts'
import { AC, claims, HEADER, IS, NOW, resolveKey, SECRET, sign, SK } from './support/tokens.ts'

const identityArb = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 64 })
  .filter((s) => s.length <= 256 && !/[\p{Cc}\p{Cs}]/u.test(s))

test('property: any valid token round-trips (mint at t, verify at t + d within the lifetime)', (t) => {
  let nowMs = 0
  t.mock.method(Date, 'now', () => nowMs)
  fc.assert(
    fc.property(
      identityArb,
      fc.option(fc.stringMatching(/^[a-z]{1,10}$/), { nil: undefined }),
      fc.constantFrom('HS256', 'HS384', 'HS512') as fc.Arbitrary<'HS256' | 'HS384' | 'HS512'>,
      fc.integer({ min: 1, max: 86400 }),
      fc.option(fc.constantFrom('ie1', 'us1', 'au1'), { nil: undefined }),
      fc.integer({ min: 1_000_000_000, max: 4_000_000_000 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (identity, device, alg, ttl, region, mintedAt, frac) => {
        nowMs = mintedAt * 1000
        const token = new AccessToken(AC, SK, SECRET, { identity, ttl, ...(region && { region }) })
        const endpoint = device
          ? endpointId({ app: 'demo', identity: 'x', deviceId: device })
          : undefined
        token.addGrant(
          new AccessToken.ChatGrant({ serviceSid: IS, ...(endpoint && { endpointId: endpoint }) }),
        )
        const jwt = token.toJwt(alg)
        const at = mintedAt + Math.floor(frac * (ttl - 1)) // any second in [iat, exp)
        const p = verifyAccessTokenSync(jwt, { resolveKey, now: at })
        assert.equal(p.identity, identity)
        assert.equal(p.serviceSid, IS)
        assert.equal(p.endpointId, endpoint ?? null)
        assert.equal(p.issuedAt, mintedAt)
        assert.equal(p.expiresAt, mintedAt + ttl)
        assert.equal(p.algorithm, alg)
        assert.equal(p.region, region ?? null)
      },
    ),
    { numRuns: 300 },
  )
})

test('property: any single-byte change to a valid token is rejected with a ChatError', () => {
  const tokens = (['HS256', 'HS384', 'HS512'] as const).map((alg) =>
    sign({ ...HEADER, alg }, claims()),
  )
  for (const token of tokens) verifyAccessTokenSync(token, { resolveKey, now: NOW })
  fc.assert(
    fc.property(
      fc.constantFrom(...tokens),
      fc.nat(),
      fc.integer({ min: 0, max: 255 }),
      (token, pos, byte) => {
        const i = pos % token.length
        fc.pre(token.charCodeAt(i) !== byte)
        const changed = token.slice(0, i) + String.fromCharCode(byte) + token.slice(i + 1)
        assert.throws(
          () => verifyAccessTokenSync(changed, { resolveKey, now: NOW }),
          (err: unknown) => isChatError(err),
        )
      },
    ),
    { numRuns: 2000 },
  )
})

test('property: every position, changed to every other base64url character, is rejected', () => {
  // Exhaustive over the alphabet at a sample of positions across the three segments.
  const token = sign(HEADER, claims())
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  for (let i = 0; i < token.length; i += 7) {
    if (token[i] === '.') continue
    for (const c of alphabet) {
      if (c === token[i]) continue
      const changed = token.slice(0, i) + c + token.slice(i + 1)
      assert.throws(
        () => verifyAccessTokenSync(changed, { resolveKey, now: NOW }),
        (e: unknown) => isChatError(e),
      )
    }
  }
})

test('property (jose-style time boundaries): nbf ok iff nbf ≤ now + S, exp ok iff exp > now − S, iat ok iff iat ≤ now + S', () => {
  // Modelled on panva/jose test/jwt/property.test.ts: random now and leeway, boundary delta ±3.
  const verifyAt = (payload: Record<string, unknown>, now: number, S: number) => {
    try {
      verifyAccessTokenSync(sign(HEADER, payload), { resolveKey, now, leewaySeconds: S })
      return true
    } catch (err) {
      if (!isChatError(err)) throw err
      return false
    }
  }
  fc.assert(
    fc.property(
      fc.integer({ min: 2000, max: 2100 }),
      fc.integer({ min: 0, max: 120 }),
      fc.integer({ min: -3, max: 3 }),
      (now, S, delta) => {
        // nbf at the edge; exp and iat comfortably valid.
        const nbf = now + S + delta
        assert.equal(
          verifyAt(claims({ iat: undefined, nbf, exp: nbf + 1000 }), now, S),
          nbf <= now + S,
          `nbf ${delta}`,
        )
        // exp at the edge; iat well in the past but within the lifetime.
        const exp = now - S + delta
        assert.equal(
          verifyAt(claims({ iat: exp - 1000, exp }), now, S),
          exp > now - S,
          `exp ${delta}`,
        )
        // iat at the edge; exp far enough ahead.
        const iat = now + S + delta
        assert.equal(
          verifyAt(claims({ iat, exp: iat + 1000 }), now, S),
          iat <= now + S,
          `iat ${delta}`,
        )
      },
    ),
    { numRuns: 100 },
  )
})
