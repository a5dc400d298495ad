/**
 * The node:http bridge: serves an {@link App} on a Node HTTP server with the transport limits of reliability.md §2.2
 * (streaming body cap → 413 before buffering, headers/request timeouts, header size → 431 from Node), routes
 * WebSocket upgrades to registered handlers by path, tracks connections for metrics, and drains on shutdown (§2.9).
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { ChatError } from '@parley/token/errors'
import type { Limits } from '../config.ts'
import type { App } from './app.ts'
import { errorResponse } from './errors.ts'
import type { AppRequest, AppResponse } from './types.ts'

/**
 * Handles an HTTP upgrade (WebSocket) request for one path. It owns `socket` from then on: it must either complete
 * the handshake or write an HTTP error and destroy the socket.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

/** A Node HTTP server serving the app, with an upgrade hook and a graceful drain. */
export interface NodeBridge {
  readonly server: Server
  /**
   * Route `upgrade` requests whose path (without the query) equals `path` to `handler`, e.g.
   * `bridge.onUpgrade('/v3/wsconnect', twilsock.handleUpgrade)`. Returns a function that removes the registration.
   * Upgrades on unregistered paths get `404` and the socket is closed.
   */
  onUpgrade(path: string, handler: UpgradeHandler): () => void
  /**
   * Stop accepting connections, let in-flight requests finish (responses then carry `Connection: close`), close idle
   * keep-alive connections, and after `timeoutMs` cut whatever is left. Resolves when the server is closed.
   */
  drain(timeoutMs: number): Promise<void>
}

/**
 * Create the Node HTTP server for `app`.
 *
 * @example
 * ```ts
 * const bridge = createNodeBridge(app, config.limits)
 * bridge.server.listen(3210, '127.0.0.1')
 * ```
 */
export function createNodeBridge(app: App, limits: Limits): NodeBridge {
  const upgrades = new Map<string, UpgradeHandler>()
  let draining = false

  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      // Node checks the two timeouts above on this interval (default 30 s); check often enough to honour them.
      connectionsCheckingInterval: Math.max(
        250,
        Math.min(1000, Math.floor(limits.headersTimeoutMs / 4)),
      ),
      // Nagle would add up to 40 ms to small keep-alive responses.
      noDelay: true,
    },
    (req, res) => {
      onRequest(req, res)
    },
  )
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket

  server.on('connection', (socket) => {
    app.metrics.connectionOpened()
    socket.once('close', () => app.metrics.connectionClosed())
  })

  // Malformed requests and oversized headers: Node answers 400 / 431 itself when we do not; keep that, but never
  // let an error escape as a crash.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) {
      socket.destroy()
      return
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
    const reason =
      status === 431
        ? 'Request Header Fields Too Large'
        : status === 408
          ? 'Request Timeout'
          : 'Bad Request'
    const body =
      status === 408
        ? ''
        : JSON.stringify({
            code: 20001,
            message: status === 431 ? 'Request headers are too large' : 'Malformed HTTP request',
            more_info: 'https://www.twilio.com/docs/errors/20001',
            status,
          })
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    )
  })

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const handler = draining ? undefined : upgrades.get(path)
    if (handler === undefined) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    try {
      handler(req, socket, head)
    } catch (err) {
      app.logger.error('upgrade handler threw', { path, err })
      socket.destroy()
    }
  })

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now()
    const rawUrl = req.url ?? '/'
    const q = rawUrl.indexOf('?')
    let path = q === -1 ? rawUrl : rawUrl.slice(0, q)
    const query = q === -1 ? '' : rawUrl.slice(q + 1)
    if (!path.startsWith('/')) {
      // absolute-form (proxy style) request target
      try {
        path = new URL(path).pathname
      } catch {
        path = '/'
      }
    }
    const method = (req.method ?? 'GET').toUpperCase()
    req.on('error', () => undefined)
    res.on('error', () => undefined)

    const cap = limits.bodyBytes
    const declared = req.headers['content-length']
    if (declared !== undefined && Number(declared) > cap) {
      tooLarge(req, res, method, path, startedAt)
      return
    }
    const hasBody =
      declared !== undefined ? Number(declared) > 0 : req.headers['transfer-encoding'] !== undefined
    if (!hasBody) {
      dispatch(req, res, method, path, query, null, startedAt)
      return
    }

    const chunks: Buffer[] = []
    let size = 0
    let done = false
    req.on('data', (chunk: Buffer) => {
      if (done) return
      size += chunk.length
      if (size > cap) {
        done = true
        chunks.length = 0
        tooLarge(req, res, method, path, startedAt)
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      if (done) return
      done = true
      dispatch(
        req,
        res,
        method,
        path,
        query,
        chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks),
        startedAt,
      )
    })
  }

  function tooLarge(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
    startedAt: number,
  ): void {
    app.metrics.bodyRejected()
    const r = errorResponse(
      new ChatError(20413, `Request body is larger than ${limits.bodyBytes} bytes`),
    )
    // The rest of the body is never read: close the connection once the answer is out.
    req.pause()
    write(res, r, true)
    res.once('finish', () => {
      setTimeout(() => req.socket.destroy(), 50).unref()
    })
    app.record({ method, path }, 413, startedAt)
  }

  function dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
    query: string,
    body: Buffer | null,
    _startedAt: number,
  ): void {
    const headers = req.headers
    const appReq: AppRequest = {
      method,
      path,
      query,
      body,
      remoteAddress: req.socket.remoteAddress,
      header(name: string): string | undefined {
        const v = headers[name]
        return Array.isArray(v) ? v.join(', ') : v
      },
    }
    app.handle(appReq).then(
      (r) => write(res, r, draining),
      (err: unknown) => {
        // handle() never rejects; this is a last line of defence.
        app.logger.error('request failed', { err })
        write(res, errorResponse(err), true)
      },
    )
  }

  function write(res: ServerResponse, r: AppResponse, close: boolean): void {
    if (res.headersSent || res.destroyed) return
    const headers: Record<string, string | number> = { ...r.headers }
    const body = r.status === 204 || r.status === 304 ? null : r.body
    headers['content-length'] = body === null ? 0 : Buffer.byteLength(body)
    if (close) headers['connection'] = 'close'
    res.writeHead(r.status, headers)
    res.end(body ?? undefined)
  }

  return {
    server,
    onUpgrade(path, handler) {
      if (upgrades.has(path))
        throw new TypeError(`an upgrade handler is already registered for ${path}`)
      upgrades.set(path, handler)
      return () => {
        if (upgrades.get(path) === handler) upgrades.delete(path)
      }
    },
    drain(timeoutMs) {
      draining = true
      app.ready = false
      return new Promise<void>((resolve) => {
        if (!server.listening) {
          resolve()
          return
        }
        const idle = setInterval(() => server.closeIdleConnections(), 100)
        const cut = setTimeout(() => server.closeAllConnections(), timeoutMs)
        cut.unref()
        server.close(() => {
          clearInterval(idle)
          clearTimeout(cut)
          resolve()
        })
        server.closeIdleConnections()
      })
    },
  }
}
