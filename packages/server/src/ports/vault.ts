/**
 * The Vault port: encryption of secrets at rest and constant-time comparison (reliability.md §2.10).
 *
 * Core never touches key material or `node:crypto` directly; it seals secrets before storing them and
 * opens them when it needs the plaintext (HMAC verification, webhook signing).
 *
 * @module
 */

/**
 * Authenticated encryption with additional data, plus timing-safe equality.
 *
 * Contract:
 * - `seal(plaintext, aad)` MUST use an AEAD (AES-256-GCM in the default adapter) with a fresh random nonce per call
 *   and MUST return a printable string that starts with a key-version prefix (e.g. `v1:`), so keys can be rotated.
 * - `open(sealed, aad)` MUST return `undefined` (never throw) when the ciphertext, tag, version or `aad` do not match.
 * - The sealed string MUST NOT contain the plaintext in any encoding.
 * - `equal(a, b)` MUST take time independent of where `a` and `b` differ and of their lengths (compare fixed-length
 *   digests, e.g. SHA-256, with a timing-safe comparison), and MUST NOT throw.
 */
export interface Vault {
  seal(plaintext: string, aad: string): string
  open(sealed: string, aad: string): string | undefined
  equal(a: string, b: string): boolean
}
