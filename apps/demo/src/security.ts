/**
 * Response security headers and request-origin checks for the demo.
 *
 * @module
 */

/** How the demo decides which origin and scheme a request arrived on. */
export interface OriginPolicy {
  /** The configured public origin; when set it is the only one accepted. */
  readonly publicOrigin: string | undefined
  /** Trust `X-Forwarded-Proto` / `X-Forwarded-Host` from a reverse proxy. */
  readonly trustProxy: boolean
}

function firstForwarded(value: string | null): string | undefined {
  const v = value?.split(',')[0]?.trim()
  return v ? v : undefined
}

/** The origin the browser used to reach the demo (`https://chat.example.com`). */
export function requestOrigin(req: Request, policy: OriginPolicy): string {
  if (policy.publicOrigin) return policy.publicOrigin
  const url = new URL(req.url)
  if (policy.trustProxy) {
    const proto = firstForwarded(req.headers.get('x-forwarded-proto'))
    const host = firstForwarded(req.headers.get('x-forwarded-host'))
    if (proto === 'http' || proto === 'https') url.protocol = `${proto}:`
    if (host && /^[A-Za-z0-9.:[\]-]+$/.test(host)) url.host = host
  }
  return url.origin
}

/** True when the browser reached the demo over https (cookies get `Secure`, responses get HSTS). */
export function isSecureRequest(req: Request, policy: OriginPolicy): boolean {
  return requestOrigin(req, policy).startsWith('https:')
}

/**
 * Origin check for state-changing requests (OWASP CSRF cheat sheet, "Verifying origin with standard headers").
 * Browsers send `Origin` on every cross-origin request and on same-origin POSTs; when it is absent (non-browser
 * clients), `Sec-Fetch-Site` must not say the request is cross-site.
 */
export function isSameOrigin(req: Request, policy: OriginPolicy): boolean {
  const origin = req.headers.get('origin')
  if (origin !== null) return origin === requestOrigin(req, policy)
  const site = req.headers.get('sec-fetch-site')
  return site === null || site === 'same-origin' || site === 'none'
}

/** The CSP `connect-src` source for a ws/http URL: its origin (ws: origins are spelled out; `'self'` does not
 * cover ws: in every browser). */
function sourceOf(url: string): string {
  const u = new URL(url)
  return `${u.protocol}//${u.host}`
}

/**
 * The headers every demo response carries. `connect-src` allows the Parley Twilsock URL (the SDK's WebSocket) and the
 * Parley HTTP origin (the media service, the only direct HTTP the SDK makes).
 */
export function securityHeaders(options: {
  twilsockUrl: string
  parleyUrl: string
  secure: boolean
}): Headers {
  const connect = new Set(["'self'", sourceOf(options.twilsockUrl), sourceOf(options.parleyUrl)])
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${[...connect].join(' ')}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
  const h = new Headers({
    'content-security-policy': csp,
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  })
  if (options.secure) h.set('strict-transport-security', 'max-age=31536000')
  return h
}
