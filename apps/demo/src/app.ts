/**
 * The demo's "your server" as a fetch handler, `(req: Request) => Promise<Response>`: its own sign-up / sign-in /
 * sign-out, the `/token` endpoint that mints a chat Access Token for the signed-in user only, and the static browser
 * chat.
 *
 * Routes:
 *
 * | Method | Path | |
 * |---|---|---|
 * | GET | `/`, `/app.js`, `/style.css`, `/vendor/twilio-chat.min.js` | the browser chat |
 * | GET | `/api/session` | `{ user, csrfToken, twilsockUrl }`; sets the pre-session CSRF cookie |
 * | POST | `/api/signup`, `/api/signin` | `{ username, password }` → `{ user, csrfToken }` + session cookie |
 * | POST | `/api/signout` | ends the session |
 * | POST | `/token` | `{ deviceId }` → `{ token, identity, ttl, expiresAt, twilsockUrl }`; 401 without a session |
 * | GET | `/healthz` | liveness |
 *
 * Every POST needs a same-origin `Origin` (or none, with a non-cross-site `Sec-Fetch-Site`), a JSON body and the
 * `X-CSRF-Token` header: an HMAC of the session id (or, before sign-in, of a random pre-session nonce kept in an
 * HttpOnly cookie) that the page gets from `GET /api/session`.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import type { DemoConfig } from './config.ts'
import { mac, parseCookies, safeEqual, serializeCookie, signValue, unsignValue } from './cookies.ts'
import type { DemoSession, DemoStore } from './db.ts'
import { isValidDeviceId, mintChatToken } from './mint.ts'
import {
  DEFAULT_SCRYPT,
  createDummyHash,
  hashPassword,
  verifyPassword,
  type ScryptParams,
} from './password.ts'
import { isSameOrigin, isSecureRequest, securityHeaders, type OriginPolicy } from './security.ts'

/** A static file served by the demo. */
export interface StaticFile {
  readonly body: Uint8Array
  readonly contentType: string
}

/** What {@link createDemoApp} needs. */
export interface DemoAppOptions {
  readonly config: DemoConfig
  readonly store: DemoStore
  /** Key for cookie signatures and CSRF tokens (at least 32 bytes). */
  readonly sessionKey: Buffer
  /** Static files by URL path (`/`, `/app.js`…). */
  readonly files?: ReadonlyMap<string, StaticFile>
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number
  /** scrypt parameters for new password hashes (tests lower them). */
  readonly scrypt?: ScryptParams
  /** Receives one structured line per request: never bodies, cookies, tokens or passwords. */
  readonly log?: (line: Readonly<Record<string, unknown>>) => void
}

/** Extra facts about the connection that a `Request` does not carry. */
export interface RequestInfo {
  readonly remoteAddress?: string | undefined
}

/** The demo server as a fetch handler. */
export interface DemoApp {
  fetch(req: Request, info?: RequestInfo): Promise<Response>
}

const BODY_LIMIT = 16 * 1024
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/
/** Identities Twilio reserves (access-tokens.md §6); compared case-insensitively here. */
const RESERVED = new Set(['system', 'private', 'unique'])
const MIN_PASSWORD = 8
const MAX_PASSWORD = 256
/** Sign-in throttling: at most this many failures per user name, and per client address, per window. */
const MAX_FAILURES_PER_NAME = 10
const MAX_FAILURES_PER_ADDRESS = 50
const FAILURE_WINDOW_MS = 15 * 60 * 1000

/** A client-caused failure with a stable code and a plain-words message for the page. */
class HttpError extends Error {
  readonly status: number
  readonly code: string
  readonly headers: Record<string, string>
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.status = status
    this.code = code
    this.headers = headers
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  const h = new Headers(headers)
  h.set('content-type', 'application/json; charset=utf-8')
  h.set('cache-control', 'no-store')
  return new Response(JSON.stringify(body), { status, headers: h })
}

async function readJson(req: Request): Promise<Record<string, unknown>> {
  const type = req.headers.get('content-type') ?? ''
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpError(415, 'unsupported_media_type', 'The request must be sent as JSON.')
  }
  const declared = Number(req.headers.get('content-length') ?? '0')
  if (declared > BODY_LIMIT) throw new HttpError(413, 'too_large', 'The request is too large.')
  const chunks: Uint8Array[] = []
  let size = 0
  if (req.body) {
    for await (const chunk of req.body) {
      size += chunk.byteLength
      if (size > BODY_LIMIT) throw new HttpError(413, 'too_large', 'The request is too large.')
      chunks.push(chunk)
    }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new HttpError(400, 'bad_json', 'The request is not valid JSON.')
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new HttpError(400, 'bad_json', 'The request must be a JSON object.')
  }
  return parsed as Record<string, unknown>
}

/** Checks a user name against the demo's rules; returns a plain-words problem or `undefined`. */
export function usernameProblem(username: string): string | undefined {
  if (!USERNAME.test(username)) {
    return 'A user name is 3 to 32 characters: letters, digits, "_", "." or "-", starting with a letter or digit.'
  }
  if (RESERVED.has(username.toLowerCase()))
    return 'That user name is reserved. Please pick another.'
  return undefined
}

/** A small fixed-window failure counter for sign-in throttling. */
class FailureCounter {
  #entries = new Map<string, { count: number; resetAt: number }>()
  blockedFor(key: string, now: number): number {
    const e = this.#entries.get(key)
    if (!e || e.resetAt <= now) return 0
    const max = key.startsWith('a:') ? MAX_FAILURES_PER_ADDRESS : MAX_FAILURES_PER_NAME
    return e.count >= max ? e.resetAt - now : 0
  }
  fail(key: string, now: number): void {
    if (this.#entries.size > 10_000) {
      for (const [k, v] of this.#entries) if (v.resetAt <= now) this.#entries.delete(k)
    }
    const e = this.#entries.get(key)
    if (!e || e.resetAt <= now)
      this.#entries.set(key, { count: 1, resetAt: now + FAILURE_WINDOW_MS })
    else e.count++
  }
  clear(key: string): void {
    this.#entries.delete(key)
  }
}

/**
 * Build the demo app.
 *
 * @example
 * const app = createDemoApp({ config, store: openDemoStore(':memory:'), sessionKey: randomBytes(32) })
 * const res = await app.fetch(new Request('http://localhost:3000/api/session'))
 */
export function createDemoApp(options: DemoAppOptions): DemoApp {
  const { config, store, sessionKey } = options
  if (sessionKey.length < 32)
    throw new RangeError('createDemoApp: sessionKey must be at least 32 bytes')
  const now = options.now ?? Date.now
  const scryptParams = options.scrypt ?? DEFAULT_SCRYPT
  const files = options.files ?? new Map<string, StaticFile>()
  const log = options.log ?? (() => {})
  const policy: OriginPolicy = { publicOrigin: config.publicOrigin, trustProxy: config.trustProxy }
  const failures = new FailureCounter()
  let dummyHash: Promise<string> | undefined

  /** Cookie names: the `__Host-` prefix (no Domain, Path=/, Secure) when served over https. */
  const names = (secure: boolean) =>
    secure
      ? { session: '__Host-demo_session', pre: '__Host-demo_pre' }
      : { session: 'demo_session', pre: 'demo_pre' }

  interface Ctx {
    req: Request
    url: URL
    secure: boolean
    cookies: Map<string, string>
    /** The session id from a correctly signed cookie, and its live session, if any. */
    sessionId: string | undefined
    session: DemoSession | undefined
    preNonce: string | undefined
    setCookies: string[]
    remoteAddress: string | undefined
  }

  function context(req: Request, info: RequestInfo | undefined): Ctx {
    const secure = isSecureRequest(req, policy)
    const cookies = parseCookies(req.headers.get('cookie'))
    const n = names(secure)
    let sessionId = unsignValue(sessionKey, 'session', cookies.get(n.session))
    const session = sessionId === undefined ? undefined : store.findSession(sessionId, now())
    if (!session) sessionId = undefined
    return {
      req,
      url: new URL(req.url),
      secure,
      cookies,
      sessionId,
      session,
      preNonce: unsignValue(sessionKey, 'pre', cookies.get(n.pre)),
      setCookies: [],
      remoteAddress: info?.remoteAddress,
    }
  }

  /** The CSRF token for the current binding: the session when signed in, else the pre-session nonce. */
  function csrfTokenFor(ctx: Ctx): string | undefined {
    if (ctx.sessionId !== undefined) return mac(sessionKey, 'csrf', `s:${ctx.sessionId}`)
    if (ctx.preNonce !== undefined) return mac(sessionKey, 'csrf', `p:${ctx.preNonce}`)
    return undefined
  }

  function ensurePreNonce(ctx: Ctx): void {
    if (ctx.preNonce !== undefined) return
    ctx.preNonce = randomBytes(18).toString('base64url')
    // A browser-session cookie: it only guards the sign-in and sign-up forms.
    ctx.setCookies.push(
      serializeCookie(names(ctx.secure).pre, signValue(sessionKey, 'pre', ctx.preNonce), {
        secure: ctx.secure,
      }),
    )
  }

  function checkOrigin(ctx: Ctx): void {
    if (!isSameOrigin(ctx.req, policy)) {
      throw new HttpError(403, 'bad_origin', 'This request came from another site and was refused.')
    }
  }

  function checkCsrf(ctx: Ctx): void {
    const expected = csrfTokenFor(ctx)
    const given = ctx.req.headers.get('x-csrf-token')
    if (expected === undefined || given === null || !safeEqual(given, expected)) {
      throw new HttpError(403, 'csrf', 'Your page is out of date. Please reload it and try again.')
    }
  }

  function startSession(ctx: Ctx, userId: number): void {
    // A fresh id at every sign-in (no session fixation).
    if (ctx.sessionId !== undefined) store.deleteSession(ctx.sessionId)
    const id = randomBytes(32).toString('base64url')
    const t = now()
    store.purgeExpiredSessions(t)
    store.createSession(id, userId, t, t + config.sessionTtl * 1000)
    ctx.sessionId = id
    ctx.setCookies.push(
      serializeCookie(names(ctx.secure).session, signValue(sessionKey, 'session', id), {
        secure: ctx.secure,
        maxAge: config.sessionTtl,
      }),
    )
  }

  function sessionBody(ctx: Ctx, username: string | undefined): Record<string, unknown> {
    return {
      user: username === undefined ? null : { username },
      csrfToken: csrfTokenFor(ctx),
      twilsockUrl: config.twilsockUrl,
    }
  }

  function credentialsFrom(body: Record<string, unknown>): { username: string; password: string } {
    const { username, password } = body
    if (typeof username !== 'string' || typeof password !== 'string' || !username || !password) {
      throw new HttpError(400, 'missing_fields', 'Please enter a user name and a password.')
    }
    if (password.length > MAX_PASSWORD) {
      throw new HttpError(400, 'bad_password', `A password is at most ${MAX_PASSWORD} characters.`)
    }
    return { username: username.trim(), password }
  }

  async function signUp(ctx: Ctx): Promise<Response> {
    checkOrigin(ctx)
    checkCsrf(ctx)
    const { username, password } = credentialsFrom(await readJson(ctx.req))
    const problem = usernameProblem(username)
    if (problem) throw new HttpError(400, 'bad_username', problem)
    if (password.length < MIN_PASSWORD) {
      throw new HttpError(
        400,
        'bad_password',
        `A password needs at least ${MIN_PASSWORD} characters.`,
      )
    }
    const hash = await hashPassword(password, scryptParams)
    const user = store.createUser(username, hash, now())
    if (!user)
      throw new HttpError(409, 'username_taken', 'That user name is taken. Please pick another.')
    startSession(ctx, user.id)
    return json(201, sessionBody(ctx, user.username))
  }

  async function signIn(ctx: Ctx): Promise<Response> {
    checkOrigin(ctx)
    checkCsrf(ctx)
    const { username, password } = credentialsFrom(await readJson(ctx.req))
    const t = now()
    const keys = [
      `u:${username.toLowerCase()}`,
      ...(ctx.remoteAddress ? [`a:${ctx.remoteAddress}`] : []),
    ]
    const wait = Math.max(...keys.map((k) => failures.blockedFor(k, t)))
    if (wait > 0) {
      throw new HttpError(
        429,
        'too_many_attempts',
        'Too many failed sign-ins. Please wait a few minutes.',
        {
          'retry-after': String(Math.ceil(wait / 1000)),
        },
      )
    }
    const found = store.findUser(username)
    // Unknown users cost the same scrypt work as known ones, so timing does not reveal who has an account.
    dummyHash ??= createDummyHash(scryptParams)
    const ok = await verifyPassword(password, found?.passwordHash ?? (await dummyHash))
    if (!found || !ok) {
      for (const k of keys) failures.fail(k, t)
      throw new HttpError(401, 'bad_credentials', 'That user name and password do not match.')
    }
    for (const k of keys) failures.clear(k)
    startSession(ctx, found.user.id)
    return json(200, sessionBody(ctx, found.user.username))
  }

  async function signOut(ctx: Ctx): Promise<Response> {
    checkOrigin(ctx)
    checkCsrf(ctx)
    if (ctx.sessionId !== undefined) store.deleteSession(ctx.sessionId)
    ctx.sessionId = undefined
    ctx.setCookies.push(
      serializeCookie(names(ctx.secure).session, '', { secure: ctx.secure, maxAge: 0 }),
    )
    ensurePreNonce(ctx)
    return json(200, sessionBody(ctx, undefined))
  }

  async function token(ctx: Ctx): Promise<Response> {
    checkOrigin(ctx)
    if (!ctx.session) {
      throw new HttpError(401, 'not_signed_in', 'Please sign in to chat.', {
        'www-authenticate': 'Cookie',
      })
    }
    checkCsrf(ctx)
    const body = await readJson(ctx.req)
    if (!isValidDeviceId(body['deviceId'])) {
      throw new HttpError(
        400,
        'bad_device_id',
        'The device id must be 8 to 64 letters, digits, "_" or "-".',
      )
    }
    const identity = ctx.session.user.username
    const jwt = mintChatToken(config, {
      identity,
      deviceId: body['deviceId'],
      app: config.appName,
      ttl: config.tokenTtl,
    })
    return json(200, {
      token: jwt,
      identity,
      ttl: config.tokenTtl,
      expiresAt: new Date(now() + config.tokenTtl * 1000).toISOString(),
      twilsockUrl: config.twilsockUrl,
    })
  }

  function getSession(ctx: Ctx): Response {
    if (!ctx.session) ensurePreNonce(ctx)
    return json(200, sessionBody(ctx, ctx.session?.user.username))
  }

  function serveFile(ctx: Ctx): Response | undefined {
    const file = files.get(ctx.url.pathname)
    if (!file) return undefined
    const headers = new Headers({ 'content-type': file.contentType, 'cache-control': 'no-cache' })
    return new Response(ctx.req.method === 'HEAD' ? null : (file.body as Uint8Array<ArrayBuffer>), {
      headers,
    })
  }

  type Handler = (ctx: Ctx) => Response | Promise<Response>
  const routes: Record<string, Partial<Record<string, Handler>>> = {
    '/api/session': { GET: getSession },
    '/api/signup': { POST: signUp },
    '/api/signin': { POST: signIn },
    '/api/signout': { POST: signOut },
    '/token': { POST: token },
    '/healthz': { GET: () => json(200, { ok: true }) },
  }

  async function dispatch(ctx: Ctx): Promise<Response> {
    const route = routes[ctx.url.pathname]
    if (route) {
      const handler = route[ctx.req.method]
      if (!handler) {
        return json(
          405,
          { error: 'method_not_allowed', message: 'Method not allowed.' },
          { allow: Object.keys(route).join(', ') },
        )
      }
      return handler(ctx)
    }
    if (ctx.req.method === 'GET' || ctx.req.method === 'HEAD') {
      const res = serveFile(ctx)
      if (res) return res
    }
    return json(404, { error: 'not_found', message: 'Not found.' })
  }

  return {
    async fetch(req, info) {
      const started = now()
      let ctx: Ctx | undefined
      let res: Response
      try {
        ctx = context(req, info)
        res = await dispatch(ctx)
      } catch (e) {
        if (e instanceof HttpError) {
          res = json(e.status, { error: e.code, message: e.message }, e.headers)
        } else {
          // The cause goes to the log by name only; it may carry request data, never echoed to the client.
          log({
            level: 'error',
            msg: 'request failed',
            error: e instanceof Error ? e.name : typeof e,
          })
          if (e instanceof Error && e.stack) log({ level: 'error', msg: 'stack', stack: e.stack })
          res = json(500, {
            error: 'internal',
            message: 'Something went wrong on the server. Please try again.',
          })
        }
      }
      const secure = ctx?.secure ?? false
      for (const [k, v] of securityHeaders({
        twilsockUrl: config.twilsockUrl,
        parleyUrl: config.parleyUrl,
        secure,
      })) {
        res.headers.set(k, v)
      }
      for (const c of ctx?.setCookies ?? []) res.headers.append('set-cookie', c)
      log({
        level: 'info',
        method: req.method,
        path: new URL(req.url).pathname,
        status: res.status,
        ms: now() - started,
      })
      return res
    },
  }
}
