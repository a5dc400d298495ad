/**
 * Password hashing with scrypt (RFC 7914) from `node:crypto`: a per-user random salt, a self-describing encoded
 * hash so parameters can be raised later, and a constant-time comparison.
 *
 * @module
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/** scrypt cost parameters. N = 2^15, r = 8 takes ~32 MiB and ~50–100 ms per hash: OWASP's minimum is N = 2^17 with
 * r = 8 and p = 1, or equivalent; 2^15 keeps a 2-core demo box responsive while staying far from a fast hash. */
export interface ScryptParams {
  readonly N: number
  readonly r: number
  readonly p: number
}

/** The default parameters for new hashes. */
export const DEFAULT_SCRYPT: ScryptParams = Object.freeze({ N: 2 ** 15, r: 8, p: 1 })

const KEY_LENGTH = 32
const SALT_LENGTH = 16

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 256 * params.N * params.r,
  }
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (err, key) =>
      err ? reject(err) : resolve(key),
    )
  })
}

/**
 * Hash a password for storage: `scrypt$N$r$p$<salt b64url>$<hash b64url>`.
 *
 * @example
 * const stored = await hashPassword('correct horse battery staple')
 */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT,
): Promise<string> {
  const salt = randomBytes(SALT_LENGTH)
  const key = await derive(password, salt, params)
  return [
    'scrypt',
    params.N,
    params.r,
    params.p,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$')
}

/**
 * Check a password against a hash made by {@link hashPassword}, in constant time with respect to the hash.
 * Returns false (never throws) for a malformed stored value.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0) || N > 2 ** 20 || r > 32 || p > 16)
    return false
  const salt = Buffer.from(parts[4] ?? '', 'base64url')
  const expected = Buffer.from(parts[5] ?? '', 'base64url')
  if (salt.length === 0 || expected.length !== KEY_LENGTH) return false
  const actual = await derive(password, salt, { N, r, p })
  return timingSafeEqual(actual, expected)
}

/**
 * A hash of a random password, so that a sign-in for an unknown user can cost the same scrypt work as one for a known
 * user (no user enumeration through timing).
 */
export function createDummyHash(params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  return hashPassword(randomBytes(16).toString('hex'), params)
}
