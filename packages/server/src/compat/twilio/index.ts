/**
 * The Twilio compatibility layer: what the Twilsock gateway hands tunnelled requests to.
 *
 * `aim.` → the chat client API (`aim/`), `cds.` → the Sync subset (`sync/`) over the projection of the event log
 * (`projection/`), `ers.` → push registrations as core Bindings (`ers/`). Live Sync events come from the bus
 * (`events` notices) and are re-read from the log when missed.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Core } from '../../core/api.ts'
import type { Bus } from '../../ports/bus.ts'
import { createAimHandler } from './aim/handler.ts'
import { createErsHandler } from './ers/handler.ts'
import { SessionRegistry } from './aim/sessions.ts'
import { actorOf, createChatProjection } from './projection/chat-projection.ts'
import { createSyncEngine, type SyncEngine } from './sync/engine.ts'
import {
  createTwilsockGateway,
  type TwilsockGateway,
  type TwilsockGatewayOptions,
} from './twilsock/gateway.ts'
import type { ReachabilityHooks, ReachabilityKey } from './twilsock/registry.ts'
import { coreTwilsockVerifier } from './twilsock/core-verifier.ts'
import { coreNotificationContexts } from './twilsock/notification-contexts.ts'
import type { UpstreamHandler } from './upstream.ts'

/** Options of {@link createTwilioCompat}. */
export interface TwilioCompatOptions {
  core: Core
  bus: Bus
  /** `links.media_service` announced to the SDKs (MCS is plain HTTP, outside Twilsock). */
  mediaServiceUrl?: string
  /** Unexpected failures; default `console.error`. */
  onError?: (err: unknown) => void
}

/** What the composition root wires into the Twilsock gateway. */
export interface TwilioCompat {
  /** Give this to the gateway: it serves every tunnelled `aim.` and `cds.` request. */
  upstream: UpstreamHandler
  /** Give this to the gateway's `reachability`: first endpoint online, last offline (core `users.setOnline`). */
  reachability: ReachabilityHooks
  sync: SyncEngine
  /** Sessions by user (typing). */
  sessions: SessionRegistry
  /** Stops listening to the bus. */
  close(): void
}

/**
 * Builds the compatibility layer.
 *
 * @example
 * ```ts
 * const compat = createTwilioCompat({ core, bus })
 * const gateway = createTwilsockGateway({ verify, upstream: compat.upstream, reachability: compat.reachability })
 * ```
 */
export function createTwilioCompat(options: TwilioCompatOptions): TwilioCompat {
  const { core, bus } = options
  const onError = options.onError ?? ((err: unknown) => console.error('parley twilio compat', err))
  const sessions = new SessionRegistry()
  const sync = createSyncEngine({
    log: core.events,
    projection: createChatProjection({ core }),
    onError,
  })
  const aim = createAimHandler({
    core,
    sessions,
    onError,
    ...(options.mediaServiceUrl !== undefined ? { mediaServiceUrl: options.mediaServiceUrl } : {}),
  })
  const ers = createErsHandler({ core, onError })
  const off = bus.subscribe((m) => {
    if (m.type === 'events') sync.publish(m.events)
  })
  const setOnline = (who: ReachabilityKey, online: boolean): void => {
    const actor = actorOf({ ...who, keySid: '', endpointId: '', expiresAt: 0 })
    core.users.setOnline(actor, online).catch((err: unknown) => onError(err))
  }
  const upstream: UpstreamHandler = async (req, session) => {
    const service = req.host.split('.')[0]?.toLowerCase()
    if (service === 'aim') return aim(req, session)
    if (service === 'cds') {
      sessions.track(session)
      return sync.handle(req, session)
    }
    if (service === 'ers') return ers(req, session)
    return {
      status: 404,
      headers: { 'Content-Type': 'application/json' },
      body: { status: 404, code: 20404, message: 'The requested resource was not found' },
    }
  }
  return {
    upstream,
    reachability: {
      onOnline: (who) => setOnline(who, true),
      onOffline: (who) => setOnline(who, false),
    },
    sync,
    sessions,
    close: off,
  }
}

/** The part of the server's plugin context the Twilio plugin uses (structurally `main.ts`'s `PluginContext`). */
export interface TwilioPluginContext {
  readonly core: Core
  readonly bus: Bus
  onUpgrade(
    path: string,
    handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
  ): () => void
  /** Adds a gauge or counter to the server's metrics (`GET /metrics`); returns a function that removes it. */
  metric?(name: string, type: 'gauge' | 'counter', help: string, read: () => number): () => void
}

/** Options of {@link twilioPlugin}: gateway options except what the plugin provides. */
export type TwilioPluginOptions = Omit<
  TwilsockGatewayOptions,
  'verify' | 'upstream' | 'reachability'
> & {
  mediaServiceUrl?: string
  onError?: (err: unknown) => void
}

/**
 * The Twilsock gateway plus the compat layer as a server plugin: unmodified `twilio-chat` / `@twilio/conversations`
 * clients connect with `{ twilsock: { uri: 'ws://host:port/v3/wsconnect' } }`.
 *
 * @example
 * ```ts
 * const server = await createParleyServer(config, { plugins: [twilioPlugin()] })
 * ```
 */
export function twilioPlugin(options: TwilioPluginOptions = {}): (ctx: TwilioPluginContext) => {
  close: () => Promise<void>
  gateway: TwilsockGateway
  compat: TwilioCompat
} {
  return (ctx) => {
    const { mediaServiceUrl, onError, ...gatewayOptions } = options
    const compat = createTwilioCompat({
      core: ctx.core,
      bus: ctx.bus,
      ...(mediaServiceUrl !== undefined ? { mediaServiceUrl } : {}),
      ...(onError !== undefined ? { onError } : {}),
    })
    const gateway = createTwilsockGateway({
      // Push registrations (put_notification_ctx) are Bindings, listed by the REST API.
      notificationContexts: coreNotificationContexts(ctx.core),
      ...gatewayOptions,
      verify: coreTwilsockVerifier(ctx.core),
      upstream: compat.upstream,
      reachability: compat.reachability,
      subscribeKeyRevocations: (listener) =>
        ctx.bus.subscribe((m) => {
          if (m.type === 'key_revoked') listener(m.keySid)
        }),
    })
    const path = gatewayOptions.path ?? '/v3/wsconnect'
    const off = ctx.onUpgrade(path, (req, socket, head) => {
      if (!gateway.handleUpgrade(req, socket, head)) socket.destroy()
    })
    const metrics =
      ctx.metric === undefined ? [] : registerMetrics(ctx.metric.bind(ctx), gateway, compat)
    return {
      gateway,
      compat,
      async close() {
        for (const unregister of metrics) unregister()
        off()
        compat.close()
        await gateway.close()
      },
    }
  }
}

/** The realtime side on `GET /metrics`. */
function registerMetrics(
  metric: NonNullable<TwilioPluginContext['metric']>,
  gateway: TwilsockGateway,
  compat: TwilioCompat,
): (() => void)[] {
  const out = [
    metric(
      'parley_twilsock_connections',
      'gauge',
      'Open Twilsock sockets, initialised or not.',
      () => gateway.connections,
    ),
    metric(
      'parley_twilsock_sessions',
      'gauge',
      'Initialised Twilsock sessions.',
      () => gateway.sessions.size,
    ),
    metric(
      'parley_twilsock_inflight_requests',
      'gauge',
      'Tunnelled requests being handled.',
      () => gateway.inflightRequests,
    ),
    metric('parley_sync_subscriptions', 'gauge', 'Live Sync subscriptions of all sessions.', () =>
      compat.sync.subscriptionCount(),
    ),
  ]
  const sp = gateway.socketProcess
  if (sp !== undefined) {
    out.push(
      metric(
        'parley_socket_process_starts_total',
        'counter',
        'Socket processes started (more than one: it died and was replaced).',
        () => sp.starts,
      ),
      metric(
        'parley_socket_process_connections',
        'gauge',
        'Connections held by the socket process.',
        () => sp.connections,
      ),
    )
  }
  return out
}
