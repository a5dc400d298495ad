/**
 * Names and SIDs of the Sync objects that carry a chat service (docs/internals/twilio-sdk-protocol.md §4).
 *
 * SIDs are derived from the entity SID (two-letter kind + the entity's 32 hex digits), so they are stable across
 * restarts and a subscription by SID can be resolved without any stored mapping.
 *
 * @module
 */
import type { SyncObjectType } from '../sync/types.ts'

/** The kinds of chat Sync objects. */
export type ObjectKind = 'channel' | 'messages' | 'roster' | 'userInfo' | 'userChannels'

interface KindSpec {
  type: SyncObjectType
  sidPrefix: string
  entityPrefix: 'CH' | 'US'
  streamPrefix: string
}

export const KINDS: Record<ObjectKind, KindSpec> = {
  channel: { type: 'document', sidPrefix: 'ET', entityPrefix: 'CH', streamPrefix: 'channel' },
  messages: { type: 'list', sidPrefix: 'ES', entityPrefix: 'CH', streamPrefix: 'messages' },
  roster: { type: 'map', sidPrefix: 'MR', entityPrefix: 'CH', streamPrefix: 'members' },
  userInfo: { type: 'map', sidPrefix: 'MU', entityPrefix: 'US', streamPrefix: 'user' },
  userChannels: { type: 'map', sidPrefix: 'MC', entityPrefix: 'US', streamPrefix: 'userchannels' },
}

const SID_HEX = /^[0-9a-f]{32}$/

/** `${CH}.channel`: hard-coded by twilio-chat's ChannelDescriptor. */
export const channelDocName = (channelSid: string): string => `${channelSid}.channel`
/** `${CH}.messages`: announced through the channel document's `messages`. */
export const messagesListName = (channelSid: string): string => `${channelSid}.messages`
/** `${CH}.roster`: hard-coded by twilio-chat's `_fetchMyChannels`. */
export const rosterMapName = (channelSid: string): string => `${channelSid}.roster`
/** `${identity}.userInfo`: Configuration `sync_objects.my_user_info`. */
export const userInfoMapName = (identity: string): string => `${identity}.userInfo`
/** `${identity}.channels`: Configuration `sync_objects.my_conversations`. */
export const userChannelsMapName = (identity: string): string => `${identity}.channels`

/** The object SID of `kind` for entity `entitySid` (CH… or US…). */
export function objectSid(kind: ObjectKind, entitySid: string): string {
  return KINDS[kind].sidPrefix + entitySid.slice(2)
}

/** The event-log stream of `kind` for `entitySid`. */
export function objectStream(kind: ObjectKind, entitySid: string): string {
  return `${KINDS[kind].streamPrefix}:${entitySid}`
}

/** What a SID or unique name designates, before any lookup. */
export type ParsedName =
  | { kind: ObjectKind; by: 'entity'; entitySid: string }
  | { kind: 'userInfo' | 'userChannels'; by: 'identity'; identity: string }

/** Parses an object SID or unique name of the given Sync type; undefined when it names nothing of ours. */
export function parseObjectId(type: SyncObjectType, id: string): ParsedName | undefined {
  for (const [kind, spec] of Object.entries(KINDS) as [ObjectKind, KindSpec][]) {
    if (spec.type !== type) continue
    if (id.length === 34 && id.startsWith(spec.sidPrefix) && SID_HEX.test(id.slice(2))) {
      return { kind, by: 'entity', entitySid: spec.entityPrefix + id.slice(2) }
    }
  }
  const dot = id.lastIndexOf('.')
  if (dot <= 0) return undefined
  const head = id.slice(0, dot)
  const suffix = id.slice(dot + 1)
  const isChannelSid = head.length === 34 && head.startsWith('CH') && SID_HEX.test(head.slice(2))
  if (type === 'document' && suffix === 'channel' && isChannelSid)
    return { kind: 'channel', by: 'entity', entitySid: head }
  if (type === 'list' && suffix === 'messages' && isChannelSid)
    return { kind: 'messages', by: 'entity', entitySid: head }
  if (type === 'map' && suffix === 'roster' && isChannelSid)
    return { kind: 'roster', by: 'entity', entitySid: head }
  if (type === 'map' && suffix === 'userInfo')
    return { kind: 'userInfo', by: 'identity', identity: head }
  if (type === 'map' && suffix === 'channels')
    return { kind: 'userChannels', by: 'identity', identity: head }
  return undefined
}
