/**
 * Test harness for the Twilsock gateway: an HTTP server with the gateway attached, key material, token
 * minting (Parley's AccessToken, the official helper, or hand-signed claims), a hand-driven clock and a raw
 * Twilsock client on `ws`.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocket } from 'ws'
import { AccessToken, ChatGrant } from '@parley/token'
import {
  createTwilsockGateway,
  type TwilsockGateway,
  type TwilsockGatewayOptions,
} from '../../src/compat/twilio/twilsock/gateway.ts'
import {
  decodePacket,
  encodePacket,
  type PacketHeader,
} from '../../src/compat/twilio/twilsock/framing.ts'
import { CHAT6_INIT_FIELDS } from '../../bench/support/twilsock-client.ts'
import { createTwilsockVerifier } from '../../src/compat/twilio/twilsock/verify.ts'
import type { TimerHandle, Timers } from '../../src/realtime/timers.ts'
import type { UpstreamHandler } from '../../src/compat/twilio/upstream.ts'

const hex = (n: number) => randomBytes(n).toString('hex')

/** One account with one API key and one service. */
export interface Keys {
  accountSid: string
  keySid: string
  secret: string
  serviceSid: string
}

export function makeKeys(): Keys {
  return {
    accountSid: `AC${hex(16)}`,
    keySid: `SK${hex(16)}`,
    secret: randomBytes(32).toString('base64url'),
    serviceSid: `IS${hex(16)}`,
  }
}

/** A token minted by `@parley/token`. */
export function mintParley(
  k: Keys,
  identity: string,
  ttl = 3600,
  extra: { endpointId?: string } = {},
): string {
  const t = new AccessToken(k.accountSid, k.keySid, k.secret, { identity, ttl })
  t.addGrant(
    new ChatGrant({
      serviceSid: k.serviceSid,
      ...(extra.endpointId ? { endpointId: extra.endpointId } : {}),
    }),
  )
  return t.toJwt()
}

/** A token with hand-chosen claims (for expired / future tokens), signed HS256 like the helper. */
export function signClaims(k: Keys, claims: Record<string, unknown>, secret = k.secret): string {
  const header = Buffer.from(
    JSON.stringify({ alg: 'HS256', typ: 'JWT', cty: 'twilio-fpa;v=1' }),
  ).toString('base64url')
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url')
  const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')
  return `${header}.${payload}.${sig}`
}

/** Claims like the helper's, with `iat`/`exp` relative to `nowSec`. */
export function claims(
  k: Keys,
  identity: string,
  iat: number,
  exp: number,
  serviceSid = k.serviceSid,
) {
  return {
    jti: `${k.keySid}-${iat}`,
    grants: { identity, chat: { service_sid: serviceSid } },
    iat,
    exp,
    iss: k.keySid,
    sub: k.accountSid,
  }
}

/** A manually advanced clock implementing {@link Timers}. */
export class ManualTimers implements Timers {
  #now: number
  #seq = 0
  readonly #pending = new Map<number, { due: number; fn: () => void }>()
  constructor(start = Date.now()) {
    this.#now = start
  }
  now(): number {
    return this.#now
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq
    this.#pending.set(id, { due: this.#now + Math.max(0, ms), fn })
    return { id }
  }
  clearTimeout(handle: TimerHandle): void {
    this.#pending.delete((handle as { id: number }).id)
  }
  /** Moves time forward, running every timer that falls due, in order. */
  advance(ms: number): void {
    const target = this.#now + ms
    for (;;) {
      let next: [number, { due: number; fn: () => void }] | undefined
      for (const e of this.#pending)
        if (e[1].due <= target && (!next || e[1].due < next[1].due)) next = e
      if (!next) break
      this.#pending.delete(next[0])
      this.#now = Math.max(this.#now, next[1].due)
      next[1].fn()
    }
    this.#now = target
  }
}

/** A 404 for every tunnelled request. */
export const notFoundUpstream: UpstreamHandler = async () => ({
  status: 404,
  body: { code: 20404, status: 404 },
})

export interface Harness {
  url: string
  port: number
  server: Server
  gateway: TwilsockGateway
  keys: Keys
  /** Keys known to the resolver (delete one to revoke it). */
  keyTable: Map<string, Keys>
  close(): Promise<void>
}

export interface HarnessOptions extends Partial<Omit<TwilsockGatewayOptions, 'verify'>> {
  verify?: TwilsockGatewayOptions['verify']
  /** Clock for the verifier (default the gateway timers, else Date.now). */
  now?: () => number
}

/**
 * Options every {@link startGateway} of this process gets unless its caller overrides them: `socket-process.test.ts`
 * sets `socketProcess` to run the gateway suites again over the socket process.
 */
export const harnessDefaults: { socketProcess?: boolean } = {}

/** Starts an HTTP server on 127.0.0.1:0 with a gateway on /v3/wsconnect and an in-test key resolver. */
export async function startGateway(o: HarnessOptions = {}): Promise<Harness> {
  const keys = makeKeys()
  const keyTable = new Map<string, Keys>([[keys.keySid, keys]])
  const now = o.now ?? (o.timers ? () => o.timers!.now() : Date.now)
  const verify =
    o.verify ??
    createTwilsockVerifier({
      resolveKey: (sid) => {
        const k = keyTable.get(sid)
        return k ? { secret: k.secret, accountSid: k.accountSid } : undefined
      },
      serviceBelongsTo: (serviceSid, accountSid) =>
        [...keyTable.values()].some(
          (k) => k.serviceSid === serviceSid && k.accountSid === accountSid,
        ),
      now,
    })
  const gateway = createTwilsockGateway({
    upstream: notFoundUpstream,
    ...harnessDefaults,
    ...o,
    verify,
  })
  const server = createServer((_req, res) => res.writeHead(404).end())
  server.on('upgrade', (req, socket, head) => {
    if (!gateway.handleUpgrade(req, socket, head)) socket.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `ws://127.0.0.1:${port}/v3/wsconnect`,
    port,
    server,
    gateway,
    keys,
    keyTable,
    async close() {
      await gateway.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export interface RawPacket {
  header: PacketHeader
  payload: Buffer
  /** The payload parsed as JSON, when it is non-empty JSON. */
  body: unknown
}

/** A raw Twilsock client: sends packets, queues received ones, optionally acks server packets. */
export class RawClient {
  readonly ws: WebSocket
  readonly received: RawPacket[] = []
  #waiters: { pred: (p: RawPacket) => boolean; resolve: (p: RawPacket) => void }[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  autoAck: boolean
  #seq = 0

  private constructor(ws: WebSocket, autoAck: boolean) {
    this.ws = ws
    this.autoAck = autoAck
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    )
    ws.on('error', () => {})
    ws.on('message', (data: Buffer) => {
      const pkt = decodePacket(data)
      let body: unknown
      if (pkt.payload.length > 0) {
        try {
          body = JSON.parse(pkt.payload.toString('utf8'))
        } catch {
          body = undefined
        }
      }
      const p = { header: pkt.header, payload: pkt.payload, body }
      if (this.autoAck && pkt.method !== 'reply' && pkt.id)
        this.send({ method: 'reply', id: pkt.id, status: { code: 200, status: 'OK' } })
      const w = this.#waiters.findIndex((x) => x.pred(p))
      if (w >= 0) this.#waiters.splice(w, 1)[0]!.resolve(p)
      else this.received.push(p)
    })
  }

  static async connect(
    url: string,
    opts: { autoAck?: boolean; headers?: Record<string, string>; localAddress?: string } = {},
  ): Promise<RawClient> {
    const ws = new WebSocket(url, {
      headers: opts.headers ?? {},
      perMessageDeflate: false,
      ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
    })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
      ws.once('unexpected-response', (_req, res) =>
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode })),
      )
    })
    return new RawClient(ws, opts.autoAck ?? true)
  }

  nextId(): string {
    return `TMtest${++this.#seq}`
  }

  send(header: PacketHeader, payload?: string | Buffer): string {
    const id = typeof header['id'] === 'string' ? header['id'] : this.nextId()
    this.ws.send(encodePacket({ ...header, id }, payload))
    return id
  }

  sendRaw(data: Buffer | string, binary = true): void {
    this.ws.send(data, { binary })
  }

  /** Resolves with the first (queued or future) packet matching `pred`. */
  waitFor(pred: (p: RawPacket) => boolean, timeoutMs = 5000): Promise<RawPacket> {
    const i = this.received.findIndex(pred)
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0]!)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter)
        reject(new Error('timed out waiting for a packet'))
      }, timeoutMs)
      const waiter = {
        pred,
        resolve: (p: RawPacket) => {
          clearTimeout(t)
          resolve(p)
        },
      }
      this.#waiters.push(waiter)
    })
  }

  reply(id: string, timeoutMs?: number): Promise<RawPacket> {
    return this.waitFor((p) => p.header['method'] === 'reply' && p.header['id'] === id, timeoutMs)
  }

  method(m: string, timeoutMs?: number): Promise<RawPacket> {
    return this.waitFor((p) => p.header['method'] === m, timeoutMs)
  }

  /** Sends init like twilsock 0.12 and returns the reply. */
  async init(token: string, extra: PacketHeader = {}): Promise<RawPacket> {
    const id = this.send({ method: 'init', token, ...CHAT6_INIT_FIELDS, ...extra })
    return this.reply(id)
  }

  close(): void {
    this.ws.close()
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Polls `cond` until true or the timeout. */
export async function until(cond: () => boolean, timeoutMs = 5000, stepMs = 10): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await sleep(stepMs)
  }
}

/** Pids of this process's children running the socket process's module (`realtime/pump/child.js`). */
export function socketProcesses(): number[] {
  const pids: number[] = []
  for (const task of readdirSync('/proc/self/task')) {
    const kids = readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim()
    for (const pid of kids === '' ? [] : kids.split(/\s+/).map(Number)) {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('pump/child.js')) pids.push(pid)
    }
  }
  return pids
}
