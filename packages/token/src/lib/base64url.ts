/**
 * Strict base64url (RFC 4648 §5 alphabet, §3.5 canonical encoding, no padding; RFC 7515 §2).
 * `Buffer.from(s, 'base64url')` alone is lenient: it skips invalid characters, accepts padding and whitespace,
 * and ignores non-zero trailing bits (access-tokens.md §7.7).
 */
import { Buffer } from 'node:buffer'

const VALUE = new Int8Array(128).fill(-1)
for (const [i, ch] of [
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
].entries()) {
  VALUE[ch.charCodeAt(0)] = i
}

/**
 * Whether `s` is the canonical base64url encoding of some byte string, i.e. decoding and re-encoding it gives
 * `s` back: only alphabet characters, no padding, `length % 4 !== 1`, and zero unused bits in the last character.
 * Checking the trailing bits is equivalent to the re-encode comparison and cheaper.
 */
export function isCanonicalBase64url(s: string): boolean {
  const n = s.length
  const rem = n % 4
  if (rem === 1) return false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c >= 128 || VALUE[c] === -1) return false
  }
  return hasCanonicalTail(s)
}

/**
 * For a string already known to use only the base64url alphabet: whether its length and last character are
 * canonical (`length % 4 !== 1`, unused trailing bits zero).
 */
export function hasCanonicalTail(s: string): boolean {
  const n = s.length
  const rem = n % 4
  if (rem === 1) return false
  if (rem === 0) return true
  const last = VALUE[s.charCodeAt(n - 1)]!
  // 2 chars carry 8 bits (4 unused), 3 chars carry 16 bits (2 unused).
  return rem === 2 ? (last & 0x0f) === 0 : (last & 0x03) === 0
}

/** Decodes canonical base64url, or returns `undefined` when `s` is not canonical. */
export function decodeBase64urlStrict(s: string): Buffer | undefined {
  return isCanonicalBase64url(s) ? Buffer.from(s, 'base64url') : undefined
}
