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
import type { ChatEvent, UserActor } from '../../../core/types.ts'
import {
  SyncHttpError,
  type SyncMutation,
  type SyncObjectRef,
  type SyncObjectType,
  type SyncPrincipal,
  type SyncProjection,
} from '../sync/types.ts'
import { USER_INFO_BASELINE, channelDocument, projectEvent } from './data.ts'
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
  /** How long a positive or negative access decision is reused at fan-out time. Default 500 ms. */
  authCacheMs?: number
  /** Milliseconds clock for the access cache. Default `Date.now`. */
  now?: () => number
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

const ACCESS_EVENTS = new Set<string>([
  'member_removed',
  'channel_removed',
  'channel_updated',
  'user_removed',
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
  const authCacheMs = options.authCacheMs ?? 500
  const now = options.now ?? Date.now
  const decisions = new Map<string, { ok: boolean; at: number }>()

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

  return {
    resolve,
    async authorize(r, p) {
      const key = `${p.accountSid}|${p.serviceSid}|${p.identity}|${r.stream}`
      const t = now()
      const hit = decisions.get(key)
      if (hit !== undefined && t - hit.at < authCacheMs) return hit.ok
      let ok: boolean
      try {
        ok = (await resolve(r.type, r.sid, p)).stream === r.stream
      } catch (err) {
        if (!(err instanceof SyncHttpError)) throw err
        ok = false
      }
      decisions.set(key, { ok, at: t })
      if (decisions.size > 10_000) decisions.clear()
      return ok
    },
    async documentData(r, folded, p) {
      // Posting a message changes the channel row (lastMessage, counts) without a channel event; a fresh read shows it.
      if (kindOfStream(r.stream) !== 'channel' || folded === null || typeof folded !== 'object')
        return folded
      try {
        const channel = await core.channels.fetch(
          actorOf(p),
          p.serviceSid,
          r.stream.slice('channel:'.length),
        )
        const fresh = channelDocument(channel)
        return {
          ...folded,
          lastMessage: fresh['lastMessage'],
          membersCount: fresh['membersCount'],
          messagesCount: fresh['messagesCount'],
        }
      } catch {
        return folded
      }
    },
    observe(events) {
      // Membership or visibility changed: decide again on the next delivery instead of after the cache delay.
      if (events.some((e) => ACCESS_EVENTS.has(e.type))) decisions.clear()
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
