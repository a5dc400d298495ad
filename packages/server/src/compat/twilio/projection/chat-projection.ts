/**
 * The chat service projected onto Sync: resolves object names and SIDs, checks read access at operation time
 * (reliability.md §2.1) and translates log events (`data.ts`).
 *
 * Access rules (a session acts as its token's user):
 * - `${CH}.channel`: visible when the core lets the user fetch the channel (public, or private and a member).
 * - `${CH}.messages`, `${CH}.roster`: members of the channel only (403 for a visible channel, 404 otherwise).
 * - `{identity}.userInfo`: any user of the same service.
 * - `{identity}.channels`: the user's own map only (404 for anybody else's).
 *
 * @module
 */
import { isChatError } from '@parley/token/errors'
import type { Core } from '../../../core/api.ts'
import type { Channel, ChatEvent, UserActor } from '../../../core/types.ts'
import {
  SyncHttpError,
  type SyncMutation,
  type SyncObjectRef,
  type SyncObjectType,
  type SyncPrincipal,
  type SyncProjection,
} from '../sync/types.ts'
import { USER_INFO_BASELINE, projectEvent } from './data.ts'
import {
  channelDocName,
  messagesListName,
  objectSid,
  objectStream,
  parseObjectId,
  rosterMapName,
  userChannelsMapName,
  userInfoMapName,
  type ObjectKind,
} from './names.ts'

/** Options of {@link createChatProjection}. */
export interface ChatProjectionOptions {
  /** The operations used: `channels.fetch`, `members.fetch`, `users.fetch`. */
  core: Pick<Core, 'channels' | 'members' | 'users'>
  /**
   * How long a positive or negative access decision is reused at fan-out time. Default {@link DEFAULT_AUTH_CACHE_MS}.
   * Decisions are set aside (looked up again) at once after every event that can change them (`observe`: membership,
   * a channel's type, removals), so this only bounds how long a change that no event announced could go unnoticed.
   * Every subscription's decision is looked up again once per period: at 5 s that was ~8 % of the server's CPU with
   * 1,000 subscribed users at 2,000 deliveries/s (fan-out bench).
   */
  authCacheMs?: number
  /** Milliseconds clock for the access cache. Default `Date.now`. */
  now?: () => number
}

/** Default {@link ChatProjectionOptions.authCacheMs}: 30 s. */
export const DEFAULT_AUTH_CACHE_MS = 30_000

/** A cached access decision (see `createChatProjection`). */
interface Decision {
  ok: boolean
  /** When it was looked up (the `now` clock). */
  at: number
  /** The entity whose events invalidate it. */
  scope: string
  /** The invalidation epoch at which its lookup started. */
  epoch: number
}

/** The user actor a Twilsock session acts as. */
export function actorOf(p: SyncPrincipal): UserActor {
  return { kind: 'user', accountSid: p.accountSid, serviceSid: p.serviceSid, identity: p.identity }
}

/** Maps a core failure to the Sync error the SDK understands. */
export function toSyncError(err: unknown): SyncHttpError {
  if (isChatError(err)) {
    const status = err.status === 401 ? 403 : err.status
    return new SyncHttpError(status, err.code, err.message)
  }
  throw err
}

/**
 * The entity (CH… or US…) whose access decisions `ev` may change, in either direction (a join grants, a leave
 * revokes); undefined when it changes none. A `channel_updated` matters only when the channel's type changes
 * (`typeOf` remembers the last type seen), so that the counter updates of every message keep the cache warm.
 */
function accessScope(ev: ChatEvent, typeOf: Map<string, string>): string | undefined {
  const entity = ev.stream.slice(ev.stream.indexOf(':') + 1)
  if (MEMBERSHIP_EVENTS.has(ev.type)) return entity
  if (USER_CHANNEL_EVENTS.has(ev.type)) return ev.key ?? undefined
  if (ev.type !== 'channel_created' && ev.type !== 'channel_updated') return undefined
  const type = (ev.data as Partial<Channel> | null)?.type
  const before = typeOf.get(entity)
  if (typeof type === 'string') {
    if (typeOf.size >= 10_000) typeOf.clear()
    typeOf.set(entity, type)
  }
  return ev.type === 'channel_updated' && before !== type ? entity : undefined
}

/** Events on the entity's own stream that change who may read it. */
const MEMBERSHIP_EVENTS = new Set<string>([
  'member_added',
  'member_removed',
  'channel_removed',
  'user_removed',
])
/** Events on `userchannels:{US}` that change the user's access to the channel in their key. */
const USER_CHANNEL_EVENTS = new Set<string>([
  'user_channel_added',
  'user_channel_updated',
  'user_channel_removed',
])

const kindOfStream = (stream: string): ObjectKind | undefined =>
  (
    ({
      channel: 'channel',
      messages: 'messages',
      members: 'roster',
      user: 'userInfo',
      userchannels: 'userChannels',
    }) as Record<string, ObjectKind>
  )[stream.slice(0, stream.indexOf(':'))]

/**
 * Builds the projection.
 *
 * @example
 * ```ts
 * const sync = createSyncEngine({ log: core.events, projection: createChatProjection({ core }) })
 * ```
 */
export function createChatProjection(options: ChatProjectionOptions): SyncProjection {
  const { core } = options
  const authCacheMs = options.authCacheMs ?? DEFAULT_AUTH_CACHE_MS
  const now = options.now ?? Date.now
  /**
   * Access decisions by object reference (one per subscription) and principal (one per session): looked up on every
   * delivery, so by identity rather than by a key string built each time, and freed with them. A decision holds the
   * entity (the CH… or US… behind the stream) and the epoch at which its lookup started.
   */
  const decisions = new WeakMap<SyncObjectRef, WeakMap<SyncPrincipal, Decision>>()
  /**
   * The epoch (a counter of invalidations) at which each entity last had its decisions invalidated, because access to
   * its objects may have changed. A decision whose lookup started before that is not used, nor cached: it may have
   * read the state from before the change (a pre-join "no" cached after the join would fail or end a subscription that
   * is now allowed). When the map is cleared (bounded size), `clearedAt` stands in for every entity it held.
   */
  const invalidatedAt = new Map<string, number>()
  let epoch = 0
  let clearedAt = 0
  const channelTypes = new Map<string, string>()

  function ref(
    kind: ObjectKind,
    type: SyncObjectType,
    entitySid: string,
    uniqueName: string,
  ): SyncObjectRef {
    return {
      sid: objectSid(kind, entitySid),
      uniqueName,
      type,
      stream: objectStream(kind, entitySid),
    }
  }

  async function resolve(
    type: SyncObjectType,
    id: string,
    p: SyncPrincipal,
  ): Promise<SyncObjectRef> {
    const parsed = parseObjectId(type, id)
    if (parsed === undefined)
      throw new SyncHttpError(404, 20404, 'The requested resource was not found')
    const actor = actorOf(p)
    try {
      switch (parsed.kind) {
        case 'channel':
        case 'messages':
        case 'roster': {
          const sid = parsed.by === 'entity' ? parsed.entitySid : ''
          const channel = await core.channels.fetch(actor, p.serviceSid, sid)
          if (parsed.kind === 'channel')
            return ref('channel', type, channel.sid, channelDocName(channel.sid))
          try {
            await core.members.fetch(actor, p.serviceSid, channel.sid, p.identity)
          } catch (err) {
            if (isChatError(err) && err.status === 404) {
              throw new SyncHttpError(403, 50107, 'User not authorized for command')
            }
            throw err
          }
          return parsed.kind === 'messages'
            ? ref('messages', type, channel.sid, messagesListName(channel.sid))
            : ref('roster', type, channel.sid, rosterMapName(channel.sid))
        }
        case 'userInfo': {
          const user = await core.users.fetch(
            actor,
            p.serviceSid,
            parsed.by === 'entity' ? parsed.entitySid : parsed.identity,
          )
          return ref('userInfo', type, user.sid, userInfoMapName(user.identity))
        }
        case 'userChannels': {
          const user = await core.users.fetch(
            actor,
            p.serviceSid,
            parsed.by === 'entity' ? parsed.entitySid : parsed.identity,
          )
          if (user.identity !== p.identity)
            throw new SyncHttpError(404, 20404, 'The requested resource was not found')
          return ref('userChannels', type, user.sid, userChannelsMapName(user.identity))
        }
      }
    } catch (err) {
      if (err instanceof SyncHttpError) throw err
      throw toSyncError(err)
    }
  }

  /** No event that may change access to `scope`'s objects came after `startedAt`. */
  function isCurrent(scope: string, startedAt: number): boolean {
    return clearedAt <= startedAt && (invalidatedAt.get(scope) ?? 0) <= startedAt
  }

  /** Looks the decision up (as a `resolve` would) and caches it unless an invalidation raced the lookup. */
  async function decide(r: SyncObjectRef, p: SyncPrincipal, t: number): Promise<boolean> {
    const scope = r.stream.slice(r.stream.indexOf(':') + 1)
    const startedAt = epoch
    let ok: boolean
    try {
      ok = (await resolve(r.type, r.sid, p)).stream === r.stream
    } catch (err) {
      if (!(err instanceof SyncHttpError)) throw err
      ok = false
    }
    if (!isCurrent(scope, startedAt)) return ok
    let forRef = decisions.get(r)
    if (forRef === undefined) decisions.set(r, (forRef = new WeakMap()))
    forRef.set(p, { ok, at: t, scope, epoch: startedAt })
    return ok
  }

  return {
    resolve,
    authorize(r, p) {
      const t = now()
      const hit = decisions.get(r)?.get(p)
      if (hit !== undefined && t - hit.at < authCacheMs && isCurrent(hit.scope, hit.epoch))
        return hit.ok
      return decide(r, p, t)
    },
    observe(events) {
      // Membership or visibility changed: decide again on the next delivery instead of after the cache delay.
      for (const ev of events) {
        const scope = accessScope(ev, channelTypes)
        if (scope === undefined) continue
        epoch++
        if (invalidatedAt.size >= 10_000) {
          invalidatedAt.clear()
          clearedAt = epoch
        }
        invalidatedAt.set(scope, epoch)
      }
    },
    project(r: SyncObjectRef, ev: ChatEvent): readonly SyncMutation[] {
      const kind = kindOfStream(r.stream)
      return kind === undefined ? [] : projectEvent(kind, ev)
    },
    baseline(r) {
      return kindOfStream(r.stream) === 'userInfo' ? USER_INFO_BASELINE : []
    },
  }
}
