/**
 * Validation rules and constants of the chat domain (chat-rest-v2.md §6, §9, §11; access-tokens.md §6).
 *
 * Pure functions: they throw {@link ChatError} with the Twilio code of the violated rule.
 *
 * @module
 */
import { ChatError } from '@parley/token'
import type { BindingType, PushType, RoleType, Service } from './types.ts'

/** Limits (bytes are UTF-8 bytes). */
export const LIMITS = {
  identity: 256,
  friendlyNameCreateChannel: 64,
  friendlyName: 256,
  uniqueNameCreate: 64,
  uniqueNameUpdate: 256,
  keyFriendlyName: 64,
  messageBodyBytes: 32 * 1024,
  messageAttributesBytes: 4 * 1024,
  channelAttributesBytes: 16 * 1024,
  userAttributesBytes: 16 * 1024,
  memberAttributesBytes: 16 * 1024,
  defaultChannelMembers: 100,
  defaultUserChannels: 250,
  maxServiceLimit: 1000,
  webhooksPerChannel: 5,
  webhookTriggers: 5,
  /** Bindings per identity and binding type; registering one more drops the least recently registered. */
  bindingsPerType: 20,
  /** Binding `endpoint` and `address` length. */
  bindingField: 1024,
} as const

/** SID pattern of a prefix (case-insensitive hex, as the OAI spec allows). */
export function isSid(prefix: string, value: string): boolean {
  return (
    typeof value === 'string' &&
    value.length === 34 &&
    value.startsWith(prefix) &&
    /^[0-9a-fA-F]{32}$/.test(value.slice(2))
  )
}

const CONTROL = /\p{Cc}/u
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Whether `s` has no control characters and no lone surrogates. */
export function isCleanText(s: string): boolean {
  return !CONTROL.test(s) && !LONE_SURROGATE.test(s)
}

/** Reserved identities (50203). */
export const RESERVED_IDENTITIES: ReadonlySet<string> = new Set(['system', 'private', 'unique'])

/**
 * Validates an identity.
 *
 * @throws {ChatError} 20001 empty, not a string, control characters or lone surrogates; 50207 longer than 256;
 * 50206 shaped like a user SID; 50203 reserved.
 */
export function checkIdentity(identity: unknown): string {
  if (typeof identity !== 'string' || identity.length === 0)
    throw new ChatError(20001, 'Identity is required')
  if (identity.length > LIMITS.identity) throw new ChatError(50207)
  if (!isCleanText(identity)) throw new ChatError(20001, 'Identity contains invalid characters')
  if (/^US[0-9a-fA-F]{32}$/.test(identity)) throw new ChatError(50206)
  if (RESERVED_IDENTITIES.has(identity)) throw new ChatError(50203)
  return identity
}

/** UTF-8 length of a string without allocating (lone surrogates count 3, as the encoder's U+FFFD would). */
export function utf8Length(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4
        i++
      } else n += 3
    } else n += 3
  }
  return n
}

/**
 * Validates an `attributes` value: null/undefined/empty → `'{}'`; otherwise a valid JSON text within `maxBytes`.
 *
 * @throws {ChatError} `tooLongCode` (default 20001) when longer than `maxBytes`; 20001 when not valid JSON.
 */
export function checkAttributes(
  value: string | null | undefined,
  maxBytes: number,
  tooLongCode: 20001 | 50303 = 20001,
): string {
  if (value === null || value === undefined || value === '') return '{}'
  if (typeof value !== 'string') throw new ChatError(20001, 'Attributes must be a JSON string')
  if (utf8Length(value) > maxBytes) {
    throw new ChatError(
      tooLongCode,
      tooLongCode === 50303 ? undefined : `Attributes exceed ${maxBytes} bytes`,
    )
  }
  try {
    JSON.parse(value)
  } catch {
    throw new ChatError(20001, 'Attributes must be valid JSON')
  }
  return value
}

/**
 * Validates a message body: null/undefined → `''`.
 *
 * @throws {ChatError} 50504 longer than 32 KiB of UTF-8; 20001 not a string or with lone surrogates.
 */
export function checkBody(body: string | null | undefined): string {
  if (body === null || body === undefined) return ''
  if (typeof body !== 'string') throw new ChatError(20001, 'Body must be a string')
  if (body.length > LIMITS.messageBodyBytes / 4 && utf8Length(body) > LIMITS.messageBodyBytes) {
    throw new ChatError(50504)
  }
  if (LONE_SURROGATE.test(body)) throw new ChatError(20001, 'Body is not well-formed Unicode')
  return body
}

/** An optional date: integer milliseconds since the epoch. */
function checkDate(v: number | undefined, name: string): number | undefined {
  if (v === undefined) return undefined
  if (!Number.isSafeInteger(v) || v < 0) throw new ChatError(20001, `${name} is not a valid date`)
  return v
}

/**
 * Validates the `DateCreated` / `DateUpdated` pair of an input (admins importing history).
 *
 * @throws {ChatError} 20001 either is not a non-negative safe integer.
 */
export function checkDates(input: { dateCreated?: number; dateUpdated?: number }): {
  createdAt: number | undefined
  updatedAt: number | undefined
} {
  return {
    createdAt: checkDate(input.dateCreated, 'DateCreated'),
    updatedAt: checkDate(input.dateUpdated, 'DateUpdated'),
  }
}

/**
 * Validates a friendly name: null/undefined/empty → null.
 *
 * @throws {ChatError} 20001 longer than `max` or with control characters.
 */
export function checkFriendlyName(value: string | null | undefined, max: number): string | null {
  if (value === null || value === undefined || value === '') return null
  if (typeof value !== 'string') throw new ChatError(20001, 'FriendlyName must be a string')
  if (value.length > max)
    throw new ChatError(20001, `FriendlyName is longer than ${max} characters`)
  if (!isCleanText(value)) throw new ChatError(20001, 'FriendlyName contains invalid characters')
  return value
}

/**
 * Validates a channel unique name: null/undefined/empty → null.
 *
 * @throws {ChatError} 50306 shaped like a channel SID; 20001 too long or with control characters.
 */
export function checkUniqueName(value: string | null | undefined, max: number): string | null {
  if (value === null || value === undefined || value === '') return null
  if (typeof value !== 'string') throw new ChatError(20001, 'UniqueName must be a string')
  if (/^CH[0-9a-fA-F]{32}$/.test(value)) throw new ChatError(50306)
  if (value.length > max) throw new ChatError(20001, `UniqueName is longer than ${max} characters`)
  if (!isCleanText(value)) throw new ChatError(20001, 'UniqueName contains invalid characters')
  return value
}

/**
 * Validates a role type.
 *
 * @throws {ChatError} 50105 not `channel` or `deployment`.
 */
export function checkRoleType(type: unknown): RoleType {
  if (type === 'channel' || type === 'deployment') return type
  throw new ChatError(50105)
}

/**
 * Validates a permission list for a role scope; removes duplicates, keeps order.
 *
 * @throws {ChatError} 50104 a permission invalid for the scope; 20001 an empty list.
 */
export function checkPermissions(type: RoleType, permissions: readonly unknown[]): string[] {
  if (!Array.isArray(permissions) || permissions.length === 0)
    throw new ChatError(20001, 'Permission is required')
  const valid = type === 'channel' ? CHANNEL_PERMISSIONS : DEPLOYMENT_PERMISSIONS
  const out: string[] = []
  for (const p of permissions) {
    if (typeof p !== 'string' || !valid.includes(p)) {
      throw new ChatError(
        50104,
        `Permission not found: ${typeof p === 'string' ? p.slice(0, 64) : typeof p}`,
      )
    }
    if (!out.includes(p)) out.push(p)
  }
  return out
}

/** What every user may do in a service (the `service user` role). */
const SERVICE_USER_PERMISSIONS = ['createChannel', 'joinChannel', 'editOwnUserInfo'] as const

/** What every member may do in a channel (the `channel user` role). */
const CHANNEL_USER_PERMISSIONS = [
  'sendMessage',
  'sendMediaMessage',
  'leaveChannel',
  'editNotificationLevel',
  'editOwnMessage',
  'editOwnMessageAttributes',
  'deleteOwnMessage',
  'editOwnMemberAttributes',
] as const

/** Moderation of other people's messages. */
const MESSAGE_MODERATION = [
  'editAnyMessage',
  'editAnyMessageAttributes',
  'deleteAnyMessage',
] as const

/**
 * The four default roles created with every service. The channel user list is the extended one of §11 (the
 * twilio-node fixture plus `sendMediaMessage`, `editNotificationLevel`, `editOwnMemberAttributes`,
 * `editOwnMessageAttributes`), so SDK users can do what the Twilio SDKs expect of a plain member. The admin roles add
 * moderation to the user roles.
 */
export const DEFAULT_ROLES = {
  serviceAdmin: {
    friendlyName: 'service admin',
    type: 'deployment',
    permissions: [
      ...SERVICE_USER_PERMISSIONS,
      'destroyChannel',
      'inviteMember',
      'removeMember',
      'editChannelName',
      'editChannelAttributes',
      'addMember',
      ...MESSAGE_MODERATION,
      'editAnyUserInfo',
      'editAnyMemberAttributes',
    ],
  },
  serviceUser: {
    friendlyName: 'service user',
    type: 'deployment',
    permissions: SERVICE_USER_PERMISSIONS,
  },
  channelAdmin: {
    friendlyName: 'channel admin',
    type: 'channel',
    permissions: [
      ...CHANNEL_USER_PERMISSIONS,
      'addMember',
      'inviteMember',
      'removeMember',
      'destroyChannel',
      'editChannelName',
      'editChannelAttributes',
      ...MESSAGE_MODERATION,
      'editAnyMemberAttributes',
    ],
  },
  channelUser: {
    friendlyName: 'channel user',
    type: 'channel',
    permissions: CHANNEL_USER_PERMISSIONS,
  },
} as const satisfies Record<
  string,
  { friendlyName: string; type: RoleType; permissions: readonly string[] }
>

/** Permissions valid on channel roles (chat-rest-v2.md §11): exactly those of the `channel admin` role. */
export const CHANNEL_PERMISSIONS: readonly string[] = DEFAULT_ROLES.channelAdmin.permissions

/**
 * Permissions valid on service (`deployment`) roles (chat-rest-v2.md §11): the `service admin` role's, plus editing
 * one's own messages (valid in a service role, not granted by default).
 */
export const DEPLOYMENT_PERMISSIONS: readonly string[] = [
  ...DEFAULT_ROLES.serviceAdmin.permissions,
  'editOwnMessage',
  'editOwnMessageAttributes',
]

/** Post-event and pre-event webhook names accepted in `WebhookFilters` (chat-rest-v2.md §12). */
export const WEBHOOK_EVENTS: ReadonlySet<string> = new Set([
  'onMessageSend',
  'onMessageUpdate',
  'onMessageRemove',
  'onMediaMessageSend',
  'onChannelAdd',
  'onChannelUpdate',
  'onChannelDestroy',
  'onMemberAdd',
  'onMemberUpdate',
  'onMemberRemove',
  'onUserUpdate',
  'onMessageSent',
  'onMessageUpdated',
  'onMessageRemoved',
  'onMediaMessageSent',
  'onChannelAdded',
  'onChannelUpdated',
  'onChannelDestroyed',
  'onMemberAdded',
  'onMemberUpdated',
  'onMemberRemoved',
  'onUserAdded',
  'onUserUpdated',
])

/**
 * Validates an integer in a range.
 *
 * @throws {ChatError} `code` (default 20001) when not an integer in `[min, max]`.
 */
export function checkInt(
  value: unknown,
  min: number,
  max: number,
  name: string,
  code: 20001 | 50061 = 20001,
): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ChatError(
      code,
      code === 50061 ? undefined : `${name} must be an integer between ${min} and ${max}`,
    )
  }
  return value
}

/** The service settings every new service starts with (chat-rest-v2.md §6.1, §9). */
export function defaultServiceSettings(): Omit<
  Service,
  | 'sid'
  | 'accountSid'
  | 'friendlyName'
  | 'createdAt'
  | 'updatedAt'
  | 'defaultServiceRoleSid'
  | 'defaultChannelRoleSid'
  | 'defaultChannelCreatorRoleSid'
> {
  const off = () => ({ enabled: false, template: null, sound: null })
  return {
    readStatusEnabled: true,
    reachabilityEnabled: false,
    typingIndicatorTimeout: 5,
    consumptionReportInterval: 10,
    limits: {
      channelMembers: LIMITS.defaultChannelMembers,
      userChannels: LIMITS.defaultUserChannels,
    },
    preWebhookUrl: null,
    postWebhookUrl: null,
    webhookMethod: 'POST',
    webhookFilters: [],
    preWebhookRetryCount: 0,
    postWebhookRetryCount: 0,
    notifications: {
      newMessage: { ...off(), badgeCountEnabled: false },
      addedToChannel: off(),
      removedFromChannel: off(),
      invitedToChannel: off(),
      logEnabled: false,
    },
    media: { sizeLimitMb: 150, compatibilityMessage: null },
  }
}

/** Push channels: credential types, and the binding types that make a user `isNotifiable`. */
export const PUSH_TYPES: readonly PushType[] = ['gcm', 'apn', 'fcm']

/** Every binding type: the push channels plus `twilsock` (in-socket delivery, `put_notification_ctx`). */
export const BINDING_TYPES: readonly BindingType[] = [...PUSH_TYPES, 'twilsock']

/** The chat notification types a binding is registered for by default (chat-rest-v2.md §6.7). */
export const DEFAULT_BINDING_MESSAGE_TYPES: readonly string[] = [
  'removed_from_channel',
  'new_message',
  'added_to_channel',
  'invited_to_channel',
]

/**
 * Every chat notification type a binding may carry: the defaults plus `consumption_update`, which twilio-chat 6 also
 * subscribes (as `twilio.channel.consumption_update`).
 */
export const BINDING_MESSAGE_TYPES: readonly string[] = [
  ...DEFAULT_BINDING_MESSAGE_TYPES,
  'consumption_update',
]
