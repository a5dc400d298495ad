/**
 * In-memory doubles for compat tests: an event log, a Twilsock session that records notifications.
 */
import type { ChatEvent, EventType } from '../../../src/core/types.ts'
import type {
  EncodedNotification,
  TwilsockPrincipal,
  TwilsockSession,
  UpstreamHandler,
  UpstreamRequest,
} from '../../../src/compat/twilio/upstream.ts'

export class FakeLog {
  readonly streams = new Map<string, ChatEvent[]>()
  seq = 0
  /** Delay (ms) added to every readStream, to widen replay/live races. */
  delayMs = 0
  append(
    stream: string,
    type: EventType,
    key: string | null,
    data: unknown,
    createdAt = 1_700_000_000_000,
  ): ChatEvent {
    const list = this.streams.get(stream) ?? []
    this.streams.set(stream, list)
    const ev: ChatEvent = {
      seq: ++this.seq,
      stream,
      streamSeq: list.length + 1,
      type,
      key,
      data,
      accountSid: 'AC1',
      serviceSid: 'IS1',
      createdAt: createdAt + this.seq * 1000,
    }
    list.push(ev)
    return ev
  }
  async readStream(stream: string, after: number, limit = 100): Promise<ChatEvent[]> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs))
    return (this.streams.get(stream) ?? []).filter((e) => e.streamSeq > after).slice(0, limit)
  }
  async lastSeq(stream: string): Promise<number> {
    return this.streams.get(stream)?.length ?? 0
  }
}

export function principal(identity: string, serviceSid = 'IS1'): TwilsockPrincipal {
  return {
    accountSid: 'AC1',
    keySid: 'SK1',
    serviceSid,
    identity,
    endpointId: `${identity}-ep`,
    expiresAt: 2_000_000_000,
  }
}

export class FakeSession implements TwilsockSession {
  readonly id: string
  readonly principal: TwilsockPrincipal
  closed = false
  /** What the client has not acknowledged yet (set by tests to play a client that is behind). */
  unackedBytes = 0
  readonly sent: { type: string; payload: any }[] = []
  private readonly closers: (() => void)[] = []
  private static n = 0
  constructor(identity: string, serviceSid = 'IS1') {
    this.id = `TS${++FakeSession.n}`
    this.principal = principal(identity, serviceSid)
  }
  notify(messageType: string, payload: unknown): void {
    if (this.closed) throw new Error('notify after close')
    this.sent.push({ type: messageType, payload })
  }
  /** The shared-bytes path of live fan-out: records what the bytes say, so tests check what goes on the wire. */
  notifyEncoded(n: EncodedNotification): void {
    if (this.closed) throw new Error('notify after close')
    this.sent.push({
      type: n.messageType,
      payload: n.json.length === 0 ? undefined : JSON.parse(n.json.toString('utf8')),
    })
    this.encoded++
  }
  /** How many notifications came through {@link notifyEncoded}. */
  encoded = 0
  onClose(fn: () => void): void {
    this.closers.push(fn)
  }
  close(): void {
    this.closed = true
    for (const f of this.closers) f()
  }
  /** Sync events (not subscription control) as [event_type, id]. */
  syncEvents(): { type: string; id: number; event: any }[] {
    return this.sent
      .filter(
        (s) =>
          s.type === 'twilio.sync.event' &&
          !String(s.payload.event_type).startsWith('subscription_'),
      )
      .map((s) => ({ type: s.payload.event_type, id: s.payload.event.id, event: s.payload.event }))
  }
  control(type: string): any[] {
    return this.sent
      .filter((s) => s.type === 'twilio.sync.event' && s.payload.event_type === type)
      .map((s) => s.payload)
  }
}

export function request(
  method: string,
  path: string,
  params: Record<string, string> = {},
  body: unknown = undefined,
  host = 'cds.us1.twilio.com',
): UpstreamRequest {
  return {
    host,
    path,
    method,
    params,
    headers: {},
    body: body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body),
  }
}

/** Resolves when `pred` holds, polling on the macrotask queue. */
export async function waitFor(pred: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = Date.now()
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error('waitFor: timed out')
    await new Promise((r) => setTimeout(r, 2))
  }
}

/**
 * Fake sessions of one account and service, and a `call` that sends a tunnelled request through `upstream`:
 * `/v…` paths (Sync) to the cds host, everything else (`/Client/…`) to aim.
 */
export function compatCaller(upstream: UpstreamHandler, accountSid: string, serviceSid: string) {
  return {
    session(identity: string): FakeSession {
      const s = new FakeSession(identity, serviceSid)
      Object.assign(s.principal, { accountSid })
      return s
    },
    async call(
      s: FakeSession,
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ): Promise<{ status: number; body: any }> {
      const host = path.startsWith('/v') ? 'cds.us1.twilio.com' : 'aim.us1.twilio.com'
      const res = await upstream({ ...request(method, path, {}, body, host), headers }, s)
      return { status: res.status, body: res.body as any }
    },
  }
}
