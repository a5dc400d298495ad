/**
 * The Sync (CDS) subset the Twilio chat SDKs use: descriptors, item reads, and subscriptions that replay every
 * event after the client's `last_event_id`, then confirm with `subscription_established`, then stream live events.
 *
 * No gap, no duplicate: replay and live delivery are one loop per subscription (`pump`) that always sends the log
 * events after the last id it sent, in order. A live notice only wakes the loop; one arriving while the loop runs
 * makes it go round once more. Ids ≤ the last sent are never sent again.
 *
 * @module
 */
import type { ChatEvent } from '../../../core/types.ts'
import {
  EncodedNotification,
  type TwilsockSession,
  type UpstreamRequest,
  type UpstreamResponse,
} from '../upstream.ts'
import { queryItems } from './paging.ts'
import { ObjectStates, type ObjectState } from './state.ts'
import {
  SyncHttpError,
  type SyncEventLog,
  type SyncMutation,
  type SyncObjectRef,
  type SyncObjectType,
  type SyncProjection,
} from './types.ts'
import { descriptorJson, eventPayload, itemJson } from './wire.ts'

/** Options of {@link createSyncEngine}. */
export interface SyncEngineOptions {
  log: SyncEventLog
  projection: SyncProjection
  /** Objects whose folded state stays in memory. Default 2000. */
  maxCachedObjects?: number
  /** Items (plus recent events) kept in memory across all cached objects. Default 200,000. */
  maxCachedItems?: number
  /** Sent as `estimated_delivery_in_ms`; the SDK re-subscribes when nothing arrives in time. Default 5000. */
  estimatedDeliveryMs?: number
  /**
   * Most events replayed for one `establish`. Past it the replay stops with `replay_status: 'interrupted'` and the
   * SDK re-subscribes from the last id it got (≈100 ms later), so a long absence is caught up in slices instead of
   * overflowing the socket's outbound limit. Default 1000.
   */
  maxReplayEvents?: number
  /**
   * A replay pauses (ends with `replay_status: 'interrupted'`, the SDK re-subscribes ≈ 100 ms later from the last
   * event it applied) once the session's unacknowledged bytes pass this, so a client coming back to many busy objects
   * at once is paced by its own acks instead of being closed as a slow consumer. At least one event goes out per
   * establish. Default 512 KiB (half the transport's default slow-consumer limit, leaving room for live traffic).
   */
  replayBacklogBytes?: number
  /** Subscriptions one session may hold; more fail with 429. Default 1000. */
  maxSubscriptionsPerSession?: number
  /** Unexpected failures (logged, never sent). Default `console.error`. */
  onError?: (err: unknown) => void
}

/** The Sync engine. */
export interface SyncEngine {
  /** Handles one tunnelled `cds.` request. Never rejects. */
  handle(req: UpstreamRequest, session: TwilsockSession): Promise<UpstreamResponse>
  /** Feeds committed events (bus `events` notices) for live fan-out. MUST NOT block. */
  publish(events: readonly ChatEvent[]): void
  /** Active subscriptions (for tests and metrics). */
  subscriptionCount(): number
}

const TYPES: Record<string, SyncObjectType> = { Documents: 'document', Maps: 'map', Lists: 'list' }
const SYNC_EVENT = 'twilio.sync.event'
/**
 * Log events whose notifications stay encoded (the most recent ones): live fan-out encodes each event once for all
 * subscribers of its stream; replays of older events encode again.
 */
const MAX_ENCODED_EVENTS = 1024

/** The notifications of one log event, for one object and base URL, encoded once. */
interface EncodedEvent {
  readonly base: string
  readonly sid: string
  readonly uniqueName: string
  readonly type: SyncObjectType
  readonly mutations: readonly EncodedMutation[]
}

interface EncodedMutation {
  readonly op: SyncMutation['op']
  readonly notification: EncodedNotification
}

interface Subscription {
  readonly session: TwilsockSession
  readonly ref: SyncObjectRef
  readonly base: string
  lastSent: number
  /** Correlation id of the establish that created this subscription. */
  readonly correlationId: unknown
  /** Correlation id of an establish still to confirm. */
  pending: number | string | null
  busy: boolean
  again: boolean
  closed: boolean
}

/** Decodes a percent-encoded path segment or query value; returns it unchanged when it is not valid encoding. */
export function decodeComponent(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/**
 * A subscription control message about one object. Event protocol v4 (twilio-sync 3.x/4.x, the npm `lib` builds)
 * reads `events[]`; v3 (the sync bundled in `twilio-chat/builds/twilio-chat.min.js`, the browser build) reads `event`.
 * Sending both, one object per message, serves both.
 */
function control(
  eventType: string,
  correlationId: unknown,
  event: Record<string, unknown>,
): Record<string, unknown> {
  return { event_type: eventType, correlation_id: correlationId, event, events: [event] }
}

function json(status: number, body: unknown): UpstreamResponse {
  return { status, headers: { 'Content-Type': 'application/json' }, body }
}

function errorResponse(err: SyncHttpError): UpstreamResponse {
  return json(err.status, { status: err.status, message: err.message, code: err.code })
}

/**
 * Builds the engine.
 *
 * @example
 * ```ts
 * const sync = createSyncEngine({ log: core.events, projection })
 * bus.subscribe((m) => { if (m.type === 'events') sync.publish(m.events) })
 * ```
 */
export function createSyncEngine(options: SyncEngineOptions): SyncEngine {
  const { log, projection } = options
  const onError = options.onError ?? ((err: unknown) => console.error('parley sync engine', err))
  const estimatedDeliveryMs = options.estimatedDeliveryMs ?? 5000
  const maxReplayEvents = options.maxReplayEvents ?? 1000
  const replayBacklogBytes = options.replayBacklogBytes ?? 512 * 1024
  const maxSubscriptions = options.maxSubscriptionsPerSession ?? 1000
  const states = new ObjectStates(
    log,
    projection,
    options.maxCachedObjects ?? 2000,
    options.maxCachedItems ?? 200_000,
  )
  /** session id → object sid → subscription */
  const bySession = new Map<string, Map<string, Subscription>>()
  /** stream → subscriptions */
  const byStream = new Map<string, Set<Subscription>>()
  /** Insertion-ordered, at most {@link MAX_ENCODED_EVENTS}: the oldest entry goes first. */
  const encodedEvents = new Map<ChatEvent, EncodedEvent>()

  /** The `twilio.sync.event` payloads of `ev` as `sub` gets them (the same bytes for every subscriber). */
  function encoded(sub: Subscription, ev: ChatEvent): readonly EncodedMutation[] {
    const { ref, base } = sub
    const hit = encodedEvents.get(ev)
    if (
      hit !== undefined &&
      hit.base === base &&
      hit.sid === ref.sid &&
      hit.uniqueName === ref.uniqueName &&
      hit.type === ref.type
    ) {
      return hit.mutations
    }
    // `project` is pure (SyncProjection contract), so one result serves every subscriber of the object.
    const mutations = projection.project(ref, ev).map((m): EncodedMutation => ({
      op: m.op,
      notification: new EncodedNotification(SYNC_EVENT, eventPayload(base, ref, ev, m)),
    }))
    if (hit !== undefined) encodedEvents.delete(ev)
    encodedEvents.set(ev, {
      base,
      sid: ref.sid,
      uniqueName: ref.uniqueName,
      type: ref.type,
      mutations,
    })
    if (encodedEvents.size > MAX_ENCODED_EVENTS) {
      encodedEvents.delete(encodedEvents.keys().next().value!)
    }
    return mutations
  }

  /** The index in `events` of the last one that updates the document `sub` replays, or -1. */
  function newestDocumentUpdate(sub: Subscription, events: readonly ChatEvent[]): number {
    for (let i = events.length - 1; i >= 0; i--) {
      const ev = events[i]!
      if (ev.streamSeq <= sub.lastSent) break
      if (projection.project(sub.ref, ev).some((m) => m.op === 'document_updated')) return i
    }
    return -1
  }

  function drop(sub: Subscription): void {
    sub.closed = true
    bySession.get(sub.session.id)?.delete(sub.ref.sid)
    const set = byStream.get(sub.ref.stream)
    if (set !== undefined) {
      set.delete(sub)
      if (set.size === 0) byStream.delete(sub.ref.stream)
    }
  }

  function sessionSubs(session: TwilsockSession): Map<string, Subscription> {
    let m = bySession.get(session.id)
    if (m === undefined) {
      m = new Map()
      bySession.set(session.id, m)
      session.onClose(() => {
        const subs = bySession.get(session.id)
        bySession.delete(session.id)
        for (const s of subs?.values() ?? []) drop(s)
      })
    }
    return m
  }

  /** Events after `after`: from the state's tail without IO (the live case), else read from the log. */
  function eventsAfter(st: ObjectState, after: number): ChatEvent[] | Promise<ChatEvent[]> {
    return st.tailAfter(after) ?? readAfter(st, after)
  }

  async function readAfter(st: ObjectState, after: number): Promise<ChatEvent[]> {
    const out: ChatEvent[] = []
    let cursor = after
    while (cursor < st.lastSeq) {
      const page = await log.readStream(st.ref.stream, cursor, 500)
      if (page.length === 0) break
      for (const ev of page) if (ev.streamSeq <= st.lastSeq) out.push(ev)
      cursor = page[page.length - 1]?.streamSeq ?? st.lastSeq
    }
    return out
  }

  /** Sends `events` (in order) that come after `sub.lastSent`, until the subscription or its session closes. */
  function sendEvents(sub: Subscription, events: readonly ChatEvent[]): void {
    for (const ev of events) {
      if (sub.closed || sub.session.closed) return
      if (ev.streamSeq <= sub.lastSent) continue
      for (const m of encoded(sub, ev)) sub.session.notifyEncoded(m.notification)
      sub.lastSent = ev.streamSeq
    }
  }

  /**
   * The live case of {@link pump} without its promise and microtasks (ten per message in a channel of ten): a
   * confirmed subscription with no pump running, whose object state is cached, whose new events are all in that
   * state's tail and whose access is decided (cached decision). Does what one round of `pump` would; otherwise
   * starts `pump`, handing it the access decision if one is being looked up.
   */
  function deliverLive(sub: Subscription): void {
    const st = sub.busy || sub.pending !== null ? undefined : states.peek(sub.ref)
    if (st !== undefined && (sub.closed || sub.session.closed || st.lastSeq <= sub.lastSent)) return
    const events = st?.tailAfter(sub.lastSent)
    if (events === undefined) {
      void pump(sub, false)
      return
    }
    const allowed = projection.authorize(sub.ref, sub.session.principal)
    if (allowed === true) sendEvents(sub, events)
    else void pump(sub, false, allowed)
  }

  /** Sends every event after `lastSent` (replay and live alike), then confirms a pending establish. */
  async function pump(
    sub: Subscription,
    refresh: boolean,
    /** The first round's access decision, when the caller already asked for it. */
    decided?: boolean | Promise<boolean>,
  ): Promise<void> {
    if (sub.busy) {
      sub.again = true
      if (decided !== undefined && typeof decided !== 'boolean') decided.catch(() => {})
      return
    }
    sub.busy = true
    try {
      let mustRefresh = refresh
      do {
        sub.again = false
        const st = mustRefresh
          ? await states.fresh(sub.ref)
          : (states.peek(sub.ref) ?? (await states.fresh(sub.ref)))
        mustRefresh = false
        if (sub.closed || sub.session.closed) return
        if (st.lastSeq <= sub.lastSent && sub.pending === null) continue
        const allowed = decided ?? projection.authorize(sub.ref, sub.session.principal)
        decided = undefined
        if (!(typeof allowed === 'boolean' ? allowed : await allowed)) {
          // Access is gone, often because the object itself was removed: the removal (which carries no data) is
          // still delivered so the SDK learns of it (e.g. twilio-chat's channelRemoved), then the stream stops.
          for (const ev of await eventsAfter(st, sub.lastSent)) {
            for (const m of encoded(sub, ev)) {
              if (m.op === 'object_removed') sub.session.notifyEncoded(m.notification)
            }
          }
          if (sub.pending !== null) failed(sub, new SyncHttpError(403, 20403, 'Forbidden'))
          drop(sub)
          return
        }
        const found = eventsAfter(st, sub.lastSent)
        const events = Array.isArray(found) ? found : await found
        if (sub.pending === null) {
          sendEvents(sub, events)
          continue
        }
        let replayed = 0
        // A document's update carries the whole document: a replay sends only the newest one (twilio-chat's channel
        // document changes with every message, so a client back from an absence would otherwise get every message
        // twice). Its id jumps past the others, as after any compaction; a removal is still sent.
        const newestUpdate = sub.ref.type === 'document' ? newestDocumentUpdate(sub, events) : -1
        for (const [i, ev] of events.entries()) {
          if (sub.closed || sub.session.closed) return
          if (ev.streamSeq <= sub.lastSent) continue
          if (i < newestUpdate && onlyDocumentUpdates(projection.project(sub.ref, ev))) {
            sub.lastSent = ev.streamSeq
            continue
          }
          if (
            replayed++ >= maxReplayEvents ||
            (replayed > 1 && sub.session.unackedBytes > replayBacklogBytes)
          ) {
            sub.session.notify(
              SYNC_EVENT,
              control('subscription_established', sub.pending, {
                object_sid: sub.ref.sid,
                replay_status: 'interrupted',
                last_event_id: sub.lastSent,
              }),
            )
            drop(sub)
            return
          }
          for (const m of encoded(sub, ev)) sub.session.notifyEncoded(m.notification)
          sub.lastSent = ev.streamSeq
        }
        if (sub.pending !== null) {
          sub.session.notify(
            SYNC_EVENT,
            control('subscription_established', sub.pending, {
              object_sid: sub.ref.sid,
              replay_status: 'completed',
              last_event_id: sub.lastSent,
            }),
          )
          sub.pending = null
        }
      } while (sub.again && !sub.closed)
    } catch (err) {
      onError(err)
      if (sub.pending !== null) failed(sub, new SyncHttpError(500, 20500, 'Internal server error'))
      drop(sub)
    } finally {
      sub.busy = false
      // A decision handed in but not used (the pump ended first) must not become an unhandled rejection.
      if (decided !== undefined && typeof decided !== 'boolean') decided.catch(() => {})
    }
  }

  function failed(sub: Subscription, err: SyncHttpError): void {
    if (sub.session.closed) return
    sub.session.notify(
      SYNC_EVENT,
      control('subscription_failed', sub.pending, {
        object_sid: sub.ref.sid,
        error: { status: err.status, code: err.code, message: err.message },
      }),
    )
    sub.pending = null
  }

  async function subscriptions(
    req: UpstreamRequest,
    session: TwilsockSession,
  ): Promise<UpstreamResponse> {
    let body: {
      action?: unknown
      correlation_id?: unknown
      requests?: { object_sid?: unknown; object_type?: unknown; last_event_id?: unknown }[]
    }
    try {
      body = JSON.parse(req.body || '{}') as typeof body
    } catch {
      throw new SyncHttpError(400, 20001, 'Invalid JSON body')
    }
    const correlationId =
      typeof body.correlation_id === 'number' || typeof body.correlation_id === 'string'
        ? body.correlation_id
        : 0
    const requests = Array.isArray(body.requests) ? body.requests : []
    // max_batch_size is 100: the SDK never sends more in one request.
    if (requests.length > 100)
      throw new SyncHttpError(400, 20001, 'Too many subscription requests in one batch')
    const base = `https://${req.host}`
    const subs = sessionSubs(session)
    if (body.action === 'cancel') {
      const canceled: { object_sid: string }[] = []
      for (const r of requests) {
        if (typeof r.object_sid !== 'string') continue
        const sub = subs.get(r.object_sid)
        // Correlation ids are the SDK's millisecond clock: a cancel that overtook a newer establish of the same
        // object (two requests in flight) must not drop the newer subscription.
        const newer =
          typeof sub?.correlationId === 'number' &&
          typeof correlationId === 'number' &&
          sub.correlationId > correlationId
        if (sub !== undefined && !newer) drop(sub)
        canceled.push({ object_sid: r.object_sid })
      }
      setImmediate(() => {
        if (session.closed) return
        for (const c of canceled)
          session.notify(SYNC_EVENT, control('subscription_canceled', correlationId, c))
      })
      return json(200, {
        max_batch_size: 100,
        ttl_in_s: -1,
        estimated_delivery_in_ms: estimatedDeliveryMs,
      })
    }
    if (body.action !== 'establish') throw new SyncHttpError(400, 20001, 'Unknown action')
    const started: { sub: Subscription }[] = []
    const failures: {
      object_sid: string
      error: { status: number; code: number; message: string }
    }[] = []
    for (const r of requests) {
      const sid = typeof r.object_sid === 'string' ? r.object_sid : ''
      const type =
        r.object_type === 'map' || r.object_type === 'list' || r.object_type === 'document'
          ? r.object_type
          : undefined
      if (sid === '' || type === undefined) {
        failures.push({
          object_sid: sid,
          error: { status: 400, code: 20001, message: 'Invalid subscription request' },
        })
        continue
      }
      if (!subs.has(sid) && subs.size >= maxSubscriptions) {
        failures.push({
          object_sid: sid,
          error: { status: 429, code: 20429, message: 'Too many subscriptions' },
        })
        continue
      }
      try {
        const ref = await projection.resolve(type, sid, session.principal)
        const old = subs.get(ref.sid)
        if (old !== undefined) drop(old)
        const lastEventId =
          typeof r.last_event_id === 'number' && r.last_event_id >= 0 ? r.last_event_id : null
        const sub: Subscription = {
          session,
          ref,
          base,
          lastSent: lastEventId ?? -1,
          correlationId,
          pending: correlationId,
          busy: false,
          again: false,
          closed: false,
        }
        if (lastEventId === null) sub.lastSent = (await states.fresh(ref)).lastSeq
        subs.set(ref.sid, sub)
        let set = byStream.get(ref.stream)
        if (set === undefined) byStream.set(ref.stream, (set = new Set()))
        set.add(sub)
        started.push({ sub })
      } catch (err) {
        const e =
          err instanceof SyncHttpError
            ? err
            : new SyncHttpError(500, 20500, 'Internal server error')
        if (!(err instanceof SyncHttpError)) onError(err)
        failures.push({
          object_sid: sid,
          error: { status: e.status, code: e.code, message: e.message },
        })
      }
    }
    // Events may flow before the reply; the SDK copes, but replying first keeps logs readable.
    setImmediate(() => {
      if (session.closed) return
      for (const f of failures)
        session.notify(SYNC_EVENT, control('subscription_failed', correlationId, f))
      for (const { sub } of started) void pump(sub, true)
    })
    return json(200, {
      max_batch_size: 100,
      ttl_in_s: -1,
      estimated_delivery_in_ms: estimatedDeliveryMs,
    })
  }

  async function route(req: UpstreamRequest, session: TwilsockSession): Promise<UpstreamResponse> {
    const parts = req.path
      .split('/')
      .filter((p) => p !== '')
      .map(decodeComponent)
    const method = req.method.toUpperCase()
    if (parts[0] === 'v4' && parts[1] === 'Subscriptions' && parts.length === 2) {
      if (method !== 'POST') throw new SyncHttpError(405, 20004, 'Method not allowed')
      return subscriptions(req, session)
    }
    const type = parts[0] === 'v3' && parts[1] !== undefined ? TYPES[parts[1]] : undefined
    const id = parts[2]
    if (type === undefined || id === undefined || parts.length > 5) {
      throw new SyncHttpError(404, 20404, 'The requested resource was not found')
    }
    if (method !== 'GET') {
      // The chat SDKs never write Sync directly: every change goes through aim and is projected here.
      throw new SyncHttpError(403, 20403, 'Sync objects of a chat service are read-only')
    }
    const ref = await projection.resolve(type, id, session.principal)
    const st = await states.fresh(ref)
    if (st.removed) throw new SyncHttpError(404, 20404, 'The requested resource was not found')
    const base = `https://${req.host}`
    // The gateway has already percent-decoded the query values.
    const params: Readonly<Record<string, string>> = req.params
    if (parts.length === 3) {
      const include = params['Include'] === 'items' && ref.type !== 'document'
      const items = include
        ? queryItems(st.items.values(), ref.type === 'list', { pageSize: '100' }).items
        : undefined
      return json(200, descriptorJson(base, st, items))
    }
    if (parts[3] !== 'Items' || ref.type === 'document') {
      throw new SyncHttpError(404, 20404, 'The requested resource was not found')
    }
    const numeric = ref.type === 'list'
    if (parts[4] !== undefined) {
      const item = st.items.get(numeric ? String(Number(parts[4])) : parts[4])
      if (item === undefined) throw new SyncHttpError(404, 20404, 'Item not found')
      return json(200, itemJson(base, ref, item))
    }
    const page = queryItems(st.items.values(), numeric, {
      key: numeric
        ? params['Index'] !== undefined
          ? String(Number(params['Index']))
          : undefined
        : params['Key'],
      from: params['From'],
      order: params['Order'],
      pageSize: params['PageSize'],
      pageToken: params['PageToken'],
    })
    return json(200, {
      items: page.items.map((i) => itemJson(base, ref, i)),
      meta: { previous_token: page.previousToken, next_token: page.nextToken },
    })
  }

  return {
    async handle(req, session) {
      try {
        return await route(req, session)
      } catch (err) {
        if (err instanceof SyncHttpError) return errorResponse(err)
        onError(err)
        return errorResponse(new SyncHttpError(500, 20500, 'Internal server error'))
      }
    },
    publish(events) {
      projection.observe?.(events)
      const grouped = new Map<string, ChatEvent[]>()
      for (const ev of events) {
        if (!byStream.has(ev.stream) && states.peekStream(ev.stream) === undefined) continue
        let list = grouped.get(ev.stream)
        if (list === undefined) grouped.set(ev.stream, (list = []))
        list.push(ev)
      }
      for (const [stream, list] of grouped) {
        list.sort((a, b) => a.streamSeq - b.streamSeq)
        void states
          .offer(stream, list)
          .then(() => {
            for (const sub of byStream.get(stream) ?? []) {
              try {
                deliverLive(sub)
              } catch (err) {
                // As in `pump`: a failure costs this subscription only, never the other subscribers.
                onError(err)
                drop(sub)
              }
            }
          })
          .catch(onError)
      }
    },
    subscriptionCount() {
      let n = 0
      for (const m of bySession.values()) n += m.size
      return n
    },
  }
}

/** Whether an event's mutations are all document updates (skippable in a replay that sends a newer one). */
function onlyDocumentUpdates(mutations: readonly SyncMutation[]): boolean {
  return mutations.length > 0 && mutations.every((m) => m.op === 'document_updated')
}
