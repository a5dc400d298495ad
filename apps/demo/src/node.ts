/**
 * The node:http bridge: turns an `IncomingMessage` into a `Request`, calls the fetch handler, and writes the
 * `Response` back.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { DemoApp } from './app.ts'

/** Largest request body the bridge will stream into a `Request` (the app enforces its own smaller limit). */
const MAX_BODY = 64 * 1024

/** Read the whole body, or `undefined` when it is larger than {@link MAX_BODY}. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

function toRequest(req: IncomingMessage, body: Buffer | null): Request {
  // A malformed Host header falls back to localhost (the app's Origin check then fails closed).
  let url: URL
  try {
    url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`)
  } catch {
    url = new URL('/', 'http://localhost')
  }
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue
    if (Array.isArray(value)) for (const v of value) headers.append(name, v)
    else headers.set(name, value)
  }
  return new Request(url, { method: req.method ?? 'GET', headers, body })
}

async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  const cookies = response.headers.getSetCookie()
  const headers: Record<string, string | string[]> = {}
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value
  })
  if (cookies.length > 0) headers['set-cookie'] = cookies
  res.writeHead(response.status, headers)
  if (response.body) {
    for await (const chunk of response.body) res.write(chunk)
  }
  res.end()
}

/** A node:http server that serves `app`. */
export function createNodeServer(app: DemoApp): Server {
  const server = createServer((req, res) => {
    const method = req.method ?? 'GET'
    const hasBody = method !== 'GET' && method !== 'HEAD'
    ;(hasBody ? readBody(req) : Promise.resolve(null))
      .then((body) => {
        if (body === undefined) {
          res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' })
          res.end('Request too large')
          return undefined
        }
        return app
          .fetch(toRequest(req, body), { remoteAddress: req.socket.remoteAddress })
          .then((response) => writeResponse(res, response))
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
        res.end('Internal error')
      })
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  server.keepAliveTimeout = 5_000
  return server
}
