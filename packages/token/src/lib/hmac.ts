/** The HMAC layer of JWS HS256/HS384/HS512 (RFC 7518 §3.2), on synchronous `node:crypto`. */
import type { Buffer } from 'node:buffer'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { DIGEST_BYTES, HASH_OF, type Algorithm } from './algorithms.ts'

/** HMAC of the signing input (an ASCII string: `b64(header) + "." + b64(payload)`, exactly as received). */
export function hmacDigest(alg: Algorithm, key: Uint8Array, signingInput: string): Buffer {
  return createHmac(HASH_OF[alg], key).update(signingInput, 'latin1').digest()
}

/**
 * Whether `signature` is the full-length HMAC of `signingInput` under `key`. A signature of any other length is
 * rejected (RFC 7518 §3.2 forbids truncated HMAC tags in JWS); the comparison is constant-time.
 */
export function hmacVerify(
  alg: Algorithm,
  key: Uint8Array,
  signingInput: string,
  signature: Uint8Array,
): boolean {
  const expected = hmacDigest(alg, key, signingInput)
  if (signature.length !== DIGEST_BYTES[alg]) return false
  return timingSafeEqual(expected, signature)
}
