/** The HMAC algorithms of Access Tokens and their `node:crypto` digest names and sizes. */

/** A JWS algorithm Access Tokens may use: the three HMAC variants twilio-node can mint. */
export type Algorithm = 'HS256' | 'HS384' | 'HS512'

/** `node:crypto` hash name per algorithm. */
export const HASH_OF: Readonly<Record<Algorithm, 'sha256' | 'sha384' | 'sha512'>> = Object.freeze({
  __proto__: null,
  HS256: 'sha256',
  HS384: 'sha384',
  HS512: 'sha512',
} as Record<Algorithm, 'sha256' | 'sha384' | 'sha512'>)

/** Signature (digest) length in bytes per algorithm (RFC 7518 §3.2). */
export const DIGEST_BYTES: Readonly<Record<Algorithm, number>> = Object.freeze({
  __proto__: null,
  HS256: 32,
  HS384: 48,
  HS512: 64,
} as Record<Algorithm, number>)

/** Whether `alg` is exactly one of the three HMAC algorithm names (case-sensitive, own keys only). */
export function isAlgorithm(alg: unknown): alg is Algorithm {
  return alg === 'HS256' || alg === 'HS384' || alg === 'HS512'
}
