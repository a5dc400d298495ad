/**
 * Test harness: a demo app on an in-memory store with cheap scrypt parameters, and a tiny cookie-keeping browser
 * that talks to the app's fetch handler (no sockets).
 */
import { randomBytes } from 'node:crypto'
import { createDemoApp, type DemoApp, type StaticFile } from '../../src/app.ts'
import { loadConfig, type DemoConfig } from '../../src/config.ts'
import { openDemoStore, type DemoStore } from '../../src/db.ts'

export const ORIGIN = 'http://demo.test'

/** Fresh, valid Parley credentials (random SIDs and a 32-character secret). */
export function fakeCredentials(): Record<string, string> {
  const hex = () => randomBytes(16).toString('hex')
  return {
    account_sid: `AC${hex()}`,
    auth_token: hex(),
    api_key_sid: `SK${hex()}`,
    api_key_secret: hex(),
    service_sid: `IS${hex()}`,
  }
}

export interface Harness {
  app: DemoApp
  store: DemoStore
  config: DemoConfig
  sessionKey: Buffer
  clock: { now: number }
  close(): void
}

export function makeHarness(
  env: Record<string, string> = {},
  files?: Map<string, StaticFile>,
): Harness {
  const creds = fakeCredentials()
  const config = loadConfig({
    env: {
      PARLEY_ACCOUNT_SID: creds['account_sid'],
      PARLEY_API_KEY_SID: creds['api_key_sid'],
      PARLEY_API_KEY_SECRET: creds['api_key_secret'],
      PARLEY_SERVICE_SID: creds['service_sid'],
      PARLEY_URL: 'http://parley.test:3210',
      ...env,
    },
    cwd: '/nonexistent',
    readFile: () => undefined,
  })
  const store = openDemoStore(':memory:')
  const sessionKey = randomBytes(32)
  const clock = { now: Date.now() }
  const app = createDemoApp({
    config,
    store,
    sessionKey,
    now: () => clock.now,
    scrypt: { N: 1024, r: 8, p: 1 },
    ...(files ? { files } : {}),
  })
  return { app, store, config, sessionKey, clock, close: () => store.close() }
}

export interface Sent {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

/** A browser: keeps cookies, sends the page's CSRF token and the page's Origin on POSTs. */
export class TestBrowser {
  readonly cookies = new Map<string, string>()
  csrfToken = ''
  origin: string | null = ORIGIN
  readonly app: DemoApp

  constructor(app: DemoApp) {
    this.app = app
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  async send(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<Sent> {
    const headers = new Headers()
    if (this.cookies.size > 0) headers.set('cookie', this.cookieHeader())
    if (body !== undefined) {
      headers.set('content-type', 'application/json')
      headers.set('x-csrf-token', this.csrfToken)
      if (this.origin !== null) headers.set('origin', this.origin)
    }
    for (const [k, v] of Object.entries(extraHeaders)) headers.set(k, v)
    const res = await this.app.fetch(
      new Request(`${ORIGIN}${path}`, {
        method,
        headers,
        ...(body === undefined
          ? {}
          : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      }),
    )
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq)
      const value = pair!.slice(eq + 1)
      if (/Max-Age=0/i.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
    const text = await res.text()
    let parsed: Record<string, unknown> = {}
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {}
    } catch {
      parsed = { text }
    }
    if (typeof parsed['csrfToken'] === 'string') this.csrfToken = parsed['csrfToken']
    return { status: res.status, headers: res.headers, body: parsed }
  }

  /** GET /api/session, as the page does on load. */
  session(): Promise<Sent> {
    return this.send('GET', '/api/session')
  }

  async signUp(username: string, password: string): Promise<Sent> {
    await this.session()
    return this.send('POST', '/api/signup', { username, password })
  }

  async signIn(username: string, password: string): Promise<Sent> {
    await this.session()
    return this.send('POST', '/api/signin', { username, password })
  }

  token(deviceId = 'device-0123456789'): Promise<Sent> {
    return this.send('POST', '/token', { deviceId })
  }
}
