/**
 * The Twilio compatibility layer: what the Twilsock gateway hands tunnelled requests to.
 *
 * `aim.` → the chat client API (`aim/`), `cds.` → the Sync subset (`sync/`) over the projection of the event log
 * (`projection/`). Live Sync events come from the bus (`events` notices) and are re-read from the log when missed.
 *
 * @module
 */
import type { Core } from '../../core/api.ts'
import type { Bus } from '../../ports/bus.ts'
import { createAimHandler } from './aim/handler.ts'
import { SessionRegistry } from './aim/sessions.ts'
import { actorOf, createChatProjection } from './projection/chat-projection.ts'
import { createSyncEngine, type SyncEngine } from './sync/engine.ts'
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
  sync: SyncEngine
  /** Sessions by user (typing, reachability). */
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
 * const gateway = createTwilsockGateway({ ..., upstream: compat.upstream })
 * ```
 */
export function createTwilioCompat(options: TwilioCompatOptions): TwilioCompat {
  const { core, bus } = options
  const onError = options.onError ?? ((err: unknown) => console.error('parley twilio compat', err))
  const sessions = new SessionRegistry({
    onFirst: (p) => void core.users.setOnline(actorOf(p), true).catch(() => undefined),
    onLast: (p) => void core.users.setOnline(actorOf(p), false).catch(() => undefined),
  })
  const sync = createSyncEngine({ log: core.events, projection: createChatProjection({ core }), onError })
  const aim = createAimHandler({
    core,
    sessions,
    onError,
    ...(options.mediaServiceUrl !== undefined ? { mediaServiceUrl: options.mediaServiceUrl } : {}),
  })
  const off = bus.subscribe((m) => {
    if (m.type === 'events') sync.publish(m.events)
  })
  const upstream: UpstreamHandler = async (req, session) => {
    const service = req.host.split('.')[0]?.toLowerCase()
    if (service === 'aim') return aim(req, session)
    if (service === 'cds') {
      sessions.track(session)
      return sync.handle(req, session)
    }
    return {
      status: 404,
      headers: { 'Content-Type': 'application/json' },
      body: { status: 404, code: 20404, message: 'The requested resource was not found' },
    }
  }
  return { upstream, sync, sessions, close: off }
}
