/**
 * One Twilsock connection: the packet state machine (twilio-client-protocol.md §4–§6) on top of a `ws` socket.
 *
 * States: `awaiting_init` → (`init`) → `verifying` → `active` | `rejected` → `closed`. One `init` per socket (the
 * Twilio clients open a new socket to retry). Before `active` only `init`, `reply` and `close` are accepted;
 * anything else closes the socket. In `active` the session answers every request packet
 * with a `reply` of the same id, tunnels `message` packets to the upstream handlers, tracks the acks of the
 * packets it sends, and owns the token lifecycle (`client_update` before `exp`, `close` 410 at `exp`).
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { HeartbeatTarget } from '../../../realtime/heartbeat.ts'
import {
  CLOSE_SLOW_CONSUMER,
  FramedSocket,
  sendWithin,
  WriteBatcher,
  type BufferedSocket,
  type RawSocket,
  type MessageSocket,
} from '../../../realtime/outbound.ts'
import { TokenBucket } from '../../../realtime/rate-limiter.ts'
import type { TimerHandle } from '../../../realtime/timers.ts'
import {
  EncodedNotification,
  type TwilsockPrincipal,
  type TwilsockSession,
  type UpstreamRequest,
  type UpstreamResponse,
} from '../upstream.ts'
import {
  ackId,
  decodePacket,
  encodeNotification,
  encodePacket,
  payloadText,
  type FramingError,
  type Packet,
  type PacketHeader,
} from './framing.ts'
import { AckWindow, packetSeq } from './ack-window.ts'
import type { GatewayContext } from './context.ts'
import { identityKey } from './registry.ts'
import { rejectionStatus, type TwilsockStatus, type VerifiedToken } from './verify.ts'

/** WebSocket close codes used by the gateway (RFC 6455 §7.4.1, reliability.md §2.4). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
  slowConsumer: CLOSE_SLOW_CONSUMER,
} as const

/** Lifecycle state of a {@link Session}. */
export type SessionState = 'awaiting_init' | 'verifying' | 'rejected' | 'active' | 'closed'

const OK: TwilsockStatus = { code: 200, status: 'OK' }
const PRODUCT = 'ip_messaging'
const SUPPORTED_CAPABILITIES = new Set(['client_update', 'offline_storage', 'telemetry.v1'])

function status(code: number, description?: string, errorCode?: number): TwilsockStatus {
  const s: { code: number; status: string; description?: string; errorCode?: number } = {
    code,
    status: STATUS_CODES[code] ?? 'Error',
  }
  if (description !== undefined) s.description = description
  if (errorCode !== undefined) s.errorCode = errorCode
  return s
}

/** A Twilsock connection. Created by the gateway for each upgraded socket. */
export class Session implements TwilsockSession, HeartbeatTarget {
  readonly id: string
  missedPongs = 0
  /** Packet ids are `TM` + this session's random prefix + a counter: unique per session, as acks need. */
  readonly #idPrefix: string
  #packetSeq = 0
  /** Coalesces this turn's writes into one `writev` (absent when the raw socket is not known). */
  readonly #batcher: WriteBatcher | undefined
  /** Where packets go: whole frames on the raw socket when it is known, else `ws`'s `send`. */
  readonly #out: BufferedSocket
  #state: SessionState = 'awaiting_init'
  #principal: TwilsockPrincipal | undefined
  readonly #ws: MessageSocket
  readonly #ctx: GatewayContext
  readonly #bucket: TokenBucket
  /** The identity's bucket, shared with its other sessions, while this one is active. */
  #identityBucket: TokenBucket | undefined
  #floodWindowStart = 0
  #floodRejected = 0
  #inflight = 0
  /** Ids of `message` packets whose upstream handler is still running. */
  #pending: Set<string> | undefined
  /** Server-originated packets until the client's `reply` ack. */
  #unacked: AckWindow | undefined
  #closeFns: (() => void)[] | undefined
  #authTimer: TimerHandle | undefined
  #warnTimer: TimerHandle | undefined
  #expiryTimer: TimerHandle | undefined
  #graceTimer: TimerHandle | undefined
  #updates: Promise<void> = Promise.resolve()
  #warned = false
  #closing = false
  /** Shutting down: new requests are refused (503), the running ones finish and answer. */
  #quiescing = false
  /** The close code the server chose, or the one the peer sent. */
  closeCode: number | undefined

  /** The peer's address (for failed-auth limiting); '' when unknown. */
  readonly remoteAddress: string

  /**
   * @param ws The connection: a `ws` WebSocket, or the socket process's stand-in for one.
   * @param socket The raw socket under `ws` (from the upgrade): when given, packets are written to it as whole frames
   *   ({@link FramedSocket}) and the writes of one event-loop turn are coalesced into one `writev`
   *   ({@link WriteBatcher}). Not with the socket process, which does both itself.
   */
  constructor(ws: MessageSocket, ctx: GatewayContext, remoteAddress = '', socket?: RawSocket) {
    const uuid = randomUUID().replaceAll('-', '')
    this.id = `TS${uuid}`
    this.#idPrefix = `TM${uuid.slice(0, 12)}`
    this.#batcher = socket === undefined ? undefined : new WriteBatcher(socket)
    this.#out = socket === undefined ? ws : new FramedSocket(ws, socket)
    this.#ws = ws
    this.#ctx = ctx
    this.remoteAddress = remoteAddress
    const now = ctx.timers.now()
    this.#bucket = new TokenBucket(ctx.rate, now)
    this.#floodWindowStart = now
    this.#authTimer = ctx.timers.setTimeout(() => this.#authDeadline(), ctx.authDeadlineMs)
    ws.on('message', (data, isBinary) => {
      try {
        this.#onFrame(data, isBinary)
      } catch (err) {
        // A bug here must cost this socket only, never the process.
        ctx.log('error', 'twilsock frame handling failed', { session: this.id, err })
        this.close(CLOSE.internalError, 'internal error')
      }
    })
    ws.on('pong', () => {
      this.missedPongs = 0
    })
    ws.on('error', () => {
      // ws closes the socket itself after an error (e.g. 1009 for an oversize frame); 'close' does the cleanup.
    })
    ws.on('close', (code) => this.#cleanup(code))
  }

  // ---- TwilsockSession -------------------------------------------------------------------------------------

  get principal(): TwilsockPrincipal {
    if (!this.#principal) throw new Error('Twilsock session is not initialised')
    return this.#principal
  }

  get state(): SessionState {
    return this.#state
  }

  get closed(): boolean {
    return this.#state === 'closed' || this.#closing
  }

  /** Server packets sent and not yet acknowledged by the client. */
  get unacked(): number {
    return this.#unacked?.size ?? 0
  }

  get unackedBytes(): number {
    return this.#unacked?.bytes ?? 0
  }

  notify(messageType: string, payload: unknown): void {
    if (this.#state !== 'active' || this.#closing) return
    this.notifyEncoded(new EncodedNotification(messageType, payload))
  }

  notifyEncoded(n: EncodedNotification): void {
    if (this.#state !== 'active' || this.#closing) return
    if (n.error !== undefined) {
      this.#ctx.log('error', 'twilsock notification payload not serialisable', {
        session: this.id,
        err: n.error,
      })
      return
    }
    this.#sendTracked((id) => encodeNotification(id, n))
  }

  onClose(fn: () => void): void {
    if (this.#state === 'closed') {
      this.#runSafely(fn)
      return
    }
    ;(this.#closeFns ??= []).push(fn)
  }

  // ---- HeartbeatTarget -------------------------------------------------------------------------------------

  ping(): void {
    try {
      this.#ws.ping()
    } catch {
      // The socket is already closing; 'close' cleans up.
    }
  }

  dead(): void {
    this.#ctx.log('info', 'twilsock heartbeat timeout', { session: this.id })
    this.closeCode = CLOSE.goingAway
    this.#ws.terminate()
  }

  // ---- closing ---------------------------------------------------------------------------------------------

  /**
   * Closes the connection, optionally sending a Twilsock `close` packet first so that Twilio clients react
   * (410 → `tokenExpired`, 308 → reconnect with backoff, 401 → disconnect).
   */
  close(
    code: number,
    reason: string,
    twilsockClose?: { status: TwilsockStatus; payload?: unknown },
  ): void {
    if (this.#state === 'closed' || this.#closing) return
    if (twilsockClose) {
      // Fail the requests still in flight now: twilsock only notices them through its 30 s request timeout
      // (it drops its socket listeners when it gets a close), long after the caller should have known.
      if (this.#pending) {
        for (const id of this.#pending) this.#reply(id, status(503, 'Connection closing'))
        this.#pending = undefined
      }
      const header = { method: 'close', id: this.#nextPacketId(), status: twilsockClose.status }
      const body =
        twilsockClose.payload === undefined ? undefined : JSON.stringify(twilsockClose.payload)
      this.#send(encodePacket(header, body))
    }
    this.#closing = true
    this.closeCode = code
    this.#clearLifecycleTimers()
    try {
      this.#ws.close(code, reason)
    } catch {
      this.#ws.terminate()
    }
    // A peer that does not complete the closing handshake (or is not reading at all) is cut off.
    this.#graceTimer = this.#ctx.timers.setTimeout(
      () => this.#ws.terminate(),
      this.#ctx.closeGraceMs,
    )
  }

  /**
   * First step of a shutdown: from now on `message` requests are answered 503 without being run, while the ones
   * already running go on and get their real answers (a send that commits must not be answered with an error). The
   * gateway then waits for them (with a deadline) before it {@link close}s the session.
   */
  quiesce(): void {
    this.#quiescing = true
  }

  /** Cuts the connection without a closing handshake. */
  terminate(): void {
    this.#ws.terminate()
  }

  // ---- incoming --------------------------------------------------------------------------------------------

  #onFrame(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (this.#state === 'closed' || this.#closing) return
    if (!isBinary) {
      this.close(CLOSE.unsupportedData, 'binary Twilsock frames only')
      return
    }
    const frame = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data)
    // The most frequent packet by far: the client's ack of a notification. Exactly what `#dispatch` does with it.
    const ack = ackId(frame)
    if (ack !== undefined) {
      this.#onAck(ack)
      return
    }
    let pkt: Packet
    try {
      pkt = decodePacket(frame)
    } catch (err) {
      const fe = err as FramingError
      const id = fe.header && typeof fe.header['id'] === 'string' ? fe.header['id'] : undefined
      if (id !== undefined && this.#state === 'active') {
        // The header was readable: answer this packet and keep the connection.
        if (this.#admit()) this.#reply(id, status(400, `Malformed packet: ${fe.reason}`))
        return
      }
      this.#ctx.log('info', 'twilsock framing error', { session: this.id, reason: fe.reason })
      this.close(CLOSE.protocolError, `framing: ${fe.reason}`, {
        status: status(406, 'Malformed Twilsock packet'),
      })
      return
    }
    this.#dispatch(pkt)
  }

  #dispatch(pkt: Packet): void {
    const method = pkt.method
    if (method === 'reply') {
      this.#onAck(pkt.id)
      return
    }
    if (method === 'close') {
      this.close(CLOSE.normal, 'client closed')
      return
    }
    if (this.#state !== 'active' && method !== 'init') {
      this.close(CLOSE.policyViolation, 'init required', { status: status(401, 'init required') })
      return
    }
    if (!this.#admit()) {
      if (pkt.id !== undefined) {
        const now = this.#ctx.timers.now()
        const retryAfterMs = Math.max(
          this.#bucket.retryAfterMs(now),
          this.#identityBucket?.retryAfterMs(now) ?? 0,
        )
        this.#reply(pkt.id, status(429, 'Too many packets'), {
          retry_after_ms: retryAfterMs,
          backoff_policy: { reconnect_min_ms: Math.max(1000, retryAfterMs) },
        })
      }
      return
    }
    if (pkt.id === undefined) {
      // Every client request carries an id; without one there is nothing to answer.
      this.close(CLOSE.protocolError, 'packet without id', {
        status: status(406, 'Packet without id'),
      })
      return
    }
    const m = method ?? ''
    switch (m) {
      case 'init':
        void this.#guard(this.#onInit(pkt, pkt.id))
        return
      case 'update':
        this.#updates = this.#updates.then(() => this.#guard(this.#onUpdate(pkt, pkt.id!)))
        return
      case 'message':
        if (this.#quiescing) this.#reply(pkt.id, status(503, 'Server shutting down'))
        else void this.#guard(this.#onMessage(pkt, pkt.id))
        return
      case 'put_notification_ctx':
      case 'delete_notification_ctx':
        void this.#guard(this.#onNotificationContext(pkt, pkt.id, m))
        return
      case 'telemetry.v1':
        this.#reply(pkt.id, OK)
        return
      default:
        this.#reply(pkt.id, status(400, 'Unsupported method'))
    }
  }

  /**
   * Runs a packet handler so that a bug in it (or in a hook it calls) closes this socket with 1011 instead of
   * becoming an unhandled rejection that would take the process down.
   */
  #guard(p: Promise<void>): Promise<void> {
    return p.catch((err: unknown) => {
      this.#ctx.log('error', 'twilsock packet handler failed', { session: this.id, err })
      this.close(CLOSE.internalError, 'internal error')
    })
  }

  /**
   * Rate limits, the connection's and its identity's: false when the packet must be refused; closes the socket on
   * sustained abuse.
   */
  #admit(): boolean {
    const now = this.#ctx.timers.now()
    if (this.#bucket.take(now) && (this.#identityBucket?.take(now) ?? true)) return true
    if (now - this.#floodWindowStart > this.#ctx.flood.windowMs) {
      this.#floodWindowStart = now
      this.#floodRejected = 0
    }
    this.#floodRejected++
    if (this.#floodRejected >= this.#ctx.flood.closeAfter) {
      this.#ctx.log('warn', 'twilsock flood', { session: this.id })
      this.close(CLOSE.policyViolation, 'rate limit exceeded')
    }
    return false
  }

  #onAck(id: string | undefined): void {
    if (id !== undefined && this.#unacked?.ack(packetSeq(id, this.#idPrefix))) return
    // An ack for nothing we sent: harmless, but it still costs a token so that it cannot be used to flood.
    this.#admit()
  }

  async #onInit(pkt: Packet, id: string): Promise<void> {
    if (this.#state !== 'awaiting_init') {
      this.#reply(id, status(400, 'Already initialised'))
      return
    }
    const token = pkt.header['token']
    if (typeof token !== 'string' || token.length === 0) {
      this.#state = 'rejected'
      this.#rejectInit(id, status(401, 'Access token missing', 51130))
      return
    }
    this.#state = 'verifying'
    let verified: VerifiedToken
    try {
      verified = await this.#ctx.verify(token)
    } catch (err) {
      if (this.#state !== 'verifying' || this.#closing) return
      this.#state = 'rejected'
      const st = rejectionStatus(err)
      if (st.code >= 500)
        this.#ctx.log('error', 'twilsock token verification error', { session: this.id, err })
      this.#rejectInit(id, st)
      return
    }
    if (this.#state !== 'verifying' || this.#closing) return
    if (this.#ctx.isRevoked(verified.keySid)) {
      this.#state = 'rejected'
      this.#rejectInit(id, status(401, 'Access token key revoked', 51115))
      return
    }
    if (
      this.#ctx.registry.countForIdentity(verified.serviceSid, verified.identity) >=
      this.#ctx.maxSessionsPerIdentity
    ) {
      this.#state = 'rejected'
      // 429: twilsock backs off by backoff_policy.reconnect_min_ms and retries (twilio-client-protocol.md §6.1).
      this.#rejectInit(id, status(429, 'Too many connections for this identity'), {
        backoff_policy: { reconnect_min_ms: 5_000 },
      })
      return
    }
    const cont = this.#ctx.continuation.resolve(verified, pkt.header['continuation_token'])
    this.#principal = Object.freeze({
      accountSid: verified.accountSid,
      keySid: verified.keySid,
      serviceSid: verified.serviceSid,
      identity: verified.identity,
      endpointId: verified.endpointId ?? cont.endpointId,
      expiresAt: verified.expiresAt,
    })
    this.#state = 'active'
    if (this.#authTimer !== undefined) this.#ctx.timers.clearTimeout(this.#authTimer)
    this.#authTimer = undefined
    this.#ctx.registry.add(this)
    this.#ctx.heartbeat.add(this)
    this.#identityBucket = this.#ctx.identityRate.acquire(
      identityKey(verified.serviceSid, verified.identity),
      this.#ctx.timers.now(),
    )

    const requested = Array.isArray(pkt.header['capabilities']) ? pkt.header['capabilities'] : []
    const capabilities = requested.filter(
      (c): c is string => typeof c === 'string' && SUPPORTED_CAPABILITIES.has(c),
    )
    const registrations = Array.isArray(pkt.header['registrations'])
      ? pkt.header['registrations']
      : []
    const products = new Set<string>([PRODUCT])
    const initRegistrations: { product: string; type: string }[] = []
    for (const r of registrations.slice(0, 16)) {
      if (
        typeof r === 'object' &&
        r !== null &&
        typeof (r as Record<string, unknown>)['product'] === 'string'
      ) {
        const product = (r as Record<string, string>)['product']!.slice(0, 64)
        products.add(product)
        initRegistrations.push({ product, type: 'ers' })
      }
    }
    const offlineStorage: Record<string, { storage_id: string }> = {}
    for (const p of products) offlineStorage[p] = { storage_id: this.#principal.endpointId }
    this.#sendReply({
      method: 'reply',
      id,
      status: OK,
      continuation_token: cont.token,
      continuation_token_status: { reissued: cont.reissued },
      capabilities,
      offline_storage: offlineStorage,
      init_registrations: initRegistrations,
      debug_info: { session_id: this.id },
    })
    this.#armLifecycle()
    this.#ctx.onSessionOpen(this)
  }

  #rejectInit(id: string, st: TwilsockStatus, payload?: unknown): void {
    this.#reply(id, st, payload)
    if (st.code === 401 || st.code === 403) this.#ctx.onAuthFailure(this.remoteAddress)
    // The Twilio client closes the socket itself after a rejected init; close ours shortly after in case it does not.
    this.#graceTimer = this.#ctx.timers.setTimeout(
      () => this.close(CLOSE.policyViolation, 'init rejected'),
      this.#ctx.closeGraceMs,
    )
  }

  async #onUpdate(pkt: Packet, id: string): Promise<void> {
    if (this.#state !== 'active' || this.#closing) return
    const token = pkt.header['token']
    if (typeof token !== 'string' || token.length === 0) {
      this.#reply(id, status(401, 'Access token missing', 51130))
      return
    }
    let verified: VerifiedToken
    try {
      verified = await this.#ctx.verify(token)
    } catch (err) {
      if (this.#state !== 'active' || this.#closing) return
      // The old token stays in force until its own exp (access-tokens.md §9.3).
      this.#reply(id, rejectionStatus(err))
      return
    }
    if (this.#state !== 'active' || this.#closing) return
    const old = this.principal
    if (
      verified.identity !== old.identity ||
      verified.serviceSid !== old.serviceSid ||
      verified.accountSid !== old.accountSid
    ) {
      this.#reply(id, status(403, 'Token identity or service differs from the connection', 51122))
      return
    }
    if (this.#ctx.isRevoked(verified.keySid)) {
      this.#reply(id, status(401, 'Access token key revoked', 51115))
      return
    }
    this.#principal = Object.freeze({
      ...old,
      keySid: verified.keySid,
      expiresAt: verified.expiresAt,
    })
    this.#ctx.registry.rekey(this, old.keySid)
    this.#reply(id, OK)
    this.#warned = false
    this.#armLifecycle()
  }

  async #onMessage(pkt: Packet, id: string): Promise<void> {
    const req = toUpstreamRequest(pkt)
    if (typeof req === 'string') {
      this.#reply(id, status(400, req))
      return
    }
    if (this.#inflight >= this.#ctx.maxInflight) {
      this.#reply(id, status(429, 'Too many requests in flight'), {
        backoff_policy: { reconnect_min_ms: 1000 },
      })
      return
    }
    const handler = this.#ctx.route(req.host)
    let res: UpstreamResponse
    if (!handler) {
      res = { status: 404, body: { code: 20404, message: 'Upstream not resolved', status: 404 } }
    } else {
      this.#inflight++
      this.#ctx.stats.inflightRequests++
      ;(this.#pending ??= new Set()).add(id)
      // The in-flight counters follow the handler itself, even after a timeout answered the client.
      const done = Promise.resolve()
        .then(() => handler(req, this))
        .catch((err: unknown): UpstreamResponse => {
          this.#ctx.log('error', 'twilsock upstream handler failed', { session: this.id, err })
          return {
            status: 500,
            body: { code: 20500, message: 'Internal server error', status: 500 },
          }
        })
        .finally(() => {
          this.#inflight--
          this.#ctx.stats.inflightRequests--
        })
      let timer: TimerHandle | undefined
      const timeout = new Promise<UpstreamResponse>((resolve) => {
        // twilsock gives up on a packet after 30 s; answer before that so the caller gets an HTTP error.
        timer = this.#ctx.timers.setTimeout(() => {
          this.#ctx.log('warn', 'twilsock upstream handler timed out', { session: this.id })
          resolve({ status: 504, body: { message: 'Upstream timed out', status: 504 } })
        }, this.#ctx.upstreamTimeoutMs)
      })
      res = await Promise.race([done, timeout])
      if (timer !== undefined) this.#ctx.timers.clearTimeout(timer)
      if (!this.#pending?.delete(id)) return // already answered (503 on close)
    }
    if (this.#state !== 'active' || this.#closing) return
    const httpStatus =
      Number.isInteger(res.status) && res.status >= 100 && res.status <= 599 ? res.status : 500
    const header: PacketHeader = {
      method: 'reply',
      id,
      payload_type: 'application/json',
      status: OK,
      http_status: { code: httpStatus, status: STATUS_CODES[httpStatus] ?? 'Unknown' },
      http_headers: { 'Content-Type': 'application/json', ...res.headers },
    }
    let body: string | undefined
    try {
      body = res.body === undefined ? undefined : JSON.stringify(res.body)
    } catch (err) {
      this.#ctx.log('error', 'twilsock upstream body not serialisable', { session: this.id, err })
      header['http_status'] = { code: 500, status: 'Internal Server Error' }
      body = undefined
    }
    this.#send(encodePacket(header, body))
  }

  async #onNotificationContext(pkt: Packet, id: string, method: string): Promise<void> {
    const ctxId = pkt.header['notification_ctx_id']
    if (typeof ctxId !== 'string' || ctxId.length === 0 || ctxId.length > 256) {
      this.#reply(id, status(400, 'notification_ctx_id missing or invalid'))
      return
    }
    try {
      if (method === 'put_notification_ctx') {
        const text = payloadText(pkt.payload)
        let context: unknown
        try {
          context = text === undefined || text === '' ? undefined : JSON.parse(text)
        } catch {
          context = undefined
        }
        if (typeof context !== 'object' || context === null) {
          this.#reply(id, status(400, 'Notification context must be a JSON object'))
          return
        }
        await this.#ctx.notificationContexts.put(this.principal, ctxId, context)
      } else {
        await this.#ctx.notificationContexts.delete(this.principal, ctxId)
      }
    } catch (err) {
      this.#ctx.log('error', 'twilsock notification context store failed', {
        session: this.id,
        err,
      })
      if (this.#state === 'active') this.#reply(id, status(500, 'Internal server error'))
      return
    }
    if (this.#state === 'active') this.#reply(id, OK)
  }

  // ---- token lifecycle -------------------------------------------------------------------------------------

  #armLifecycle(): void {
    this.#clearLifecycleTimers()
    const { timers, warnLeadMs } = this.#ctx
    const expMs = this.principal.expiresAt * 1000
    const now = timers.now()
    if (expMs <= now) {
      this.#expire()
      return
    }
    if (!this.#warned) {
      const warnIn = expMs - warnLeadMs - now
      // Less than the lead time left (short tokens): warn at once so the app can still refresh in time.
      if (warnIn <= 0) this.#warn()
      else this.#warnTimer = timers.setTimeout(() => this.#warn(), warnIn)
    }
    this.#expiryTimer = timers.setTimeout(() => this.#expire(), expMs - now)
  }

  #clearLifecycleTimers(): void {
    const t = this.#ctx.timers
    if (this.#warnTimer !== undefined) t.clearTimeout(this.#warnTimer)
    if (this.#expiryTimer !== undefined) t.clearTimeout(this.#expiryTimer)
    this.#warnTimer = this.#expiryTimer = undefined
  }

  #warn(): void {
    this.#warnTimer = undefined
    if (this.#state !== 'active' || this.#closing || this.#warned) return
    this.#warned = true
    this.#sendTracked((id) =>
      encodePacket({ method: 'client_update', id, client_update_type: 'token_about_to_expire' }),
    )
  }

  #expire(): void {
    this.#expiryTimer = undefined
    if (this.#state !== 'active' || this.#closing) return
    this.close(CLOSE.normal, 'token expired', { status: status(410, 'Connection expired', 51006) })
  }

  #authDeadline(): void {
    this.#authTimer = undefined
    if (this.#state === 'active' || this.#state === 'closed') return
    this.close(CLOSE.policyViolation, 'init deadline exceeded')
  }

  // ---- outgoing --------------------------------------------------------------------------------------------

  #reply(id: string, st: TwilsockStatus, payload?: unknown): void {
    const header: PacketHeader = {
      method: 'reply',
      id,
      payload_type: 'application/json',
      status: st,
    }
    this.#send(encodePacket(header, payload === undefined ? undefined : JSON.stringify(payload)))
  }

  #sendReply(header: PacketHeader): void {
    this.#send(encodePacket(header))
  }

  #nextPacketId(): string {
    return this.#packetId(++this.#packetSeq)
  }

  /** The id of this session's packet number `seq` ({@link packetSeq} reads it back). */
  #packetId(seq: number): string {
    return `${this.#idPrefix}${seq.toString(36)}`
  }

  /** Sends a packet the client must ack, with the next packet id; `encode` runs only when it is sent. */
  #sendTracked(encode: (id: string) => Buffer): void {
    const unacked = (this.#unacked ??= new AckWindow())
    if (unacked.size >= this.#ctx.maxUnacked) {
      this.#ctx.log('warn', 'twilsock client does not ack', { session: this.id })
      this.close(CLOSE.slowConsumer, 'too many unacknowledged packets')
      return
    }
    const seq = ++this.#packetSeq
    const packet = encode(this.#packetId(seq))
    if (unacked.size > 0 && unacked.bytes + packet.length > this.#ctx.maxUnackedBytes) {
      // Unacknowledged bytes are the client's queue wherever they wait (the kernel's socket buffers included).
      this.#ctx.log('warn', 'twilsock client is not keeping up', { session: this.id })
      this.close(CLOSE.slowConsumer, 'slow consumer')
      return
    }
    if (this.#send(packet)) unacked.add(seq, packet.length)
  }

  #send(buf: Buffer): boolean {
    if (this.#ws.readyState !== 1 || this.#closing) return false
    if (sendWithin(this.#out, this.#batcher, buf, this.#ctx.maxOutboundBytes)) return true
    this.#ctx.log('warn', 'twilsock slow consumer', { session: this.id })
    this.close(CLOSE.slowConsumer, 'slow consumer')
    return false
  }

  // ---- cleanup ---------------------------------------------------------------------------------------------

  #cleanup(code: number): void {
    if (this.#state === 'closed') return
    const wasActive = this.#state === 'active'
    this.#state = 'closed'
    this.#closing = false
    this.closeCode ??= code
    const t = this.#ctx.timers
    this.#clearLifecycleTimers()
    if (this.#authTimer !== undefined) t.clearTimeout(this.#authTimer)
    if (this.#graceTimer !== undefined) t.clearTimeout(this.#graceTimer)
    this.#authTimer = this.#graceTimer = undefined
    this.#unacked = undefined
    this.#pending = undefined
    this.#ctx.heartbeat.remove(this)
    if (wasActive) this.#ctx.registry.remove(this)
    if (this.#identityBucket !== undefined) {
      const p = this.principal
      this.#ctx.identityRate.release(identityKey(p.serviceSid, p.identity), t.now())
      this.#identityBucket = undefined
    }
    this.#ctx.onSessionClose(this, wasActive)
    const fns = this.#closeFns
    this.#closeFns = undefined
    if (fns) for (const fn of fns) this.#runSafely(fn)
  }

  #runSafely(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.#ctx.log('error', 'twilsock onClose callback failed', { session: this.id, err })
    }
  }
}

/** Decodes the `http_request` of a `message` packet, or returns why it is invalid. */
function toUpstreamRequest(pkt: Packet): UpstreamRequest | string {
  const r = pkt.header['http_request']
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'http_request missing'
  const req = r as Record<string, unknown>
  const { host, path, method } = req
  if (typeof host !== 'string' || host.length === 0 || host.length > 255)
    return 'http_request.host invalid'
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > 4096)
    return 'http_request.path invalid'
  if (typeof method !== 'string' || !/^[A-Za-z]{1,16}$/.test(method))
    return 'http_request.method invalid'
  const params = stringRecord(req['params'], true)
  if (params === undefined) return 'http_request.params invalid'
  const headers = stringRecord(req['headers'], false)
  if (headers === undefined) return 'http_request.headers invalid'
  const body = payloadText(pkt.payload)
  if (body === undefined) return 'payload is not UTF-8'
  return { host: host.toLowerCase(), path, method: method.toUpperCase(), params, headers, body }
}

/**
 * Converts the client's `params`/`headers` objects to string records. twilsock's `parseUri` keeps query values
 * percent-encoded, turns a repeated key into an array and a key without `=` into `undefined`; params are decoded
 * here and the first value of a repeated key wins (as `URLSearchParams.get` does). Header names are lower-cased.
 */
function stringRecord(v: unknown, isParams: boolean): Record<string, string> | undefined {
  const out: Record<string, string> = Object.create(null) as Record<string, string>
  if (v === undefined || v === null) return out
  if (typeof v !== 'object' || Array.isArray(v)) return undefined
  let n = 0
  for (const [k, raw] of Object.entries(v as Record<string, unknown>)) {
    if (++n > 100) return undefined
    let value = Array.isArray(raw) ? raw[0] : raw
    if (value === undefined || value === null) value = ''
    if (typeof value === 'number' || typeof value === 'boolean') value = String(value)
    if (typeof value !== 'string') return undefined
    if (isParams) {
      out[safeDecode(k)] ??= safeDecode(value)
    } else {
      out[k.toLowerCase()] = value
    }
  }
  return out
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}
