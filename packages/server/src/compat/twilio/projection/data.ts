/**
 * Event snapshots → Sync item and document data, exactly as twilio-chat 6 / conversations 3 read them
 * (docs/internals/twilio-sdk-protocol.md §4). Pure functions.
 *
 * @module
 */
import type { Channel, ChatEvent, Member, Message, User, UserChannel } from '../../../core/types.ts'
import type { SyncMutation } from '../sync/types.ts'
import { isoDate } from '../sync/wire.ts'
import {
  channelDocName,
  messagesListName,
  rosterMapName,
  userInfoMapName,
  type ObjectKind,
} from './names.ts'

function parseJson(s: string | null | undefined): unknown {
  if (s === null || s === undefined || s === '') return {}
  try {
    return JSON.parse(s) as unknown
  } catch {
    return {}
  }
}

const isoOrNull = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : isoDate(ms)

/** The `${CH}.channel` document. */
export function channelDocument(c: Channel): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    sid: c.sid,
    friendlyName: c.friendlyName,
    uniqueName: c.uniqueName,
    attributes: parseJson(c.attributes),
    type: c.type,
    createdBy: c.createdBy,
    dateCreated: isoDate(c.createdAt),
    dateUpdated: isoDate(c.updatedAt),
    messages: messagesListName(c.sid),
    roster: rosterMapName(c.sid),
    membersCount: c.membersCount,
    messagesCount: c.messagesCount,
  }
  if (c.lastMessageIndex !== null) {
    doc['lastMessage'] = { index: c.lastMessageIndex, timestamp: isoOrNull(c.lastMessageAt) }
  }
  return doc
}

/** A messages list item: note `text`, not `body`. */
export function messageItem(m: Message): Record<string, unknown> {
  return {
    sid: m.sid,
    author: m.from,
    memberSid: m.memberSid ?? null,
    text: m.body,
    attributes: m.attributes,
    timestamp: isoDate(m.createdAt),
    dateUpdated: isoDate(m.updatedAt),
    lastUpdatedBy: m.lastUpdatedBy,
    type: m.type,
    media:
      m.media === null
        ? null
        : {
            sid: m.media.sid,
            content_type: m.media.contentType,
            filename: m.media.filename,
            size: m.media.size,
          },
  }
}

/** A roster map item. */
export function memberItem(m: Member): Record<string, unknown> {
  return {
    identity: m.identity,
    userInfo: userInfoMapName(m.identity),
    roleSid: m.roleSid,
    attributes: m.attributes,
    lastConsumedMessageIndex: m.lastConsumedMessageIndex,
    lastConsumptionTimestamp: isoOrNull(m.lastConsumptionTimestamp),
    dateCreated: isoDate(m.createdAt),
    dateUpdated: isoDate(m.updatedAt),
    type: 'chat',
  }
}

/** A `{identity}.channels` map item. */
export function userChannelItem(uc: UserChannel): Record<string, unknown> {
  return {
    status: uc.status,
    channel: channelDocName(uc.channelSid),
    messages: messagesListName(uc.channelSid),
    roster: rosterMapName(uc.channelSid),
    lastConsumedMessageIndex: uc.lastConsumedMessageIndex,
    notificationLevel: uc.notificationLevel,
    dateCreated: isoDate(uc.createdAt),
    dateUpdated: isoDate(uc.updatedAt),
  }
}

/** The `{identity}.userInfo` items that exist before any event. */
export const USER_INFO_BASELINE = [
  { key: 'friendlyName', data: { value: null } },
  { key: 'attributes', data: { value: '{}' } },
] as const

function userInfoItems(u: User, withReachability: boolean): { key: string; data: unknown }[] {
  const out: { key: string; data: unknown }[] = [
    { key: 'friendlyName', data: { value: u.friendlyName } },
    { key: 'attributes', data: { value: u.attributes } },
  ]
  if (withReachability)
    out.push({ key: 'reachability', data: { online: u.isOnline, notifiable: u.isNotifiable } })
  return out
}

/** One log event of the object's stream → its Sync mutations. */
export function projectEvent(kind: ObjectKind, ev: ChatEvent): SyncMutation[] {
  const key = ev.key ?? ''
  switch (kind) {
    case 'channel':
      if (ev.type === 'channel_created' || ev.type === 'channel_updated') {
        return [{ op: 'document_updated', data: channelDocument(ev.data as Channel) }]
      }
      if (ev.type === 'channel_removed') return [{ op: 'object_removed' }]
      return []
    case 'messages': {
      if (ev.type === 'message_added')
        return [{ op: 'item_added', key, data: messageItem(ev.data as Message) }]
      if (ev.type === 'message_updated')
        return [{ op: 'item_updated', key, data: messageItem(ev.data as Message) }]
      if (ev.type === 'message_removed')
        return [{ op: 'item_removed', key, data: messageItem(ev.data as Message) }]
      return []
    }
    case 'roster': {
      const data = (): Record<string, unknown> => memberItem(ev.data as Member)
      const k = ev.key ?? (ev.data as Member).sid
      if (ev.type === 'member_added') return [{ op: 'item_added', key: k, data: data() }]
      if (ev.type === 'member_updated') return [{ op: 'item_updated', key: k, data: data() }]
      if (ev.type === 'member_removed') return [{ op: 'item_removed', key: k, data: data() }]
      return []
    }
    case 'userChannels': {
      const uc = ev.data as UserChannel
      const k = ev.key ?? uc.channelSid
      if (ev.type === 'user_channel_added')
        return [{ op: 'item_added', key: k, data: userChannelItem(uc) }]
      if (ev.type === 'user_channel_updated')
        return [{ op: 'item_updated', key: k, data: userChannelItem(uc) }]
      if (ev.type === 'user_channel_removed')
        return [{ op: 'item_removed', key: k, data: userChannelItem(uc) }]
      return []
    }
    case 'userInfo': {
      const u = ev.data as User
      const withReach = u.isOnline !== null || u.isNotifiable !== null
      if (ev.type === 'user_created') {
        return userInfoItems(u, withReach).map((i) => ({ op: 'item_added' as const, ...i }))
      }
      if (ev.type === 'user_updated') {
        return userInfoItems(u, withReach).map((i) => ({ op: 'item_updated' as const, ...i }))
      }
      if (ev.type === 'reachability_updated') {
        return [
          {
            op: 'item_updated',
            key: 'reachability',
            data: { online: u.isOnline, notifiable: u.isNotifiable },
          },
        ]
      }
      if (ev.type === 'user_removed') return [{ op: 'object_removed' }]
      return []
    }
  }
}
