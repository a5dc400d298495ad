/**
 * Checks made before a WebSocket upgrade is accepted, and the plain-HTTP refusal written when one fails
 * (the `ws` README's "Client authentication" pattern).
 *
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ServerOptions } from 'ws'

/**
 * The options of every `ws` server that completes our upgrades (in the server, or in its socket process): no
 * compression, no client tracking, and bounded messages (reliability.md §2.2; `maxFragments`/`maxBufferedChunks` need
 * ws ≥ 8.21).
 */
export function webSocketServerOptions(maxPayloadBytes: number): ServerOptions {
  return {
    noServer: true,
    perMessageDeflate: false,
    clientTracking: false,
    maxPayload: maxPayloadBytes,
    maxFragments: 64,
    maxBufferedChunks: 1024,
  }
}

/**
 * Whether the request's `Origin` is acceptable (OWASP ASVS 4.4.2, reliability.md §2.10 and R22).
 * No `Origin` header (non-browser clients) is always allowed; with `allowList` unset every origin is allowed.
 * Entries are compared exactly, case-insensitively (e.g. `https://chat.example.com`); `'*'` allows all.
 */
export function originAllowed(
  req: IncomingMessage,
  allowList: readonly string[] | undefined,
): boolean {
  const origin = req.headers.origin
  if (origin === undefined || allowList === undefined) return true
  const o = origin.toLowerCase()
  return allowList.some((a) => a === '*' || a.toLowerCase() === o)
}

/** The request path without its query string. */
export function requestPath(req: IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

/** Writes a minimal HTTP error response on an upgrade socket and destroys it. */
export function refuseUpgrade(socket: Duplex, status: number, message?: string): void {
  const body = message ?? STATUS_CODES[status] ?? 'Error'
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        '\r\n' +
        body,
    )
  }
  socket.destroy()
}
