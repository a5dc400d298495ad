/**
 * The Twilsock gateway: accepts WebSocket upgrades on `/v3/wsconnect` (same port as the REST API) and runs one
 * {@link Session} per socket. Unmodified `twilio-chat` / `@twilio/conversations` clients connect to it with
 * `{ twilsock: { uri: 'ws://host:port/v3/wsconnect' } }`.
 *
 * @example
 * ```ts
 * const gateway = createTwilsockGateway({ verify, upstream: { aim: aimHandler, cds: syncHandler } })
 * server.on('upgrade', (req, socket, head) => {
 *   if (!gateway.handleUpgrade(req, socket, head)) socket.destroy()
 * })
 * // on shutdown
 * await gateway.close()
 * ```
 *
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import { Heartbeat } from '../../../realtime/heartbeat.ts'
import { KeyedBuckets } from '../../../realtime/rate-limiter.ts'
import { systemTimers, type TimerHandle, type Timers } from '../../../realtime/timers.ts'
import type { MessageSocket, RawSocket } from '../../../realtime/outbound.ts'
import { SocketPump } from '../../../realtime/pump/parent.ts'
import {
  originAllowed,
  refuseUpgrade,
  requestPath,
  webSocketServerOptions,
} from '../../../realtime/upgrade.ts'
import type { TwilsockSession, UpstreamHandler } from '../upstream.ts'
import type { GatewayContext, GatewayLog } from './context.ts'
import { ContinuationTokens } from './continuation.ts'
import {
  MemoryNotificationContexts,
  type NotificationContextStore,
} from './notification-contexts.ts'
import { SessionRegistry, type ReachabilityHooks, type TwilsockSessions } from './registry.ts'
import { CLOSE, Session } from './session.ts'
import type { TwilsockVerifier } from './verify.ts'

/** Upstream handlers by host prefix (`aim.…`, `cds.…`, `ers.…`). */
export interface UpstreamRoutes {
  readonly aim?: UpstreamHandler
  readonly cds?: UpstreamHandler
  readonly ers?: UpstreamHandler
}

/** Transport limits; every one has a default (reliability.md §2.2–2.4). */
export interface TwilsockLimits {
  /**
   * Largest incoming WebSocket message; a larger one closes the socket with 1009. Default
   * {@link DEFAULT_MAX_PAYLOAD_BYTES} (256 KiB): room for the largest valid request.
   */
  readonly maxPayloadBytes: number
  /** Unsent bytes allowed per socket before it is closed as a slow consumer (4008). Default 1 MiB. */
  readonly maxOutboundBytes: number
  /** Time from open to a successful `init`; then the socket is closed (1008). Default 10 s. */
  readonly authDeadlineMs: number
  /** Ping interval. Default 25 s. */
  readonly heartbeatIntervalMs: number
  /** Missed pongs before a socket is considered dead and terminated. Default 2. */
  readonly heartbeatMaxMissed: number
  /** Packets a connection may send in a burst. Default 100. */
  readonly rateBurst: number
  /** Sustained packets per second per connection. Default 50. */
  readonly ratePerSecond: number
  /**
   * Packets all the sessions of one identity (in one service) may send in a burst, together: opening more sockets
   * does not multiply {@link rateBurst}. Default 300 (three sockets at full speed).
   */
  readonly identityRateBurst: number
  /** Sustained packets per second of one identity's sessions together. Default 150. */
  readonly identityRatePerSecond: number
  /** Refused packets within {@link floodWindowMs} after which the socket is closed (1008). Default 100. */
  readonly floodCloseAfter: number
  /** Window for {@link floodCloseAfter}. Default 10 s. */
  readonly floodWindowMs: number
  /** Concurrent upstream requests per connection; more get a 429 reply. Default 64. */
  readonly maxInflight: number
  /** Time an upstream handler gets before the client is answered `http_status` 504. Default 25 s. */
  readonly upstreamTimeoutMs: number
  /** Server packets awaiting an ack; more closes the socket as a slow consumer. Default 5,000. */
  readonly maxUnacked: number
  /**
   * Bytes of server packets awaiting an ack; a packet that would pass it closes the socket as a slow consumer (4008).
   * Twilio clients ack every notification as they process it, so this is the client's queue wherever the bytes wait
   * (in this process, in the kernel's socket buffers, which hold megabytes on a fast link, or in a proxy): a client
   * that stopped reading is found once this much is outstanding (reliability.md R08). Default 1 MiB.
   */
  readonly maxUnackedBytes: number
  /** Initialised sessions per identity (per service); more get an `init` reply 429. Default 100. */
  readonly maxSessionsPerIdentity: number
  /** Open sockets per gateway; more are refused with HTTP 503. Default 100,000. */
  readonly maxConnections: number
  /**
   * Open sockets of one client address that have not completed `init`; more upgrades from it are refused with HTTP
   * 429 (R19: one address cannot fill the server with idle sockets, each of which lives up to `authDeadlineMs`).
   * Initialised sessions do not count (they are bounded per identity), so a reverse proxy in front, whose address
   * every client shares, only meets it in a reconnect storm of that many handshakes at once. Default 1,000.
   */
  readonly maxUnauthenticatedPerAddress: number
  /** Time a closing peer gets to finish the closing handshake before the socket is cut. Default 2 s. */
  readonly closeGraceMs: number
  /**
   * On {@link TwilsockGateway.close}, the longest wait for the requests already running to finish and answer before
   * the sessions are closed (new ones are refused with 503 meanwhile; whatever is still running then is answered
   * 503). Default 5 s.
   */
  readonly drainMs: number
}

/**
 * Default {@link TwilsockLimits.maxPayloadBytes}: 256 KiB, the largest valid request with room to spare. A message body
 * may hold 32 KiB of UTF-8, and in the request's JSON each control character takes six bytes (`\u0001`), a quote or a
 * newline two: a valid message's frame is up to ≈ 196 KiB for its body, plus its attributes (4 KiB of JSON text,
 * escaped once more: up to 8 KiB), the Twilsock header and the rest of the request. reliability.md §2.2 suggests
 * about 64 KiB; with that, a valid message made of such characters closed its sender's socket (1009).
 */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024

/** Default {@link TwilsockLimits}. */
export const DEFAULT_TWILSOCK_LIMITS: TwilsockLimits = Object.freeze({
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  maxOutboundBytes: 1024 * 1024,
  authDeadlineMs: 10_000,
  heartbeatIntervalMs: 25_000,
  heartbeatMaxMissed: 2,
  rateBurst: 100,
  ratePerSecond: 50,
  identityRateBurst: 300,
  identityRatePerSecond: 150,
  floodCloseAfter: 100,
  floodWindowMs: 10_000,
  maxInflight: 64,
  upstreamTimeoutMs: 25_000,
  maxUnacked: 5_000,
  maxUnackedBytes: 1024 * 1024,
  maxSessionsPerIdentity: 100,
  maxConnections: 100_000,
  maxUnauthenticatedPerAddress: 1_000,
  closeGraceMs: 2_000,
  drainMs: 5_000,
})

/** Options of {@link createTwilsockGateway}. */
export interface TwilsockGatewayOptions {
  /** Verifies `init`/`update` tokens (signature, claims, key state, service ownership). */
  readonly verify: TwilsockVerifier
  /** One handler for every tunnelled request, or one per host prefix. */
  readonly upstream: UpstreamHandler | UpstreamRoutes
  /** Upgrade path. Default `/v3/wsconnect`. */
  readonly path?: string
  /** Allowed `Origin` values; unset allows all. Requests without `Origin` are always allowed. */
  readonly allowedOrigins?: readonly string[]
  readonly limits?: Partial<TwilsockLimits>
  /** Time before `exp` at which `client_update` `token_about_to_expire` is sent. Default 180 s (Twilio's 3 min). */
  readonly tokenWarningLeadMs?: number
  /** Clock and timers. Default: real time. */
  readonly timers?: Timers
  /** Called when an identity's first endpoint connects and its last one disconnects. */
  readonly reachability?: ReachabilityHooks
  /** Where `put_notification_ctx` contexts go. Default: in memory. */
  readonly notificationContexts?: NotificationContextStore
  /** Secret for continuation tokens (≥ 32 bytes); pass a stable one to keep derived endpoints across restarts. */
  readonly continuationSecret?: Buffer
  /**
   * Failed-auth limiting per client address (reliability.md §2.3, R15): each rejected `init` (401/403) takes a token;
   * an address with an empty bucket gets HTTP 429 on upgrade until it refills. Off by default, because behind a
   * reverse proxy every client shares the proxy's address.
   */
  readonly failedAuthPerAddress?: { readonly burst: number; readonly perSecond: number }
  /** Subscribes to API key revocations; returns an unsubscribe function. */
  readonly subscribeKeyRevocations?: (listener: (keySid: string) => void) => () => void
  /** Polled for the keys of live sessions when no revocation signal is available. */
  readonly isKeyActive?: (keySid: string) => boolean | Promise<boolean>
  /** Poll interval for {@link isKeyActive}. Default 2 s. */
  readonly keyPollIntervalMs?: number
  readonly log?: GatewayLog
  /**
   * Run WebSocket framing and socket I/O in a child process (`realtime/pump/parent.ts`): the event loop then spends
   * nothing on per-socket reads, writes and frames. Default false.
   */
  readonly socketProcess?: boolean
  /** Called after a session is initialised. */
  readonly onSessionOpen?: (session: TwilsockSession) => void
  /** Called when a socket closes (initialised or not) with the close code. */
  readonly onSessionClose?: (
    session: TwilsockSession | undefined,
    info: { code: number | undefined },
  ) => void
}

/** A running Twilsock gateway. */
export interface TwilsockGateway {
  /**
   * Handles an HTTP `upgrade` for the gateway's path.
   *
   * @returns `false` when the path is not the gateway's (the socket is untouched); `true` otherwise, including
   *   when the upgrade was refused (403 origin, 503 closing or full).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean
  /** Live, initialised sessions. */
  readonly sessions: TwilsockSessions
  /** Open sockets, initialised or not. */
  readonly connections: number
  /** Tunnelled requests being handled right now (all sessions). */
  readonly inflightRequests: number
  /** The socket process's counters, when {@link TwilsockGatewayOptions.socketProcess} is on. */
  readonly socketProcess:
    { readonly starts: number; readonly connections: number; readonly opening: number } | undefined
  /** Closes every session authenticated with `keySid` (a Twilsock `close` 410, then 1008) and refuses the key. */
  revokeKey(keySid: string): number
  /**
   * Stops accepting upgrades and closes every socket: initialised Twilio clients get a Twilsock `close` 308 with a
   * jittered `backoff_policy.reconnect_min_ms` (they reconnect later), then a WebSocket close `code`.
   * Resolves when all sockets are closed (stragglers are cut after the close grace).
   */
  close(code?: number): Promise<void>
}

const REVOKED_MEMORY = 10_000

/**
 * Creates a Twilsock gateway. Attach it to a `node:http` server's `upgrade` event.
 *
 * @throws {RangeError} when a limit is not a positive number.
 */
export function createTwilsockGateway(opts: TwilsockGatewayOptions): TwilsockGateway {
  const limits: TwilsockLimits = { ...DEFAULT_TWILSOCK_LIMITS, ...opts.limits }
  for (const [k, v] of Object.entries(limits)) {
    if (typeof v !== 'number' || !(v > 0))
      throw new RangeError(`Twilsock limit ${k} must be a positive number`)
  }
  const timers = opts.timers ?? systemTimers
  const path = opts.path ?? '/v3/wsconnect'
  const log: GatewayLog = opts.log ?? (() => {})
  const routes = typeof opts.upstream === 'function' ? undefined : opts.upstream
  const single = typeof opts.upstream === 'function' ? opts.upstream : undefined
  const route = (host: string): UpstreamHandler | undefined => {
    const prefix = host.slice(0, host.indexOf('.'))
    if (prefix !== 'aim' && prefix !== 'cds' && prefix !== 'ers') return undefined
    return single ?? routes?.[prefix]
  }
  let closing = false
  let resolveDrained: (() => void) | undefined
  const revoked = new Set<string>()
  const connections = new Set<Session>()
  const stats = { inflightRequests: 0 }
  // Failed-auth buckets by address.
  const fa = opts.failedAuthPerAddress
  const failedAuth = fa
    ? new KeyedBuckets({ capacity: fa.burst, refillPerSecond: fa.perSecond })
    : undefined
  function onAuthFailure(address: string): void {
    if (failedAuth === undefined || address === '') return
    const now = timers.now()
    failedAuth.get(address, now).take(now)
  }
  function authBlocked(address: string): number {
    if (failedAuth === undefined || address === '') return 0
    return failedAuth.peek(address)?.retryAfterMs(timers.now()) ?? 0
  }
  /** Open sockets by client address that have not completed `init` yet. */
  const unauthenticated = new Map<string, number>()
  function authenticatedOrGone(address: string): void {
    const n = (unauthenticated.get(address) ?? 0) - 1
    if (n > 0) unauthenticated.set(address, n)
    else unauthenticated.delete(address)
  }
  const registry = new SessionRegistry(opts.reachability, (err) =>
    log('error', 'reachability hook failed', { err }),
  )
  const heartbeat = new Heartbeat({
    intervalMs: limits.heartbeatIntervalMs,
    maxMissed: limits.heartbeatMaxMissed,
    timers,
  })
  const ctx: GatewayContext = {
    timers,
    verify: opts.verify,
    route,
    registry,
    heartbeat,
    continuation: new ContinuationTokens(opts.continuationSecret),
    notificationContexts: opts.notificationContexts ?? new MemoryNotificationContexts(),
    isRevoked: (keySid) => revoked.has(keySid),
    log,
    authDeadlineMs: limits.authDeadlineMs,
    warnLeadMs: opts.tokenWarningLeadMs ?? 180_000,
    closeGraceMs: limits.closeGraceMs,
    maxOutboundBytes: limits.maxOutboundBytes,
    maxInflight: limits.maxInflight,
    maxUnacked: limits.maxUnacked,
    maxUnackedBytes: limits.maxUnackedBytes,
    maxSessionsPerIdentity: limits.maxSessionsPerIdentity,
    upstreamTimeoutMs: limits.upstreamTimeoutMs,
    rate: { capacity: limits.rateBurst, refillPerSecond: limits.ratePerSecond },
    identityRate: new KeyedBuckets({
      capacity: limits.identityRateBurst,
      refillPerSecond: limits.identityRatePerSecond,
    }),
    flood: { windowMs: limits.floodWindowMs, closeAfter: limits.floodCloseAfter },
    stats,
    onAuthFailure,
    onSessionOpen: (s) => {
      authenticatedOrGone(s.remoteAddress)
      try {
        opts.onSessionOpen?.(s)
      } catch (err) {
        log('error', 'twilsock onSessionOpen hook failed', { err })
      }
    },
    onSessionClose: (s, wasActive) => {
      connections.delete(s)
      if (!wasActive) authenticatedOrGone(s.remoteAddress)
      try {
        opts.onSessionClose?.(wasActive ? s : undefined, { code: s.closeCode })
      } catch (err) {
        log('error', 'twilsock onSessionClose hook failed', { err })
      }
      if (closing && connections.size === 0) resolveDrained?.()
    },
  }
  const wss = new WebSocketServer(webSocketServerOptions(limits.maxPayloadBytes))
  const pump =
    opts.socketProcess === true
      ? new SocketPump({
          maxPayloadBytes: limits.maxPayloadBytes,
          maxOutboundBytes: limits.maxOutboundBytes,
          closeGraceMs: limits.closeGraceMs,
          log,
        })
      : undefined

  function revokeKey(keySid: string): number {
    if (!revoked.has(keySid)) {
      revoked.add(keySid)
      if (revoked.size > REVOKED_MEMORY) revoked.delete(revoked.values().next().value!)
    }
    const victims = registry.forKey(keySid)
    for (const s of victims) {
      ;(s as Session).close(CLOSE.policyViolation, 'key revoked', {
        status: {
          code: 410,
          status: 'Gone',
          errorCode: 51115,
          description: 'Access token key revoked',
        },
      })
    }
    if (victims.length > 0)
      log('info', 'twilsock sessions closed for a revoked key', { keySid, count: victims.length })
    return victims.length
  }

  const unsubscribe = opts.subscribeKeyRevocations?.((keySid) => revokeKey(keySid))

  // Fallback revocation check: poll the keys in use.
  let pollTimer: TimerHandle | undefined
  let polling = false
  const pollMs = opts.keyPollIntervalMs ?? 2_000
  const isKeyActive = opts.isKeyActive
  function armPoll(): void {
    if (isKeyActive && !closing) pollTimer = timers.setTimeout(() => void poll(), pollMs)
  }
  async function poll(): Promise<void> {
    pollTimer = undefined
    if (polling || !isKeyActive) return
    polling = true
    try {
      for (const keySid of [...registry.keys()]) {
        let active = true
        try {
          active = await isKeyActive(keySid)
        } catch (err) {
          log('warn', 'twilsock key check failed', { keySid, err })
        }
        if (!active) revokeKey(keySid)
      }
    } finally {
      polling = false
      armPoll()
    }
  }
  armPoll()

  return {
    sessions: registry,
    get connections() {
      return connections.size
    },
    get inflightRequests() {
      return stats.inflightRequests
    },
    socketProcess: pump,
    revokeKey,
    handleUpgrade(req, socket, head) {
      if (requestPath(req) !== path) return false
      if (closing) {
        refuseUpgrade(socket, 503, 'Server shutting down')
        return true
      }
      if (!originAllowed(req, opts.allowedOrigins)) {
        refuseUpgrade(socket, 403, 'Origin not allowed')
        return true
      }
      // With the socket process, connections still being handed over count too (they become sessions later).
      if (connections.size + (pump?.opening ?? 0) >= limits.maxConnections) {
        refuseUpgrade(socket, 503, 'Too many connections')
        return true
      }
      const address = req.socket.remoteAddress ?? ''
      if (authBlocked(address) > 0) {
        refuseUpgrade(socket, 429, 'Too many failed authentications')
        return true
      }
      if ((unauthenticated.get(address) ?? 0) >= limits.maxUnauthenticatedPerAddress) {
        refuseUpgrade(socket, 429, 'Too many unauthenticated connections from this address')
        return true
      }
      socket.on('error', () => {
        // Errors before/while upgrading (e.g. ECONNRESET) must not crash the process; ws handles the rest.
      })
      // Counted from now on: the handshake may complete later (the socket process). The session takes the count over
      // when it opens (its init or its close releases it); a handshake that never completes releases it here.
      unauthenticated.set(address, (unauthenticated.get(address) ?? 0) + 1)
      let handedOver = false
      const failed = (): void => {
        if (handedOver) return
        handedOver = true
        authenticatedOrGone(address)
      }
      const open = (ws: MessageSocket, raw?: RawSocket): void => {
        if (handedOver) return
        if (closing) {
          failed()
          ws.close(CLOSE.goingAway, 'server shutting down')
          return
        }
        handedOver = true
        connections.add(new Session(ws, ctx, address, raw))
      }
      // The raw socket lets the session write whole frames and coalesce one turn's writes into one writev (ws writes
      // its own frames to it too); the socket process does both itself.
      if (pump !== undefined) pump.adopt(req, socket, head, (ws) => open(ws), failed)
      else {
        socket.once('close', failed)
        wss.handleUpgrade(req, socket, head, (ws) => open(ws, socket))
      }
      return true
    },
    async close(code = CLOSE.goingAway) {
      if (closing) return
      closing = true
      unsubscribe?.()
      if (pollTimer !== undefined) timers.clearTimeout(pollTimer)
      // Requests already running finish and answer first: a send that commits must get its real answer, not 503.
      for (const s of connections) s.quiesce()
      const drainUntil = timers.now() + limits.drainMs
      while (stats.inflightRequests > 0 && timers.now() < drainUntil) {
        await new Promise<void>((resolve) => timers.setTimeout(resolve, 5))
      }
      const drained = new Promise<void>((resolve) => {
        resolveDrained = resolve
        if (connections.size === 0) resolve()
      })
      for (const s of [...connections]) {
        if (s.state === 'active') {
          // Jittered reconnect advice avoids a thundering herd when the server comes back (reliability.md §2.9).
          const reconnectMinMs = 1000 + Math.floor(Math.random() * 4000)
          s.close(code, 'server shutting down', {
            status: {
              code: 308,
              status: 'Permanent Redirect',
              description: 'Server shutting down',
            },
            payload: { backoff_policy: { reconnect_min_ms: reconnectMinMs } },
          })
        } else {
          s.close(code, 'server shutting down')
        }
      }
      let cut: TimerHandle | undefined
      await Promise.race([
        drained,
        new Promise<void>((resolve) => {
          cut = timers.setTimeout(() => {
            for (const s of connections) s.terminate()
            resolve()
          }, limits.closeGraceMs + 500)
        }),
      ])
      if (cut !== undefined) timers.clearTimeout(cut)
      heartbeat.stop()
      wss.close()
      await pump?.close()
    },
  }
}
