/**
 * Test support for the REST suites: a server on port 0 over in-memory SQLite with a bootstrapped account, and the
 * official `twilio` helper pointed at it through a `RequestClient` subclass (chat-rest-v2.md §15.2).
 */
import twilio from 'twilio'
import RequestClient from 'twilio/lib/base/RequestClient.js'
import { loadConfig, type ConfigOptions } from '../../src/config.ts'
import type { BootstrapResult } from '../../src/core/types.ts'
import { silentLogger } from '../../src/http/log.ts'
import { createParleyServer, type ParleyServer } from '../../src/main.ts'

/**
 * Rewrites `https://<product>.twilio.com/...` to the Parley server and says which product it meant in
 * `X-Twilio-Product`. Pagination URLs go through the same `request`, so they are rewritten too.
 */
export class ParleyRequestClient extends RequestClient {
  readonly #base: string
  constructor(base: string) {
    super()
    this.#base = base
  }
  override request(opts: any): any {
    const u = new URL(opts.uri as string)
    const product = u.hostname.endsWith('.twilio.com')
      ? (u.hostname.split('.')[0] as string)
      : undefined
    const uri = this.#base + u.pathname + u.search
    const headers =
      product === undefined ? opts.headers : { ...opts.headers, 'X-Twilio-Product': product }
    return super.request({ ...opts, uri, headers })
  }
}

/** A started server with its first-start credentials. */
export interface Harness {
  parley: ParleyServer
  creds: BootstrapResult
  url: string
  /** The helper authenticated with AccountSid:AuthToken. */
  admin: twilio.Twilio
  /** The helper authenticated with the bootstrapped API key. */
  keyClient: twilio.Twilio
  /** A helper with arbitrary credentials. */
  client(username: string, password: string): twilio.Twilio
  close(): Promise<void>
}

/** Start a server (in-memory store unless `disk` is given) and build helper clients for it. */
export async function startHarness(options: ConfigOptions = {}, disk = false): Promise<Harness> {
  delete process.env['TWILIO_EDGE']
  delete process.env['TWILIO_REGION']
  // The failed-auth limiter is tested on its own (infra.test.ts); here it would turn the fuzz's deliberate bad
  // credentials into 429s for everything that follows.
  const config = loadConfig(
    { port: 0, host: '127.0.0.1', limits: { authFailureLimit: 0 }, ...options },
    {},
  )
  const parley = await createParleyServer(config, {
    storage: disk ? 'disk' : 'memory',
    bootstrap: true,
    logger: silentLogger,
  })
  const creds = parley.bootstrapped
  if (creds === undefined) throw new Error('expected a bootstrap')
  const http = new ParleyRequestClient(parley.url)
  const client = (u: string, p: string): twilio.Twilio =>
    twilio(u, p, { httpClient: http, accountSid: creds.account.sid })
  return {
    parley,
    creds,
    url: parley.url,
    admin: twilio(creds.account.sid, creds.authToken, { httpClient: http }),
    keyClient: client(creds.apiKey.sid, creds.apiKey.secret),
    client,
    close: () => parley.close(),
  }
}

/** Basic auth header value. */
export function basicAuth(user: string, pass: string): string {
  return 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64')
}
