/**
 * The REST app: a fetch-style `(Request) => Promise<Response>` over a route table, plus `handle(AppRequest)` for the
 * node:http bridge.
 *
 * Request pipeline: path checks → `/healthz`, `/metrics` → route match (404 20404 / 405 20004) → cross-site guard
 * (403 20006) → Basic auth (uniform 401 20003) → body checks (413 20413, 415 20415, 400 20001) → handler. Anything a
 * handler throws that is not a `ChatError` becomes a generic 500 whose cause is logged, never sent.
 *
 * @module
 */
import { ChatError, isChatError } from '@parley/token/errors'
import type { Config } from '../config.ts'
import { AuthFailureLimiter } from './auth-limiter.ts'
import { parseBasicAuth } from './auth.ts'
import type { Ctx, Handler, RouteDef } from './context.ts'
import { errorResponse, jsonResponse, notFound, unauthenticated } from './errors.ts'
import { Params, decodeComponent } from './form.ts'
import { redactPath, type Logger } from './log.ts'
import { HttpMetrics } from './metrics.ts'
import { Router } from './router.ts'
import type { AdminActor, AppRequest, AppResponse } from './types.ts'

/** Checks a Basic-auth pair; resolves to the principal, or undefined for any failure. MUST be constant-time. */
export type Authenticate = (username: string, password: string) => Promise<AdminActor | undefined>

/** Everything the app needs. */
export interface AppOptions {
  /** Route definitions (see `routes/*.ts`). */
  readonly routes: readonly RouteDef[]
  readonly authenticate: Authenticate
  readonly config: Pick<Config, 'publicUrl' | 'limits'>
  readonly logger: Logger
  /** Shared with the node bridge so connection gauges and request counters live in one registry. */
  readonly metrics?: HttpMetrics
}

/** The REST app. */
export interface App {
  /** Handle a WHATWG Request (tests, other runtimes). Never rejects. */
  fetch(req: Request): Promise<Response>
  /** Handle an already-read request (the node bridge). Never rejects. */
  handle(req: AppRequest): Promise<AppResponse>
  /** Record a response produced outside {@link App.handle} (e.g. the bridge's early 413) in logs and metrics. */
  record(req: Pick<AppRequest, 'method' | 'path'>, status: number, startedAt: number): void
  /** Readiness: `/healthz` answers 200 only while true. */
  ready: boolean
  readonly metrics: HttpMetrics
  readonly logger: Logger
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const FORM_TYPE = 'application/x-www-form-urlencoded'

/**
 * Build the REST app.
 *
 * @example
 * ```ts
 * const app = createApp({ routes, authenticate, config, logger })
 * const res = await app.fetch(new Request('http://x/healthz'))
 * ```
 */
export function createApp(opts: AppOptions): App {
  const router = new Router<Handler>()
  for (const r of opts.routes) router.add(r.method, r.pattern, r.handler)
  const metrics = opts.metrics ?? new HttpMetrics()
  const { logger } = opts
  const limits = opts.config.limits
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
  const authLimiter = new AuthFailureLimiter(limits.authFailureLimit, limits.authFailureWindowMs)

  const record = (
    req: Pick<AppRequest, 'method' | 'path'>,
    status: number,
    startedAt: number,
  ): void => {
    const seconds = (performance.now() - startedAt) / 1000
    metrics.observe(status, seconds)
    if (logger.enabled(status >= 500 ? 'error' : 'info')) {
      const fields = {
        method: req.method.length > 16 ? req.method.slice(0, 16) : req.method,
        path: redactPath(req.path),
        status,
        ms: Math.round(seconds * 1e6) / 1000,
      }
      if (status >= 500) logger.error('request', fields)
      else logger.info('request', fields)
    }
  }

  const baseUrlOf = (req: AppRequest): string => {
    if (opts.config.publicUrl !== undefined) return opts.config.publicUrl
    const host = req.header('host')
    // Only a plain host[:port] is reflected into URLs; anything else falls back to a fixed value.
    if (
      host !== undefined &&
      /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$/.test(host)
    ) {
      return `http://${host}`
    }
    return 'http://localhost'
  }

  const app: App = {
    ready: false,
    metrics,
    logger,
    record,

    async handle(req: AppRequest): Promise<AppResponse> {
      const startedAt = performance.now()
      let res: AppResponse
      try {
        res = await dispatch(req)
      } catch (err) {
        if (!isChatError(err)) {
          logger.error('unhandled error', { method: req.method, path: redactPath(req.path), err })
        }
        res = errorResponse(err)
      }
      if (req.method === 'HEAD') res = { ...res, body: null }
      record(req, res.status, startedAt)
      return res
    },

    async fetch(request: Request): Promise<Response> {
      let appReq: AppRequest
      const startedAt = performance.now()
      try {
        appReq = await fromRequest(request, limits.bodyBytes)
      } catch (err) {
        const url = safeUrl(request.url)
        const res = errorResponse(err)
        record({ method: request.method, path: url?.pathname ?? '/' }, res.status, startedAt)
        return toResponse(res)
      }
      return toResponse(await app.handle(appReq))
    },
  }

  async function dispatch(req: AppRequest): Promise<AppResponse> {
    if (req.path.length > 4096) throw new ChatError(20001, 'The request path is too long')
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (req.path === '/healthz') {
        return app.ready
          ? jsonResponse(200, { status: 'ok' })
          : jsonResponse(503, new ChatError(20503, 'Not ready').toJSON())
      }
      if (req.path === '/metrics') {
        return {
          status: 200,
          headers: {
            'content-type': 'text/plain; version=0.0.4; charset=utf-8',
            'cache-control': 'no-store',
          },
          body: metrics.render(),
        }
      }
    }

    const match = router.match(req.method, req.path)
    if (match.kind === 'none') {
      // Decode for the message (the check also rejects NUL / bad escapes with 400).
      const shown = decodeComponent(req.path, false, 'The path')
      throw notFound(shown.replace(/^\/v2(?=\/)/, '').replace(/^\/v1(?=\/)/, ''))
    }
    if (match.kind === 'method') {
      const allow = match.allow.includes('GET') ? [...match.allow, 'HEAD'] : [...match.allow]
      return errorResponse(new ChatError(20004, `Method ${safeMethod(req.method)} not allowed`), {
        allow: allow.join(', '),
      })
    }

    checkProduct(req)

    const stateChanging = STATE_CHANGING.has(req.method)
    if (stateChanging) rejectCrossSite(req, baseUrlOf(req))

    const client = req.remoteAddress ?? 'local'
    const wait = authLimiter.blockedFor(client)
    if (wait > 0) {
      return errorResponse(new ChatError(20429, 'Too many failed authentication attempts'), {
        'retry-after': String(Math.ceil(wait / 1000)),
      })
    }
    const creds = parseBasicAuth(req.header('authorization'))
    const actor =
      creds === undefined ? undefined : await opts.authenticate(creds.username, creds.password)
    if (actor === undefined) {
      authLimiter.fail(client)
      return unauthenticated()
    }

    const query = Params.parse(req.query)
    let form: Params
    if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
      form = parseBody(req)
    } else {
      form = new Params()
    }

    const ctx: Ctx = {
      req,
      params: match.params,
      query,
      form,
      actor,
      baseUrl: baseUrlOf(req),
      webhookEnabled: parseWebhookEnabled(req.header('x-twilio-webhook-enabled')),
      defaultPageSize: limits.defaultPageSize,
    }
    return match.handler(ctx)
  }

  function parseBody(req: AppRequest): Params {
    const body = req.body
    if (body === null || body.byteLength === 0) return new Params()
    if (body.byteLength > limits.bodyBytes) {
      metrics.bodyRejected()
      throw new ChatError(20413, `Request body is larger than ${limits.bodyBytes} bytes`)
    }
    const ct = req.header('content-type')
    const [type = '', ...paramsRaw] = (ct ?? '').split(';')
    if (type.trim().toLowerCase() !== FORM_TYPE) {
      throw new ChatError(20415, `Content-Type must be ${FORM_TYPE}`)
    }
    for (const p of paramsRaw) {
      const [k = '', v = ''] = p.split('=')
      if (k.trim().toLowerCase() === 'charset' && !/^"?utf-?8"?$/i.test(v.trim())) {
        throw new ChatError(20415, 'The only supported charset is utf-8')
      }
    }
    let text: string
    try {
      text = utf8.decode(body)
    } catch {
      throw new ChatError(20001, 'The request body is not valid UTF-8')
    }
    return Params.parse(text.trim())
  }

  return app
}

/** Reject state-changing requests a browser sends on behalf of another site (reliability.md §2.10, R22). */
function rejectCrossSite(req: AppRequest, baseUrl: string): void {
  const site = req.header('sec-fetch-site')
  if (site !== undefined && site.toLowerCase() === 'cross-site') {
    throw new ChatError(20006, 'Cross-site requests are not allowed on the admin API')
  }
  const origin = req.header('origin')
  if (origin !== undefined && origin !== 'null' && origin !== new URL(baseUrl).origin) {
    throw new ChatError(20006, 'Cross-origin requests are not allowed on the admin API')
  }
  if (origin === 'null')
    throw new ChatError(20006, 'Cross-origin requests are not allowed on the admin API')
}

/**
 * The `twilio` helper targets one host per product (chat, api, iam, …); a test client folding them onto one server
 * may say which it meant in `X-Twilio-Product` (chat-rest-v2.md §15.2). Paths do not collide between the products
 * Parley serves, so routing is by path; a header naming another product than the path's is a 404 (for example
 * `conversations` on `/v2/Services`).
 */
function checkProduct(req: AppRequest): void {
  const product = req.header('x-twilio-product')
  if (product === undefined) return
  const p = product.trim().toLowerCase()
  const path = req.path
  const ok = path.startsWith('/v2/')
    ? p === 'chat' || p === 'ip-messaging'
    : path.startsWith('/v1/')
      ? p === 'iam'
      : path.startsWith('/2010-04-01/')
        ? p === 'api'
        : true
  if (!ok)
    throw new ChatError(
      20404,
      `The requested resource was not found on product ${p.slice(0, 32).replace(/[^a-z0-9-]/g, '?')}`,
    )
}

function parseWebhookEnabled(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined
  const l = v.trim().toLowerCase()
  return l === 'true' ? true : l === 'false' ? false : undefined
}

function safeMethod(m: string): string {
  return /^[A-Z]{1,16}$/.test(m) ? m : 'this method'
}

function safeUrl(s: string): URL | undefined {
  try {
    return new URL(s)
  } catch {
    return undefined
  }
}

/** Convert a WHATWG Request, reading its body with a cap. @throws {ChatError} 20413 over the cap. */
async function fromRequest(request: Request, cap: number): Promise<AppRequest> {
  const url = new URL(request.url)
  const declared = request.headers.get('content-length')
  if (declared !== null && Number(declared) > cap) {
    throw new ChatError(20413, `Request body is larger than ${cap} bytes`)
  }
  let body: Uint8Array | null = null
  if (request.body !== null) {
    const chunks: Uint8Array[] = []
    let size = 0
    const reader = request.body.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > cap) {
        await reader.cancel().catch(() => undefined)
        throw new ChatError(20413, `Request body is larger than ${cap} bytes`)
      }
      chunks.push(value)
    }
    body = Buffer.concat(chunks)
  }
  // The raw (still percent-encoded) path and query, as sent.
  const rawPath = url.pathname
  const rawQuery = url.search.startsWith('?') ? url.search.slice(1) : url.search
  return {
    method: request.method.toUpperCase(),
    path: rawPath,
    query: rawQuery,
    // A WHATWG Request carries its host in the URL, not in a Host header.
    header: (name) => request.headers.get(name) ?? (name === 'host' ? url.host : undefined),
    body,
  }
}

function toResponse(res: AppResponse): Response {
  return new Response(res.status === 204 || res.status === 304 ? null : res.body, {
    status: res.status,
    headers: res.headers,
  })
}
