/**
 * Which browser origins may open a WebSocket on the server (OWASP ASVS 4.4.2, reliability.md §2.10 and R22).
 *
 * A request without `Origin` comes from a non-browser client (the Node SDKs, a backend) and is always allowed: the
 * header is what a browser adds, and only a browser can be made to connect on behalf of another site. A page from
 * the server's own origin is always allowed too. Beyond that, the configured list decides; with no list, only pages
 * served from a loopback host (local development, the demo on another port) are allowed.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http'

/** Decides whether an upgrade request's `Origin` is acceptable. */
export type OriginCheck = (req: IncomingMessage) => boolean

/**
 * Build the origin check for WebSocket upgrades.
 *
 * @param allowed - serialised origins (`https://chat.example.com`) or `'*'`; undefined = the loopback-only default.
 * @param publicUrl - the server's public base URL, whose origin counts as same-origin.
 *
 * @example
 * ```ts
 * const check = originCheck(['https://chat.example.com'], undefined)
 * if (!check(req)) refuseUpgrade(socket, 403, 'Origin not allowed')
 * ```
 */
export function originCheck(
  allowed: readonly string[] | undefined,
  publicUrl: string | undefined,
): OriginCheck {
  const any = allowed?.includes('*') === true
  const list = new Set((allowed ?? []).map((o) => o.toLowerCase()))
  const publicOrigin = publicUrl === undefined ? undefined : new URL(publicUrl).origin
  return (req) => {
    const origin = req.headers.origin
    if (origin === undefined || any) return true
    const o = origin.toLowerCase()
    if (list.has(o) || o === publicOrigin) return true
    let u: URL
    try {
      u = new URL(o)
    } catch {
      // `null` (sandboxed frames, file://) and garbage.
      return false
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return false
    // Same origin: the page was served by this host (the scheme may differ behind a TLS-terminating proxy).
    if (req.headers.host !== undefined && u.host === req.headers.host.toLowerCase()) return true
    return allowed === undefined && isLoopback(u.hostname)
  }
}

function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname.endsWith('.localhost') ||
    hostname === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  )
}
