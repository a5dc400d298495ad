/**
 * HTTP Basic authentication for the admin REST API (chat-rest-v2.md §3, reliability.md §2.10).
 *
 * This module only parses the header. Checking the pair (`AccountSid:AuthToken` or `ApiKeySid:ApiKeySecret`) is the
 * core's job and is constant-time there; every failure, whatever its cause, yields the same 401 body.
 *
 * @module
 */
import type { Core } from '../core/api.ts'
import type { AdminActor } from './types.ts'

/** Username and password from an `Authorization: Basic …` header. */
export interface BasicCredentials {
  readonly username: string
  readonly password: string
}

/** Longest `Authorization` header value considered (SIDs are 34 characters, secrets 32–64). */
const MAX_AUTH_HEADER = 1024

/**
 * Parse `Authorization: Basic base64(user:pass)` (RFC 7617). Returns undefined for anything malformed, so the caller
 * answers with the uniform 401.
 */
export function parseBasicAuth(header: string | undefined): BasicCredentials | undefined {
  if (header === undefined || header.length > MAX_AUTH_HEADER) return undefined
  const m = /^[Bb][Aa][Ss][Ii][Cc] +([A-Za-z0-9+/]+={0,2}) *$/.exec(header)
  if (m === null) return undefined
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) return undefined
  const username = decoded.slice(0, colon)
  const password = decoded.slice(colon + 1)
  // eslint-disable-next-line no-control-regex
  if (password === '' || /[\u0000-\u001f\ufffd]/.test(decoded)) return undefined
  return { username, password }
}

/**
 * Adapt the core's `authenticateBasic` (which throws 20003 on any failure) to the app's `Authenticate` shape.
 * Any failure, including an infrastructure error, resolves to undefined (→ the uniform 401); infrastructure errors
 * are reported through `onError` so they are not silently lost.
 */
export function coreAuthenticator(
  core: Pick<Core, 'authenticateBasic'>,
  onError?: (err: unknown) => void,
): (username: string, password: string) => Promise<AdminActor | undefined> {
  return async (username, password) => {
    try {
      const p = await core.authenticateBasic(username, password)
      return {
        kind: 'admin',
        accountSid: p.accountSid,
        keySid: p.via === 'key' ? (p.keySid ?? undefined) : undefined,
      }
    } catch (err) {
      if (
        onError !== undefined &&
        !(typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 20003)
      ) {
        onError(err)
      }
      return undefined
    }
  }
}
