/**
 * aim (chat client API) response bodies, snake_case, as twilio-chat 6 / conversations 3 read them
 * (docs/internals/twilio-sdk-protocol.md §2).
 *
 * @module
 */
import type { Channel, Member, Message, User, UserChannelView } from '../../../core/types.ts'
import {
  channelDocName,
  messagesListName,
  rosterMapName,
  userInfoMapName,
} from '../projection/names.ts'
import { isoDate } from '../sync/wire.ts'

/** Where the aim resources live, from the request host: `https://aim.…/Client/v1`. */
export interface AimLinks {
  base: string
}

/** A channel's aim URL (`links.self` of the SDK's Channel). */
export const channelUrl = (l: AimLinks, sid: string): string => `${l.base}/Channels/${sid}`
/** A user's aim URL (`links.current_user`, `{users}/{identity}`). */
export const userUrl = (l: AimLinks, identity: string): string =>
  `${l.base}/Users/${encodeURIComponent(identity)}`
/** The user's channel list (`links.my_conversations`). */
export const myChannelsUrl = (l: AimLinks, identity: string): string =>
  `${userUrl(l, identity)}/Channels`

function syncObjects(sid: string): Record<string, string> {
  return {
    conversation: channelDocName(sid),
    messages: messagesListName(sid),
    participants: rosterMapName(sid),
  }
}

/** A channel descriptor (directory, fetch, create). */
export function channelJson(l: AimLinks, c: Channel): Record<string, unknown> {
  const url = channelUrl(l, c.sid)
  return {
    sid: c.sid,
    account_sid: c.accountSid,
    service_sid: c.serviceSid,
    unique_name: c.uniqueName,
    friendly_name: c.friendlyName,
    attributes: c.attributes,
    type: c.type,
    created_by: c.createdBy,
    date_created: isoDate(c.createdAt),
    date_updated: isoDate(c.updatedAt),
    messages_count: c.messagesCount,
    participants_count: c.membersCount,
    members_count: c.membersCount,
    url,
    links: {
      messages: `${url}/Messages`,
      participants: `${url}/Participants`,
      invites: `${url}/Invites`,
    },
    sync_objects: syncObjects(c.sid),
  }
}

/** A my-channels entry; channel fields are included when the channel could be read. */
export function userChannelJson(
  l: AimLinks,
  uc: UserChannelView,
  c: Channel | undefined,
): Record<string, unknown> {
  return {
    ...(c === undefined ? {} : channelJson(l, c)),
    sid: uc.channelSid,
    conversation_sid: uc.channelSid,
    channel_sid: uc.channelSid,
    member_sid: uc.memberSid,
    status: uc.status,
    last_consumed_message_index: uc.lastConsumedMessageIndex,
    last_read_message_index: uc.lastConsumedMessageIndex,
    unread_messages_count: uc.unreadMessagesCount,
    notification_level: uc.notificationLevel,
    sync_objects: syncObjects(uc.channelSid),
  }
}

/** A member (participant) resource. */
export function memberJson(l: AimLinks, m: Member): Record<string, unknown> {
  return {
    sid: m.sid,
    channel_sid: m.channelSid,
    conversation_sid: m.channelSid,
    identity: m.identity,
    role_sid: m.roleSid,
    attributes: m.attributes,
    last_consumed_message_index: m.lastConsumedMessageIndex,
    date_created: isoDate(m.createdAt),
    date_updated: isoDate(m.updatedAt),
    url: `${channelUrl(l, m.channelSid)}/Participants/${m.sid}`,
  }
}

/** A message resource; `sendMessage()` reads `index`. */
export function messageJson(l: AimLinks, m: Message): Record<string, unknown> {
  return {
    sid: m.sid,
    index: m.index,
    channel_sid: m.channelSid,
    conversation_sid: m.channelSid,
    author: m.from,
    from: m.from,
    body: m.body,
    attributes: m.attributes,
    type: m.type,
    date_created: isoDate(m.createdAt),
    date_updated: isoDate(m.updatedAt),
    url: `${channelUrl(l, m.channelSid)}/Messages/${m.sid}`,
  }
}

/** A user descriptor. */
export function userJson(l: AimLinks, u: User): Record<string, unknown> {
  return {
    sid: u.sid,
    identity: u.identity,
    friendly_name: u.friendlyName,
    attributes: u.attributes,
    is_online: u.isOnline,
    is_notifiable: u.isNotifiable,
    date_created: isoDate(u.createdAt),
    date_updated: isoDate(u.updatedAt),
    url: userUrl(l, u.identity),
    sync_objects: { user_info_map: userInfoMapName(u.identity) },
    sync_unique_name: userInfoMapName(u.identity),
  }
}
