/**
 * Fixtures for token tests: hex SIDs that pass the strict patterns, a signer for arbitrary header and payload
 * bytes, and an assertion on ChatError codes.
 */
import assert from 'node:assert/strict'
import { Buffer } from 'node:buffer'
import { createHmac } from 'node:crypto'
import { createRequire } from 'node:module'
import { isChatError, type ChatError, type ErrorCode } from '../../src/errors.ts'
import type { KeyLookup } from '../../src/verify.ts'

export const AC = 'AC0123456789abcdef0123456789abcdef'
export const AC2 = 'ACfedcba9876543210fedcba9876543210'
export const SK = 'SK0123456789abcdef0123456789abcdef'
export const SK2 = 'SKfedcba9876543210fedcba9876543210'
export const IS = 'IS0123456789abcdef0123456789abcdef'
export const SECRET = 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3Jh'
export const NOW = 1_800_000_000

/** Keys known to the fixtures' resolver. */
export const KEYS: ReadonlyMap<string, { secret: string; accountSid: string }> = new Map([
  [SK, { secret: SECRET, accountSid: AC }],
  [SK2, { secret: 'another-secret-of-32-characters!', accountSid: AC2 }],
])

/** A synchronous resolver over {@link KEYS}. */
export function resolveKey(keySid: string): KeyLookup {
  return KEYS.get(keySid)
}

/** The default header of twilio-node. */
export const HEADER = { alg: 'HS256', typ: 'JWT', cty: 'twilio-fpa;v=1' }

/** A valid twilio-node-shaped payload at {@link NOW}; `overrides` replace members (undefined deletes). */
export function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    jti: `${SK}-${NOW}`,
    grants: { identity: 'alice', chat: { service_sid: IS, endpoint_id: 'demo:alice:web' } },
    iat: NOW,
    exp: NOW + 3600,
    iss: SK,
    sub: AC,
  }
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete base[k]
    else base[k] = v
  }
  return base
}

export function b64(s: string | Uint8Array): string {
  return (typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s)).toString('base64url')
}

const HASH = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' } as const

/**
 * Signs arbitrary header and payload: objects are JSON-serialised, strings and byte arrays are used as the exact
 * segment bytes. The HMAC algorithm is `alg` (default: the header's alg when valid, else HS256).
 */
export function sign(
  header: object | string | Uint8Array,
  payload: object | string | Uint8Array,
  options: { secret?: string; alg?: keyof typeof HASH } = {},
): string {
  const h =
    header instanceof Uint8Array || typeof header === 'string' ? header : JSON.stringify(header)
  const p =
    payload instanceof Uint8Array || typeof payload === 'string' ? payload : JSON.stringify(payload)
  const headerAlg = (header as { alg?: unknown }).alg
  const alg =
    options.alg ??
    (typeof headerAlg === 'string' && headerAlg in HASH
      ? (headerAlg as keyof typeof HASH)
      : 'HS256')
  const input = `${b64(h)}.${b64(p)}`
  const sig = createHmac(HASH[alg], options.secret ?? SECRET)
    .update(input)
    .digest('base64url')
  return `${input}.${sig}`
}

/** Asserts that `fn` throws (or rejects with) a ChatError with `code` (and `check`, when given). */
export async function rejects(
  fn: () => unknown,
  code: ErrorCode,
  check?: string,
  twilsock?: number,
): Promise<ChatError> {
  let caught: unknown
  try {
    await fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught !== undefined, `expected a ChatError ${code}, but nothing was thrown`)
  assert.ok(isChatError(caught), `expected a ChatError ${code}, got ${String(caught)}`)
  const e = caught as ChatError
  assert.equal(
    e.code,
    code,
    `expected ${code}${check ? ` (${check})` : ''}, got ${e.code}: ${e.message}`,
  )
  if (check !== undefined) assert.equal(e.details?.['check'], check, e.message)
  if (twilsock !== undefined) assert.equal(e.details?.['twilsockErrorCode'], twilsock, e.message)
  assert.ok(!e.message.includes(SECRET), 'the message must not contain the secret')
  return e
}

const require = createRequire(import.meta.url)

/** The official helper's AccessToken class (twilio@6.3.1, devDependency). */
export const TwilioAccessToken: any = require('twilio/lib/jwt/AccessToken')
