/**
 * reliability.md R01 (crash in the middle of a burst) and R18 (graceful shutdown), end to end through a real
 * `parley serve` process on a temporary data directory: concurrent senders over REST (`I-Twilio-Idempotency-Token`)
 * and Twilsock (`X-Twilio-Mutation-Id`), each message with its own client message id; SIGKILL / SIGTERM; a restart on
 * the same directory; checks through the API and on the database itself (opened read-only once the server stopped).
 *
 * Scaled down from the requirement (10k messages from 20 clients, 500 sockets) so that the file stays well under
 * 60 s on two busy cores. The moment of the signal comes from a seed printed with every failure: rerun one with
 * `PARLEY_TEST_SEED=<seed>`.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { WebSocket } from 'ws'
import { AccessToken, ChatGrant } from '@parley/token'
import { CHAT6_INIT_FIELDS } from '../bench/support/twilsock-client.ts'
import { until } from './twilsock/support.ts'
import {
  decodePacket,
  encodePacket,
  type PacketHeader,
} from '../src/compat/twilio/twilsock/framing.ts'

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli.js')
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

// ---- the server process ------------------------------------------------------------------------------------

interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

interface Serve {
  url: string
  pid: number
  exit: Promise<Exit>
  kill(signal: NodeJS.Signals): void
  stderr(): string
}

/** Runs cleanups in reverse order after the test: processes stop before their data directory goes. */
function cleanups(t: TestContext): (fn: () => unknown) => void {
  const fns: (() => unknown)[] = []
  t.after(async () => {
    for (const fn of fns.reverse()) await fn()
  })
  return (fn) => fns.push(fn)
}

async function startServe(
  defer: (fn: () => unknown) => void,
  data: string,
  env: Record<string, string> = {},
): Promise<Serve> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data', data], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PARLEY_LOG_LEVEL: 'warn', ...env },
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  let exited = false
  const exit = new Promise<Exit>((r) =>
    child.once('exit', (code, signal) => {
      exited = true
      r({ code, signal })
    }),
  )
  defer(async () => {
    if (!exited) child.kill('SIGKILL')
    await exit
  })
  const t0 = Date.now()
  for (;;) {
    const url = /running at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]
    if (url !== undefined) {
      return {
        url,
        pid: child.pid!,
        exit,
        kill: (signal) => child.kill(signal),
        stderr: () => err,
      }
    }
    if (exited) throw new Error(`parley serve exited before listening: ${err}`)
    if (Date.now() - t0 > 30_000) throw new Error(`parley serve did not start: ${err}`)
    await sleep(25)
  }
}

/** Resolves with `p`, or with 'timeout' after `ms` (the timer is cleared either way). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms))),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** A small deterministic PRNG (mulberry32), so a failing kill moment can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// ---- REST ------------------------------------------------------------------------------------------------

interface Creds {
  account_sid: string
  auth_token: string
  api_key_sid: string
  api_key_secret: string
  service_sid: string
}

interface Msg {
  sid: string
  index: number
  body: string
  from: string
}

type Json = Record<string, unknown>

function readCreds(data: string): Creds {
  return JSON.parse(readFileSync(join(data, 'credentials.json'), 'utf8')) as Creds
}

function basic(c: Creds): string {
  return 'Basic ' + Buffer.from(`${c.account_sid}:${c.auth_token}`).toString('base64')
}

async function rest(
  url: string,
  c: Creds,
  method: string,
  path: string,
  form?: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json }> {
  const res = await fetch(path.startsWith('http') ? path : url + path, {
    method,
    headers: {
      authorization: basic(c),
      ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...headers,
    },
    ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    signal: AbortSignal.timeout(20_000),
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Json) }
}

/** Channels with every identity as a member. */
async function createChannels(
  url: string,
  c: Creds,
  count: number,
  members: readonly string[],
): Promise<string[]> {
  const IS = c.service_sid
  const channels: string[] = []
  for (let i = 0; i < count; i++) {
    const r = await rest(url, c, 'POST', `/v2/Services/${IS}/Channels`, {
      UniqueName: `burst-${i}`,
      Type: 'public',
    })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    channels.push(r.body['sid'] as string)
  }
  await Promise.all(
    channels.map(async (ch) => {
      for (const identity of members) {
        const r = await rest(url, c, 'POST', `/v2/Services/${IS}/Channels/${ch}/Members`, {
          Identity: identity,
        })
        assert.equal(r.status, 201, JSON.stringify(r.body))
      }
    }),
  )
  return channels
}

/** Every message of a channel, paged through REST in index order. */
async function history(url: string, c: Creds, ch: string): Promise<Msg[]> {
  const out: Msg[] = []
  let next: string | null = `/v2/Services/${c.service_sid}/Channels/${ch}/Messages?PageSize=100`
  while (next !== null) {
    const r = await rest(url, c, 'GET', next)
    assert.equal(r.status, 200, JSON.stringify(r.body))
    out.push(...(r.body['messages'] as Msg[]))
    next = ((r.body['meta'] as Json)['next_page_url'] as string | null) ?? null
  }
  return out
}

// ---- Twilsock --------------------------------------------------------------------------------------------

interface Reply {
  /** The Twilsock status of the reply (200, 429, 503…). */
  status: number
  /** The tunnelled HTTP status, when the request reached a handler. */
  httpStatus: number | undefined
  header: PacketHeader
  body: Json
}

const parse = (payload: Buffer): Json => {
  try {
    return payload.length === 0 ? {} : (JSON.parse(payload.toString('utf8')) as Json)
  } catch {
    return {}
  }
}

/**
 * A raw Twilsock client like twilsock 0.12: `init`, tunnelled `message` requests to `aim.`, acks of every server
 * packet. Requests still waiting when the socket closes reject (no timers left behind).
 */
class Sock {
  readonly closed: Promise<{ code: number; reason: string }>
  /** Twilsock `close` packets from the server (header and parsed payload). */
  readonly closePackets: { header: PacketHeader; body: Json }[] = []
  /** Payloads of the Sync events the server sent (`twilio.sync.event` notifications), in order. */
  readonly syncEvents: Json[] = []
  readonly #ws: WebSocket
  readonly #pending = new Map<string, { resolve: (r: Reply) => void; reject: (e: Error) => void }>()
  #seq = 0

  private constructor(ws: WebSocket) {
    this.#ws = ws
    ws.on('error', () => undefined)
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        for (const p of this.#pending.values()) p.reject(new Error(`socket closed (${code})`))
        this.#pending.clear()
        resolve({ code, reason: reason.toString() })
      }),
    )
    ws.on('message', (data: Buffer) => {
      const pkt = decodePacket(data)
      if (pkt.method === 'reply' && pkt.id !== undefined) {
        const p = this.#pending.get(pkt.id)
        this.#pending.delete(pkt.id)
        const http = pkt.header['http_status'] as { code: number } | undefined
        p?.resolve({
          status: (pkt.header['status'] as { code: number }).code,
          httpStatus: http?.code,
          header: pkt.header,
          body: parse(pkt.payload),
        })
        return
      }
      if (pkt.method === 'close')
        this.closePackets.push({ header: pkt.header, body: parse(pkt.payload) })
      if (pkt.method === 'notification' && pkt.header['message_type'] === 'twilio.sync.event')
        this.syncEvents.push(parse(pkt.payload))
      if (pkt.id !== undefined && ws.readyState === WebSocket.OPEN)
        ws.send(encodePacket({ method: 'reply', id: pkt.id, status: { code: 200, status: 'OK' } }))
    })
  }

  static async open(url: string, token: string): Promise<Sock> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v3/wsconnect', {
      perMessageDeflate: false,
    })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    const s = new Sock(ws)
    const r = await s.#call({ method: 'init', token, ...CHAT6_INIT_FIELDS })
    assert.equal(r.status, 200, `init: ${JSON.stringify(r.header)}`)
    return s
  }

  /** A tunnelled request to the chat client API (`aim.`), or to Sync (`cds.`). */
  request(
    method: 'GET' | 'POST',
    path: string,
    options: {
      body?: Json
      headers?: Record<string, string>
      params?: Record<string, string>
      host?: string
    } = {},
  ): Promise<Reply> {
    return this.#call(
      {
        method: 'message',
        active_grant: 'ip_messaging',
        payload_type: 'application/json; charset=utf-8',
        http_request: {
          host: options.host ?? 'aim.us1.twilio.com',
          path,
          method,
          params: options.params ?? {},
          headers: { 'Content-Type': 'application/json', ...options.headers },
        },
      },
      options.body === undefined ? undefined : JSON.stringify(options.body),
    )
  }

  #call(header: PacketHeader, payload?: string): Promise<Reply> {
    if (this.#ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('socket not open'))
    const id = `RQ${++this.#seq}`
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#ws.send(encodePacket({ ...header, id }, payload))
    })
  }

  close(): void {
    this.#ws.close()
  }
}

function mint(c: Creds, identity: string): string {
  const t = new AccessToken(c.account_sid, c.api_key_sid, c.api_key_secret, {
    identity,
    ttl: 3600,
  })
  t.addGrant(new ChatGrant({ serviceSid: c.service_sid }))
  return t.toJwt()
}

// ---- senders ---------------------------------------------------------------------------------------------

/** One send attempt of one client message id, and what its sender learnt about it. */
interface Sent {
  id: string
  via: 'rest' | 'ws'
  author: string
  channel: string
  body: string
  outcome: 'pending' | 'acked' | 'failed'
  sid?: string
  index?: number
  /** Why it failed: `ws 503`, `rest fetch failed`, `ws socket closed (1006)`… */
  error?: string
  /** Whether the outcome arrived after the signal was sent. */
  afterSignal?: boolean
}

type Result =
  | { kind: 'ack'; sid: string; index: number }
  | { kind: 'error'; error: string; retryAfterMs?: number }

function restSender(url: string, c: Creds): (s: Sent) => Promise<Result> {
  return async (s) => {
    try {
      const r = await rest(
        url,
        c,
        'POST',
        `/v2/Services/${c.service_sid}/Channels/${s.channel}/Messages`,
        { Body: s.body, From: s.author },
        { 'i-twilio-idempotency-token': s.id },
      )
      if (r.status === 201 || r.status === 200)
        return { kind: 'ack', sid: r.body['sid'] as string, index: r.body['index'] as number }
      return { kind: 'error', error: `rest ${r.status} ${String(r.body['code'])}` }
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code
      return { kind: 'error', error: `rest ${(err as Error).message} ${cause ?? ''}`.trim() }
    }
  }
}

function wsSender(sock: Sock): (s: Sent) => Promise<Result> {
  return async (s) => {
    try {
      const r = await sock.request('POST', `/Client/v1/Channels/${s.channel}/Messages`, {
        body: { body: s.body, attributes: '{}' },
        headers: { 'X-Twilio-Mutation-Id': s.id },
      })
      if (r.status === 200 && (r.httpStatus === 201 || r.httpStatus === 200))
        return { kind: 'ack', sid: r.body['sid'] as string, index: r.body['index'] as number }
      if (r.status === 429)
        return {
          kind: 'error',
          error: 'ws 429',
          retryAfterMs: Number(r.header['retry_after_ms'] ?? 100),
        }
      return { kind: 'error', error: `ws ${r.status}/${String(r.httpStatus)}` }
    } catch (err) {
      return { kind: 'error', error: `ws ${(err as Error).message}` }
    }
  }
}

interface Run {
  readonly log: Sent[]
  /** Set once the signal is sent: later outcomes are marked `afterSignal`. */
  signalled: boolean
  /** Senders start no new message once this is set. */
  stopped: boolean
  acks: number
  onAck?: () => void
}

/**
 * Sends one message after another until a send fails or the run stops: a new client message id each time, channels
 * in turn. A 429 (Twilsock's per-connection packet rate) is not an answer about the message: the same id and body are
 * sent again after `retry_after_ms`.
 */
async function sender(
  run: Run,
  name: string,
  via: 'rest' | 'ws',
  author: string,
  channels: readonly string[],
  send: (s: Sent) => Promise<Result>,
  minIntervalMs: number,
): Promise<void> {
  for (let n = 0; !run.stopped; n++) {
    const started = Date.now()
    const id = `${name}-${n}`
    const s: Sent = {
      id,
      via,
      author,
      channel: channels[n % channels.length]!,
      body: `message ${id}`,
      outcome: 'pending',
    }
    run.log.push(s)
    let r = await send(s)
    while (r.kind === 'error' && r.retryAfterMs !== undefined && !run.stopped) {
      await sleep(Math.min(1000, r.retryAfterMs))
      r = await send(s)
    }
    s.afterSignal = run.signalled
    if (r.kind === 'ack') {
      s.outcome = 'acked'
      s.sid = r.sid
      s.index = r.index
      run.acks++
      run.onAck?.()
    } else {
      s.outcome = 'failed'
      s.error = r.error
      return
    }
    const wait = minIntervalMs - (Date.now() - started)
    if (wait > 0) await sleep(wait)
  }
}

// ---- checks ----------------------------------------------------------------------------------------------

/** Indexes of every channel are 0..n−1, and each body (one per client message id) maps to its messages. */
async function readBack(
  url: string,
  c: Creds,
  channels: readonly string[],
  why: string,
): Promise<Map<string, Msg[]>> {
  const byBody = new Map<string, Msg[]>()
  for (const ch of channels) {
    const msgs = await history(url, c, ch)
    assert.deepEqual(
      msgs.map((m) => m.index),
      msgs.map((_, i) => i),
      `${why}: indexes of ${ch} are not contiguous from 0`,
    )
    const channel = await rest(url, c, 'GET', `/v2/Services/${c.service_sid}/Channels/${ch}`)
    assert.equal(channel.body['messages_count'], msgs.length, `${why}: messages_count of ${ch}`)
    for (const m of msgs) byBody.set(m.body, [...(byBody.get(m.body) ?? []), m])
  }
  return byBody
}

/** `PRAGMA integrity_check` and the stored client message ids, on the database of a stopped server. */
function inspectDb(data: string): { integrity: string; clientIds: Map<string, number> } {
  const db = new Database(join(data, 'parley.db'), { readonly: true, fileMustExist: true })
  try {
    const integrity = String(db.pragma('integrity_check', { simple: true }))
    const rows = db
      .prepare('SELECT client_id AS id, COUNT(*) AS n FROM messages GROUP BY client_id')
      .all() as { id: string | null; n: number }[]
    return { integrity, clientIds: new Map(rows.map((r) => [r.id ?? '', r.n])) }
  } finally {
    db.close()
  }
}

function seedOf(t: TestContext): { seed: number; random: () => number } {
  const env = process.env['PARLEY_TEST_SEED']
  const seed = env !== undefined && env !== '' ? Number(env) : randomInt(2 ** 31)
  t.diagnostic(`seed ${seed} (rerun with PARLEY_TEST_SEED=${seed})`)
  return { seed, random: prng(seed) }
}

// ---- R01 -------------------------------------------------------------------------------------------------

test('R01: parley serve killed with SIGKILL mid-burst keeps every acknowledged send exactly once, contiguous indexes, and retries of the rest apply once', async (t) => {
  const defer = cleanups(t)
  const data = mkdtempSync(join(tmpdir(), 'parley-crash-'))
  defer(() => rmSync(data, { recursive: true, force: true }))
  const { seed, random } = seedOf(t)
  // 1. A server with 3 channels; 4 REST senders (admin, From=rest*) and 4 Twilsock senders (members ws*).
  const p1 = await startServe(defer, data)
  const c = readCreds(data)
  const wsAuthors = ['ws0', 'ws1', 'ws2', 'ws3']
  const channels = await createChannels(p1.url, c, 3, wsAuthors)
  const socks = await Promise.all(wsAuthors.map((a) => Sock.open(p1.url, mint(c, a))))
  defer(() => socks.forEach((s) => s.close()))

  // 2. Send as fast as possible (Twilsock paced under its 50 packets/s per connection) and SIGKILL the server at a
  //    seeded moment: after 300–700 acknowledgements.
  const target = 300 + Math.floor(random() * 400)
  const at = `seed ${seed}, kill after ${target} acks`
  const run: Run = { log: [], signalled: false, stopped: false, acks: 0 }
  const kill = (): void => {
    if (run.stopped) return
    run.stopped = true
    run.signalled = true
    p1.kill('SIGKILL')
  }
  run.onAck = () => {
    if (run.acks === target) kill()
  }
  const fallback = setTimeout(kill, 25_000)
  const senders = [
    ...[0, 1, 2, 3].map((i) =>
      sender(run, `r${i}-${seed}`, 'rest', `rest${i}`, channels, restSender(p1.url, c), 0),
    ),
    ...socks.map((s, i) =>
      sender(run, `w${i}-${seed}`, 'ws', wsAuthors[i]!, channels, wsSender(s), 21),
    ),
  ]
  const exit1 = await p1.exit
  clearTimeout(fallback)
  await Promise.all(senders)
  assert.equal(exit1.signal, 'SIGKILL', at)
  const acked = run.log.filter((s) => s.outcome === 'acked')
  const unacked = run.log.filter((s) => s.outcome !== 'acked')
  assert.ok(acked.length >= target, `${at}: only ${acked.length} acks before the fallback kill`)
  assert.deepEqual(
    unacked.filter((s) => !s.afterSignal).map((s) => `${s.id}: ${s.error}`),
    [],
    `${at}: sends failed before the kill`,
  )
  assert.ok(acked.some((s) => s.via === 'ws') && acked.some((s) => s.via === 'rest'), at)
  t.diagnostic(
    `${at}: ${acked.length} acked (${acked.filter((s) => s.via === 'ws').length} over Twilsock), ` +
      `${unacked.length} unacknowledged`,
  )

  // 3. Restart on the same directory (takes over the dead process's lock).
  const p2 = await startServe(defer, data)
  const before = await readBack(p2.url, c, channels, `${at}, after restart`)
  for (const s of acked) {
    const found = before.get(s.body) ?? []
    assert.equal(found.length, 1, `${at}: acknowledged ${s.id} is present ${found.length} times`)
    assert.equal(found[0]!.sid, s.sid, `${at}: ${s.id} sid`)
    assert.equal(found[0]!.index, s.index, `${at}: ${s.id} index`)
  }
  for (const s of unacked) {
    assert.ok((before.get(s.body)?.length ?? 0) <= 1, `${at}: unacknowledged ${s.id} duplicated`)
  }
  const committedUnacked = unacked.filter((s) => before.has(s.body)).length
  t.diagnostic(`${committedUnacked} of ${unacked.length} unacknowledged sends were committed`)

  // 4. Retry every unacknowledged send on its own transport, same id and body: each ends up present once, and a
  //    retry of one already committed answers with its sid and index (the mutation-id cache did not survive, so
  //    this is the store's client message id).
  const socks2 = new Map<string, Sock>()
  defer(() => socks2.forEach((s) => s.close()))
  for (const a of new Set(unacked.filter((s) => s.via === 'ws').map((s) => s.author)))
    socks2.set(a, await Sock.open(p2.url, mint(c, a)))
  const restRetry = restSender(p2.url, c)
  await Promise.all(
    unacked.map(async (s) => {
      const r = s.via === 'rest' ? await restRetry(s) : await wsSender(socks2.get(s.author)!)(s)
      assert.equal(r.kind, 'ack', `${at}: retry of ${s.id}: ${JSON.stringify(r)}`)
      const prior = before.get(s.body)?.[0]
      if (r.kind === 'ack' && prior !== undefined) {
        assert.equal(r.sid, prior.sid, `${at}: retry of committed ${s.id} got another sid`)
        assert.equal(r.index, prior.index, `${at}: retry of committed ${s.id} got another index`)
      }
    }),
  )
  const after = await readBack(p2.url, c, channels, `${at}, after retries`)
  for (const s of run.log) {
    assert.equal(after.get(s.body)?.length, 1, `${at}: ${s.id} is not present exactly once`)
  }
  assert.equal(
    [...after.values()].reduce((n, m) => n + m.length, 0),
    run.log.length,
    `${at}: messages nobody sent`,
  )

  // 5. Stop cleanly; on the database itself: integrity_check, and every client message id stored exactly once.
  p2.kill('SIGTERM')
  assert.deepEqual(await p2.exit, { code: 0, signal: null })
  assert.doesNotMatch(p2.stderr(), /"level":"error"/, `${at}: errors logged`)
  const db = inspectDb(data)
  assert.equal(db.integrity, 'ok', at)
  for (const s of run.log) assert.equal(db.clientIds.get(s.id), 1, `${at}: client id ${s.id}`)
})

// ---- R18 -------------------------------------------------------------------------------------------------

test('R18: SIGTERM under load exits 0 within 10 s, keeps every acknowledged send, closes Twilsock with 308 + 1001, and clients page gap-free history after restart', async (t) => {
  const defer = cleanups(t)
  const data = mkdtempSync(join(tmpdir(), 'parley-term-'))
  defer(() => rmSync(data, { recursive: true, force: true }))
  const { seed, random } = seedOf(t)
  // 1. A server with 2 channels, 3 Twilsock senders and 4 idle Twilsock listeners (all members), 3 REST senders.
  const p1 = await startServe(defer, data)
  const c = readCreds(data)
  const wsAuthors = ['ws0', 'ws1', 'ws2']
  const listeners = ['l0', 'l1', 'l2', 'l3']
  const channels = await createChannels(p1.url, c, 2, [...wsAuthors, ...listeners])
  const socks = await Promise.all(
    [...wsAuthors, ...listeners].map((a) => Sock.open(p1.url, mint(c, a))),
  )
  defer(() => socks.forEach((s) => s.close()))

  // 2. A steady load (each sender at most ~40 messages/s, about 240/s in all), then SIGTERM after 150–350 acks.
  const target = 150 + Math.floor(random() * 200)
  const at = `seed ${seed}, SIGTERM after ${target} acks`
  const run: Run = { log: [], signalled: false, stopped: false, acks: 0 }
  let signalAt = 0
  let signalSent!: () => void
  const signalled = new Promise<void>((r) => (signalSent = r))
  // Probes for the audit's question (do in-flight Twilsock sends answered with an error still commit?): right before
  // the signal each Twilsock sender pipelines 8 more sends, so that some are in flight when the gateway closes.
  const probes: Promise<void>[] = []
  const probeDelayMs = Math.floor(random() * 4)
  const term = (): void => {
    if (run.signalled) return
    for (const [i, a] of wsAuthors.entries()) {
      for (let k = 0; k < 8; k++) {
        const s: Sent = {
          id: `probe${i}-${k}-${seed}`,
          via: 'ws',
          author: a,
          channel: channels[k % channels.length]!,
          body: `probe ${i}-${k}-${seed}`,
          outcome: 'pending',
        }
        run.log.push(s)
        probes.push(
          wsSender(socks[i]!)(s).then((r) => {
            s.afterSignal = true
            if (r.kind === 'ack') Object.assign(s, { outcome: 'acked', sid: r.sid, index: r.index })
            else Object.assign(s, { outcome: 'failed', error: r.error })
          }),
        )
      }
    }
    run.signalled = true
    setTimeout(() => {
      signalAt = performance.now()
      p1.kill('SIGTERM')
      signalSent()
    }, probeDelayMs)
  }
  run.onAck = () => {
    if (run.acks === target) term()
  }
  const fallback = setTimeout(term, 25_000)
  const senders = [
    ...[0, 1, 2].map((i) =>
      sender(run, `r${i}-${seed}`, 'rest', `rest${i}`, channels, restSender(p1.url, c), 25),
    ),
    ...wsAuthors.map((a, i) =>
      sender(run, `w${i}-${seed}`, 'ws', a, channels, wsSender(socks[i]!), 25),
    ),
  ]

  // 3. Exit 0 within 10 s of the signal.
  await signalled
  const exit1 = await within(p1.exit, 10_000)
  const shutdownMs = performance.now() - signalAt
  clearTimeout(fallback)
  run.stopped = true
  await Promise.all([...senders, ...probes])
  assert.notEqual(exit1, 'timeout', `${at}: parley serve did not exit within 10 s of SIGTERM`)
  assert.deepEqual(exit1, { code: 0, signal: null }, `${at}: ${p1.stderr()}`)
  t.diagnostic(`${at}: exited 0 after ${Math.round(shutdownMs)} ms`)
  assert.doesNotMatch(p1.stderr(), /"level":"error"/, `${at}: errors logged`)
  const acked = run.log.filter((s) => s.outcome === 'acked')
  assert.ok(acked.length >= target, `${at}: only ${acked.length} acks`)
  assert.deepEqual(
    run.log.filter((s) => s.outcome === 'failed' && !s.afterSignal).map((s) => s.error),
    [],
    `${at}: sends failed before the signal`,
  )

  // 4. Every Twilsock client got a Twilsock `close` (308 with jittered reconnect advice), then WebSocket 1001.
  for (const [i, s] of socks.entries()) {
    const closed = await within(s.closed, 5000)
    assert.notEqual(closed, 'timeout', `socket ${i} still open after the server exited`)
    assert.equal(closed !== 'timeout' && closed.code, 1001, `${at}: socket ${i} close code`)
    const pkt = s.closePackets[0]
    assert.equal((pkt?.header['status'] as { code: number } | undefined)?.code, 308, `socket ${i}`)
    const min = (pkt?.body['backoff_policy'] as { reconnect_min_ms?: number } | undefined)
      ?.reconnect_min_ms
    assert.ok(typeof min === 'number' && min >= 1000 && min <= 5000, `reconnect_min_ms ${min}`)
  }

  // 5. The WAL was checkpointed on the way out, and the database is sound.
  const wal = join(data, 'parley.db-wal')
  assert.ok(!existsSync(wal) || statSync(wal).size === 0, `${at}: WAL left behind`)
  assert.equal(inspectDb(data).integrity, 'ok', at)

  // 6. Restart: every acknowledged send (before the signal, and during the shutdown) is there once, same sid/index.
  const p2 = await startServe(defer, data)
  const stored = await readBack(p2.url, c, channels, `${at}, after restart`)
  for (const s of acked) {
    const found = stored.get(s.body) ?? []
    assert.equal(found.length, 1, `${at}: acknowledged ${s.id} is present ${found.length} times`)
    assert.equal(found[0]!.sid, s.sid, `${at}: ${s.id} sid`)
    assert.equal(found[0]!.index, s.index, `${at}: ${s.id} index`)
  }
  const outcomes = new Map<string, { sends: number; committed: number }>()
  for (const s of run.log.filter((x) => x.outcome === 'failed')) {
    const o = outcomes.get(s.error!) ?? { sends: 0, committed: 0 }
    o.sends++
    if (stored.has(s.body)) o.committed++
    outcomes.set(s.error!, o)
  }
  // A send refused during the shutdown (Twilsock reply 503) was not run: the requests already running when the signal
  // came finish and get their real answers before the sessions close (reliability.md §2.9).
  for (const [error, o] of outcomes) {
    if (error.startsWith('ws 503'))
      assert.equal(o.committed, 0, `${at}: ${o.committed} sends answered 503 were stored`)
  }
  t.diagnostic(
    `${acked.filter((s) => s.afterSignal).length} acks arrived after the signal (delay ${probeDelayMs} ms); ` +
      `failed sends: ${[...outcomes].map(([e, o]) => `${e}: ${o.sends} (${o.committed} committed)`).join('; ') || 'none'}`,
  )

  // 7. Each listener reconnects and pages every channel's history over Twilsock: no gap, the same messages as REST.
  for (const identity of listeners) {
    const s = await Sock.open(p2.url, mint(c, identity))
    defer(() => s.close())
    for (const ch of channels) {
      const seen: number[] = []
      let token: string | null = null
      do {
        const r: Reply = await s.request('GET', `/Client/v1/Channels/${ch}/Messages`, {
          params: { PageSize: '50', ...(token === null ? {} : { PageToken: token }) },
        })
        assert.equal(r.httpStatus, 200, JSON.stringify(r.body))
        seen.push(...(r.body['messages'] as Msg[]).map((m) => m.index))
        token = ((r.body['meta'] as Json)['next_token'] as string | null) ?? null
      } while (token !== null)
      const rest = (await history(p2.url, c, ch)).length
      assert.deepEqual(
        seen,
        Array.from({ length: rest }, (_, i) => i),
        `${at}: ${identity} paged ${ch} with a gap`,
      )
    }
  }

  p2.kill('SIGTERM')
  assert.deepEqual(await p2.exit, { code: 0, signal: null })
  assert.doesNotMatch(p2.stderr(), /"level":"error"/, `${at}: errors logged`)
  assert.equal(inspectDb(data).integrity, 'ok', at)
})

test('R07: a message committed but never published (PARLEY_FAULT=crash_after_commit:100) reaches a subscriber once after the restart, and its retry does not duplicate it', async (t) => {
  const defer = cleanups(t)
  const data = mkdtempSync(join(tmpdir(), 'parley-r07-'))
  defer(() => rmSync(data, { recursive: true, force: true }))
  const p1 = await startServe(defer, data, { PARLEY_FAULT: 'crash_after_commit:100' })
  const c = readCreds(data)
  const [ch] = await createChannels(p1.url, c, 1, ['alice', 'bob'])
  const CDS = 'cds.us1.twilio.com'
  /** Bob's subscription to the channel's messages list, from `lastEventId` (null: from now on). */
  const subscribe = async (url: string, lastEventId: number | null): Promise<Sock> => {
    const s = await Sock.open(url, mint(c, 'bob'))
    defer(() => s.close())
    const list = await s.request('GET', `/v3/Lists/${ch}.messages`, { host: CDS })
    assert.equal(list.httpStatus, 200, JSON.stringify(list.body))
    const r = await s.request('POST', '/v4/Subscriptions', {
      host: CDS,
      body: {
        event_protocol_version: 4,
        action: 'establish',
        correlation_id: 1,
        retried_requests: 0,
        ttl_in_s: -1,
        requests: [
          { object_sid: list.body['sid'], object_type: 'list', last_event_id: lastEventId },
        ],
      },
    })
    assert.equal(r.httpStatus, 200, JSON.stringify(r.body))
    await until(() => s.syncEvents.some((e) => e['event_type'] === 'subscription_established'))
    return s
  }
  /** The list items bob got, as [event id, message index]. */
  const items = (s: Sock): [number, number][] =>
    s.syncEvents
      .filter((e) => e['event_type'] === 'list_item_added')
      .map((e) => [
        (e['event'] as Json)['id'] as number,
        (e['event'] as Json)['item_index'] as number,
      ])
  const send = (url: string, i: number) =>
    rest(
      url,
      c,
      'POST',
      `/v2/Services/${c.service_sid}/Channels/${ch}/Messages`,
      { Body: `m${i}`, From: 'alice' },
      { 'i-twilio-idempotency-token': `r07-${i}` },
    )

  // 1. 99 messages go out live; the 100th is committed, then the process dies before publishing or answering it.
  const bob1 = await subscribe(p1.url, null)
  for (let i = 1; i < 100; i++) assert.equal((await send(p1.url, i)).status, 201)
  await assert.rejects(send(p1.url, 100))
  assert.equal((await p1.exit).signal, 'SIGKILL')
  await until(() => items(bob1).length === 99)
  const live = items(bob1)
  assert.deepEqual(
    live.map(([, index]) => index),
    Array.from({ length: 99 }, (_, i) => i),
  )

  // 2. Restarted without the fault: bob resubscribes from the last event he got and receives message 100, once.
  const p2 = await startServe(defer, data)
  const bob2 = await subscribe(p2.url, live.at(-1)![0])
  assert.deepEqual(
    items(bob2).map(([, index]) => index),
    [99],
  )
  const stored = await history(p2.url, c, ch!)
  assert.deepEqual(
    stored.map((m) => m.body),
    Array.from({ length: 100 }, (_, i) => `m${i + 1}`),
  )

  // 3. The sender, never answered, retries with the same key: the stored message, not a second one.
  const retry = await send(p2.url, 100)
  assert.ok(retry.status === 200 || retry.status === 201, JSON.stringify(retry.body))
  assert.deepEqual([retry.body['sid'], retry.body['index']], [stored[99]!.sid, 99])
  assert.equal((await history(p2.url, c, ch!)).length, 100)

  // 4. And the live stream goes on after the replay.
  assert.equal((await send(p2.url, 101)).status, 201)
  await until(() => items(bob2).length === 2)
  assert.deepEqual(
    items(bob2).map(([, index]) => index),
    [99, 100],
  )
})
