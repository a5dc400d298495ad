/**
 * Cookie parsing, `Set-Cookie` serialisation and HMAC signing of cookie values.
 *
 * @module
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

/** Parse a `Cookie` request header into name → value (the first occurrence of a name wins, RFC 6265 §5.4). */
export function parseCookies(header: string | null): Map<string, string> {
  const out = new Map<string, string>()
  if (!header) return out
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    const name = part.slice(0, eq).trim()
    let value = part.slice(eq + 1).trim()
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2)
      value = value.slice(1, -1)
    if (name && !out.has(name)) out.set(name, value)
  }
  return out
}

/** Attributes of a `Set-Cookie` header. */
export interface CookieOptions {
  /** Seconds; 0 deletes the cookie. Omitted = a browser-session cookie. */
  maxAge?: number
  secure: boolean
  httpOnly?: boolean
  sameSite?: 'Lax' | 'Strict'
}

/** Serialise one `Set-Cookie` value. Values must already be cookie-safe (the demo only stores base64url). */
export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  if (!/^[A-Za-z0-9_.-]*$/.test(value))
    throw new TypeError('serializeCookie: value must be base64url text')
  const parts = [`${name}=${value}`, 'Path=/', `SameSite=${options.sameSite ?? 'Lax'}`]
  if (options.httpOnly ?? true) parts.push('HttpOnly')
  if (options.secure) parts.push('Secure')
  if (options.maxAge !== undefined) {
    parts.push(`Max-Age=${Math.max(0, Math.floor(options.maxAge))}`)
    if (options.maxAge <= 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT')
  }
  return parts.join('; ')
}

/** HMAC-SHA256 of `purpose:value`, base64url. The purpose keeps a signature for one use from being valid for another. */
export function mac(key: Buffer, purpose: string, value: string): string {
  return createHmac('sha256', key).update(`${purpose}:${value}`).digest('base64url')
}

/** Constant-time comparison of two strings (false when the lengths differ). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** `value.signature` for a cookie. */
export function signValue(key: Buffer, purpose: string, value: string): string {
  return `${value}.${mac(key, purpose, value)}`
}

/** The value of a cookie made by {@link signValue}, or `undefined` when it is malformed or the signature is wrong. */
export function unsignValue(
  key: Buffer,
  purpose: string,
  signed: string | undefined,
): string | undefined {
  if (!signed) return undefined
  const dot = signed.lastIndexOf('.')
  if (dot <= 0) return undefined
  const value = signed.slice(0, dot)
  return safeEqual(signed.slice(dot + 1), mac(key, purpose, value)) ? value : undefined
}
