/**
 * End-to-end support: a Parley server (in-memory SQLite, bootstrapped) with its built-in Twilio gateway, tokens, and
 * unmodified `twilio-chat@6.0.0` clients connected to it over `ws://127.0.0.1:PORT/v3/wsconnect`.
 */
import { createRequire } from 'node:module'
import { AccessToken, ChatGrant } from '@parley/token'
import { loadConfig } from '../../../src/config.ts'
import type { BootstrapResult } from '../../../src/core/types.ts'
import { silentLogger } from '../../../src/http/log.ts'
import { createParleyServer, type ParleyServer } from '../../../src/main.ts'

const require = createRequire(import.meta.url)
export type AnyClient = any

export interface ChatHarness {
  /** The current server (replaced by {@link ChatHarness.restart}). */
  parley: ParleyServer
  creds: BootstrapResult
  wsUri: string
  token(identity: string): string
  /**
   * A twilio-chat 6 client that reached `stateChanged: 'initialized'` (rejects on `failed` or after 10 s); `options`
   * are added to the client options (e.g. `httpCacheIntervalOverride`).
   */
  chat(identity: string, options?: Record<string, unknown>): Promise<AnyClient>
  /** A @twilio/conversations 3 client that reached `initialized`. */
  conversations(identity: string): Promise<AnyClient>
  /** Lets {@link ChatHarness.close} shut down a client created outside the harness. */
  adopt(client: AnyClient): void
  /** Stops the server and starts a new one on the same port and data directory (disk harnesses only). */
  restart(): Promise<void>
  close(): Promise<void>
}

/**
 * Starts a harness; with `dataDir` the store is on disk, so {@link ChatHarness.restart} keeps the data; with
 * `socketProcess` the server runs its sockets in a child process (`PARLEY_SOCKET_PROCESS`).
 */
export async function startChatHarness(
  opts: { dataDir?: string; socketProcess?: boolean } = {},
): Promise<ChatHarness> {
  const boot = async (port: number): Promise<ParleyServer> =>
    createParleyServer(
      loadConfig(
        {
          port,
          host: '127.0.0.1',
          ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
          ...(opts.socketProcess !== undefined ? { socketProcess: opts.socketProcess } : {}),
        },
        {},
      ),
      {
        storage: opts.dataDir !== undefined ? 'disk' : 'memory',
        bootstrap: true,
        logger: silentLogger,
        twilio: { onError: (err: unknown) => console.error('compat error', err) },
      },
    )
  let parley = await boot(0)
  const port = Number(new URL(parley.url).port)
  const creds = parley.bootstrapped
  if (creds === undefined) throw new Error('expected a bootstrap')
  const wsUri = `${parley.url.replace(/^http/, 'ws')}/v3/wsconnect`
  const clients: AnyClient[] = []
  const token = (identity: string): string => {
    const t = new AccessToken(creds.account.sid, creds.apiKey.sid, creds.apiKey.secret, {
      identity,
      ttl: 3600,
    })
    t.addGrant(new ChatGrant({ serviceSid: creds.service.sid }))
    return t.toJwt()
  }
  const start = (
    Ctor: AnyClient,
    identity: string,
    options: Record<string, unknown> = {},
  ): Promise<AnyClient> => {
    const client = new Ctor(token(identity), {
      ...options,
      twilsock: { uri: wsUri },
      logLevel: 'silent',
    })
    clients.push(client)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${identity}: not initialized after 10 s`)),
        10_000,
      )
      client.on('stateChanged', (state: string) => {
        clearTimeout(timer)
        if (state === 'initialized') resolve(client)
        else reject(new Error(`${identity}: client state ${state}`))
      })
    })
  }
  return {
    get parley() {
      return parley
    },
    creds,
    wsUri,
    token,
    chat: (identity, options) => start(require('twilio-chat').Client, identity, options),
    conversations: (identity) => start(require('@twilio/conversations').Client, identity),
    adopt(client) {
      clients.push(client)
    },
    async restart() {
      await parley.close()
      parley = await boot(port)
    },
    async close() {
      await Promise.allSettled(
        clients.map(async (c) => {
          await quiet(c)
          await c.shutdown()
        }),
      )
      await parley.close()
    },
  }
}

/**
 * Waits (≤ 10 s) until the client has had no request in flight or queued for 250 ms. twilsock rejects requests queued
 * while it disconnects without attaching a handler (a known gap its own source marks), and fails a request
 * still unanswered when its socket goes away only by its 30 s timer, again without a handler: shutting down during
 * one of the SDK's bursts would surface as an unhandled rejection after the test. Under CPU load the SDK's follow-up
 * requests (subscriptions after a reply, retries) come more than 50 ms apart, hence the longer calm period.
 */
export async function quiet(client: AnyClient): Promise<void> {
  const upstream = client.services?.twilsockClient?.upstream
  const active = (): number =>
    (upstream?.transport?.activeRequests?.size ?? 0) + (upstream?.pendingMessages?.length ?? 0)
  const deadline = Date.now() + 10_000
  let calmSince = Date.now()
  // A client already shut down (or never connected) has no socket left to flush its queue into.
  const gone = (): boolean => ['disconnected', 'denied', 'error'].includes(client.connectionState)
  while (Date.now() < deadline && !gone()) {
    if (active() > 0) calmSince = Date.now()
    else if (Date.now() - calmSince >= 250) return
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A REST API call with the account's Basic credentials; `form` is sent form-encoded. */
export async function rest(
  h: ChatHarness,
  method: string,
  path: string,
  form?: [string, string][],
): Promise<{ status: number; body: any }> {
  const auth = Buffer.from(`${h.creds.account.sid}:${h.creds.authToken}`).toString('base64')
  const res = await fetch(`${h.parley.url}${path}`, {
    method,
    headers: {
      Authorization: `Basic ${auth}`,
      ...(form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...(form ? { body: new URLSearchParams(form).toString() } : {}),
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) }
}

/** Resolves with the first `event` emitted by `emitter` that satisfies `pred`, or rejects after `ms`. */
export function nextEvent<T = AnyClient>(
  emitter: AnyClient,
  event: string,
  pred: (v: T) => boolean = () => true,
  ms = 8000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on)
      reject(new Error(`timed out waiting for ${event}`))
    }, ms)
    const on = (v: T): void => {
      if (!pred(v)) return
      clearTimeout(timer)
      emitter.off(event, on)
      resolve(v)
    }
    emitter.on(event, on)
  })
}

/** The upstream error the SDK rejects with: Twilsock's `TwilsockUpstreamError` carries the HTTP status and body. */
export async function rejection(p: Promise<unknown>): Promise<{ status: number; code: number }> {
  try {
    await p
  } catch (err) {
    const e = err as { status?: number; body?: { code?: number } }
    return { status: e.status ?? 0, code: e.body?.code ?? 0 }
  }
  throw new Error('expected a rejection')
}
