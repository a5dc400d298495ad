/**
 * One serializer per REST resource: camelCase core records → snake_case wire JSON, with fields in the order the
 * `twilio` helper reads them (twilio-node 6.3.1 `*Instance` constructors; chat-rest-v2.md §6), ISO-8601 dates without
 * milliseconds (RFC 2822 for the 2010 API), and absolute `url`/`links` built from the request's base URL.
 *
 * @module
 */
import type {
  ApiKey,
  Binding,
  Channel,
  ChannelWebhook,
  Credential,
  Invite,
  Member,
  Message,
  NewApiKey,
  NotificationSetting,
  Role,
  Service,
  User,
  UserChannelView,
} from '../core/types.ts'
import { isoDate, rfc2822Date, seg } from './format.ts'

/** Absolute URL builders, from the base URL (`http://host:port`). Path segments are percent-encoded. */
export class Urls {
  /** The base URL without a trailing slash. */
  readonly base: string
  constructor(base: string) {
    this.base = base
  }
  /** `/v2/Services`. */
  services(): string {
    return `${this.base}/v2/Services`
  }
  /** `/v2/Services/{IS}`. */
  service(is: string): string {
    return `${this.base}/v2/Services/${seg(is)}`
  }
  /** `/v2/Services/{IS}/Channels/{CH}`. */
  channel(is: string, ch: string): string {
    return `${this.service(is)}/Channels/${seg(ch)}`
  }
  /** `/v2/Services/{IS}/Users/{US or identity}`. */
  user(is: string, us: string): string {
    return `${this.service(is)}/Users/${seg(us)}`
  }
  /** `/v2/Credentials/{CR}`. */
  credential(cr: string): string {
    return `${this.base}/v2/Credentials/${seg(cr)}`
  }
}

function notification(n: NotificationSetting): Record<string, unknown> {
  return { enabled: n.enabled, template: n.template, sound: n.sound }
}

/** Service (chat-rest-v2.md §6.1). */
export function serializeService(s: Service, u: Urls): Record<string, unknown> {
  const url = u.service(s.sid)
  return {
    sid: s.sid,
    account_sid: s.accountSid,
    friendly_name: s.friendlyName,
    date_created: isoDate(s.createdAt),
    date_updated: isoDate(s.updatedAt),
    default_service_role_sid: s.defaultServiceRoleSid,
    default_channel_role_sid: s.defaultChannelRoleSid,
    default_channel_creator_role_sid: s.defaultChannelCreatorRoleSid,
    read_status_enabled: s.readStatusEnabled,
    reachability_enabled: s.reachabilityEnabled,
    typing_indicator_timeout: s.typingIndicatorTimeout,
    consumption_report_interval: s.consumptionReportInterval,
    limits: { channel_members: s.limits.channelMembers, user_channels: s.limits.userChannels },
    pre_webhook_url: s.preWebhookUrl,
    post_webhook_url: s.postWebhookUrl,
    webhook_method: s.webhookMethod,
    webhook_filters: s.webhookFilters,
    pre_webhook_retry_count: s.preWebhookRetryCount,
    post_webhook_retry_count: s.postWebhookRetryCount,
    notifications: {
      removed_from_channel: notification(s.notifications.removedFromChannel),
      log_enabled: s.notifications.logEnabled,
      added_to_channel: notification(s.notifications.addedToChannel),
      new_message: {
        ...notification(s.notifications.newMessage),
        badge_count_enabled: s.notifications.newMessage.badgeCountEnabled,
      },
      invited_to_channel: notification(s.notifications.invitedToChannel),
    },
    media: {
      size_limit_mb: s.media.sizeLimitMb,
      compatibility_message: s.media.compatibilityMessage,
    },
    url,
    links: {
      channels: `${url}/Channels`,
      users: `${url}/Users`,
      roles: `${url}/Roles`,
      bindings: `${url}/Bindings`,
    },
  }
}

/** Channel (§6.2). */
export function serializeChannel(c: Channel, u: Urls): Record<string, unknown> {
  const url = u.channel(c.serviceSid, c.sid)
  return {
    sid: c.sid,
    account_sid: c.accountSid,
    service_sid: c.serviceSid,
    friendly_name: c.friendlyName,
    unique_name: c.uniqueName,
    attributes: c.attributes,
    type: c.type,
    date_created: isoDate(c.createdAt),
    date_updated: isoDate(c.updatedAt),
    created_by: c.createdBy,
    members_count: c.membersCount,
    messages_count: c.messagesCount,
    url,
    links: {
      members: `${url}/Members`,
      messages: `${url}/Messages`,
      invites: `${url}/Invites`,
      webhooks: `${url}/Webhooks`,
      last_message: null,
    },
  }
}

/** Member (§6.3). */
export function serializeMember(m: Member, u: Urls): Record<string, unknown> {
  return {
    sid: m.sid,
    account_sid: m.accountSid,
    channel_sid: m.channelSid,
    service_sid: m.serviceSid,
    identity: m.identity,
    date_created: isoDate(m.createdAt),
    date_updated: isoDate(m.updatedAt),
    role_sid: m.roleSid,
    last_consumed_message_index: m.lastConsumedMessageIndex,
    last_consumption_timestamp: isoDate(m.lastConsumptionTimestamp),
    url: `${u.channel(m.serviceSid, m.channelSid)}/Members/${seg(m.sid)}`,
    attributes: m.attributes,
  }
}

/** Message (§6.4). */
export function serializeMessage(m: Message, u: Urls): Record<string, unknown> {
  return {
    sid: m.sid,
    account_sid: m.accountSid,
    attributes: m.attributes,
    service_sid: m.serviceSid,
    to: m.channelSid,
    channel_sid: m.channelSid,
    date_created: isoDate(m.createdAt),
    date_updated: isoDate(m.updatedAt),
    last_updated_by: m.lastUpdatedBy,
    was_edited: m.wasEdited,
    from: m.from,
    body: m.body,
    index: m.index,
    type: m.type,
    media:
      m.media === null
        ? null
        : {
            content_type: m.media.contentType,
            filename: m.media.filename,
            sid: m.media.sid,
            size: m.media.size,
          },
    url: `${u.channel(m.serviceSid, m.channelSid)}/Messages/${seg(m.sid)}`,
  }
}

/** Invite (§6.10). */
export function serializeInvite(i: Invite, u: Urls): Record<string, unknown> {
  return {
    sid: i.sid,
    account_sid: i.accountSid,
    channel_sid: i.channelSid,
    service_sid: i.serviceSid,
    identity: i.identity,
    date_created: isoDate(i.createdAt),
    date_updated: isoDate(i.updatedAt),
    role_sid: i.roleSid,
    created_by: i.createdBy,
    url: `${u.channel(i.serviceSid, i.channelSid)}/Invites/${seg(i.sid)}`,
  }
}

/** Channel webhook (§6.11). */
export function serializeWebhook(w: ChannelWebhook, u: Urls): Record<string, unknown> {
  const c = w.configuration
  return {
    sid: w.sid,
    account_sid: w.accountSid,
    service_sid: w.serviceSid,
    channel_sid: w.channelSid,
    type: w.type,
    url: `${u.channel(w.serviceSid, w.channelSid)}/Webhooks/${seg(w.sid)}`,
    configuration: {
      url: c.url,
      method: c.method,
      filters: c.filters,
      triggers: c.triggers,
      flow_sid: c.flowSid,
      retry_count: c.retryCount,
    },
    date_created: isoDate(w.createdAt),
    date_updated: isoDate(w.updatedAt),
  }
}

/** Role (§6.8). */
export function serializeRole(r: Role, u: Urls): Record<string, unknown> {
  return {
    sid: r.sid,
    account_sid: r.accountSid,
    service_sid: r.serviceSid,
    friendly_name: r.friendlyName,
    type: r.type,
    permissions: r.permissions,
    date_created: isoDate(r.createdAt),
    date_updated: isoDate(r.updatedAt),
    url: `${u.service(r.serviceSid)}/Roles/${seg(r.sid)}`,
  }
}

/** User (§6.5). `is_online`/`is_notifiable` are null in lists (`forList`). */
export function serializeUser(x: User, u: Urls, forList = false): Record<string, unknown> {
  const url = u.user(x.serviceSid, x.sid)
  return {
    sid: x.sid,
    account_sid: x.accountSid,
    service_sid: x.serviceSid,
    attributes: x.attributes,
    friendly_name: x.friendlyName,
    role_sid: x.roleSid,
    identity: x.identity,
    is_online: forList ? null : x.isOnline,
    is_notifiable: forList ? null : x.isNotifiable,
    date_created: isoDate(x.createdAt),
    date_updated: isoDate(x.updatedAt),
    joined_channels_count: x.joinedChannelsCount,
    links: { user_channels: `${url}/Channels`, user_bindings: `${url}/Bindings` },
    url,
  }
}

/** UserChannel (§6.6). */
export function serializeUserChannel(x: UserChannelView, u: Urls): Record<string, unknown> {
  const channelUrl = u.channel(x.serviceSid, x.channelSid)
  return {
    account_sid: x.accountSid,
    service_sid: x.serviceSid,
    channel_sid: x.channelSid,
    user_sid: x.userSid,
    member_sid: x.memberSid,
    status: x.status,
    last_consumed_message_index: x.lastConsumedMessageIndex,
    unread_messages_count: x.unreadMessagesCount,
    links: {
      channel: channelUrl,
      member: x.memberSid === null ? null : `${channelUrl}/Members/${seg(x.memberSid)}`,
    },
    url: `${u.user(x.serviceSid, x.userSid)}/Channels/${seg(x.channelSid)}`,
    notification_level: x.notificationLevel,
  }
}

/** Binding (§6.7), service level. */
export function serializeBinding(b: Binding, u: Urls): Record<string, unknown> {
  return bindingBody(b, u, false)
}

/** UserBinding (§6.7), under `/Users/{US}/Bindings`. */
export function serializeUserBinding(b: Binding, u: Urls): Record<string, unknown> {
  return bindingBody(b, u, true)
}

/**
 * The two Binding shapes differ only in `user_sid` (user level), `url` and `links` (service level); fields are
 * inserted in the order the helper's BindingInstance / UserBindingInstance read them.
 */
function bindingBody(b: Binding, u: Urls, userLevel: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    sid: b.sid,
    account_sid: b.accountSid,
    service_sid: b.serviceSid,
    date_created: isoDate(b.createdAt),
    date_updated: isoDate(b.updatedAt),
    endpoint: b.endpoint,
    identity: b.identity,
  }
  if (userLevel) out['user_sid'] = b.userSid
  out['credential_sid'] = b.credentialSid
  out['binding_type'] = b.bindingType
  out['message_types'] = b.messageTypes
  if (userLevel) {
    out['url'] = `${u.user(b.serviceSid, b.userSid)}/Bindings/${seg(b.sid)}`
  } else {
    out['url'] = `${u.service(b.serviceSid)}/Bindings/${seg(b.sid)}`
    out['links'] = { user: u.user(b.serviceSid, b.identity) }
  }
  return out
}

/** Credential (§6.9). Secrets are never part of the record. */
export function serializeCredential(c: Credential, u: Urls): Record<string, unknown> {
  return {
    sid: c.sid,
    account_sid: c.accountSid,
    friendly_name: c.friendlyName,
    type: c.type,
    sandbox: c.sandbox,
    date_created: isoDate(c.createdAt),
    date_updated: isoDate(c.updatedAt),
    url: u.credential(c.sid),
  }
}

/** 2010 API key (§14.1): RFC 2822 dates; `secret` only on the create response. */
export function serializeKey2010(k: ApiKey | NewApiKey): Record<string, unknown> {
  const out: Record<string, unknown> = {
    sid: k.sid,
    friendly_name: k.friendlyName,
    date_created: rfc2822Date(k.createdAt),
    date_updated: rfc2822Date(k.updatedAt),
  }
  if ('secret' in k) out['secret'] = k.secret
  return out
}

/** IAM v1 key (§14.2): like the 2010 key plus `policy` (always null: no restricted keys yet). */
export function serializeKeyIam(k: ApiKey | NewApiKey, forList = false): Record<string, unknown> {
  const out = serializeKey2010(k)
  if (forList) out['flags'] = []
  else out['policy'] = null
  return out
}
