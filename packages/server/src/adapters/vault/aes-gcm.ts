/**
 * AES-256-GCM sealing of secrets at rest (reliability.md §2.10, access-tokens.md §11) and the master key file.
 *
 * Sealed format: `v1:` + base64url(nonce[12] ‖ ciphertext ‖ tag[16]). The `v1` prefix names the master key version,
 * so a later rotation can add `v2` while still opening `v1`.
 *
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Vault } from '../../ports/vault.ts'

const VERSION = 'v1'

/**
 * A {@link Vault} sealing with AES-256-GCM under `masterKey` (32 bytes).
 *
 * @throws {RangeError} when `masterKey` is not 32 bytes.
 * @example
 * ```ts
 * const vault = aesGcmVault(loadOrCreateMasterKey('/var/lib/parley'))
 * const sealed = vault.seal(secret, `${accountSid}|${keySid}|v1`)
 * ```
 */
export function aesGcmVault(masterKey: Uint8Array): Vault {
  if (masterKey.length !== 32) throw new RangeError('masterKey must be 32 bytes')
  const key = Buffer.from(masterKey)
  const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()
  return {
    seal(plaintext, aad) {
      const nonce = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, nonce)
      cipher.setAAD(Buffer.from(aad, 'utf8'))
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return `${VERSION}:${Buffer.concat([nonce, ct, cipher.getAuthTag()]).toString('base64url')}`
    },
    open(sealed, aad) {
      if (!sealed.startsWith(`${VERSION}:`)) return undefined
      const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64url')
      if (raw.length < 28) return undefined
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12))
        decipher.setAAD(Buffer.from(aad, 'utf8'))
        decipher.setAuthTag(raw.subarray(raw.length - 16))
        return Buffer.concat([
          decipher.update(raw.subarray(12, raw.length - 16)),
          decipher.final(),
        ]).toString('utf8')
      } catch {
        return undefined
      }
    },
    equal(a, b) {
      // Fixed-length digests: no length leak and timingSafeEqual never throws.
      return timingSafeEqual(digest(a), digest(b))
    },
  }
}

/** Name of the master key file inside the data directory. */
export const MASTER_KEY_FILE = 'master.key'

/**
 * Reads the 32-byte master key from `<dataDir>/master.key` (64 hex characters), creating it with mode 0600 when it
 * does not exist. The config layer prefers `PARLEY_MASTER_KEY` (parse it with {@link parseMasterKey}) and falls back
 * to this file.
 *
 * @throws {Error} when the file exists but does not hold a valid key.
 */
export function loadOrCreateMasterKey(dataDir: string): Buffer {
  const path = join(dataDir, MASTER_KEY_FILE)
  try {
    return parseMasterKey(readFileSync(path, 'utf8').trim())
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`invalid master key file ${path}: ${(err as Error).message}`, { cause: err })
    }
  }
  mkdirSync(dataDir, { recursive: true })
  const key = randomBytes(32)
  try {
    writeFileSync(path, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' })
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      return parseMasterKey(readFileSync(path, 'utf8').trim())
    throw err
  }
  chmodSync(path, 0o600)
  return key
}

/**
 * Parses a master key given as 64 hex characters or as base64/base64url of 32 bytes.
 *
 * @throws {Error} when the value does not decode to 32 bytes.
 */
export function parseMasterKey(value: string): Buffer {
  const v = value.trim()
  if (/^[0-9a-fA-F]{64}$/.test(v)) return Buffer.from(v, 'hex')
  const b = Buffer.from(v, v.includes('-') || v.includes('_') ? 'base64url' : 'base64')
  if (b.length !== 32) throw new Error('master key must be 32 bytes (64 hex characters or base64)')
  return b
}
