/**
 * Domain records and operation inputs of the Parley chat core.
 *
 * Records are camelCase; times are integer milliseconds since the Unix epoch (the HTTP layer formats them as
 * ISO-8601 without milliseconds, the 2010 API as RFC 2822). `attributes` fields are JSON **strings** (`'{}'` when
 * unset), exactly as they go on the wire. Secrets never appear in these records.
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------------------------
// Accounts and keys
// ---------------------------------------------------------------------------------------------------------------

/** An account (`AC`). Its auth token is stored sealed and never returned after {@link BootstrapResult}. */
export interface Account {
  sid: string
  friendlyName: string
  status: 'active' | 'suspended' | 'closed'
  createdAt: number
  updatedAt: number
}

/** An API key (`SK`). The secret is returned only by the create call ({@link NewApiKey}). */
export interface ApiKey {
  sid: string
  accountSid: string
  friendlyName: string
  createdAt: number
  updatedAt: number
}

/** The create response of an API key: the only time the plaintext secret is revealed. */
export interface NewApiKey extends ApiKey {
  secret: string
}

/** What {@link Core.bootstrap} returns, once: plaintext credentials for the first account. */
export interface BootstrapResult {
  account: Account
  authToken: string
  apiKey: NewApiKey
  service: Service
}

/** The principal authenticated by HTTP Basic ({@link Core.authenticateBasic}). */
export interface BasicPrincipal {
  accountSid: string
  /** `account` for AccountSid:AuthToken, `key` for SK:secret. */
  via: 'account' | 'key'
  keySid: string | null
}

// ---------------------------------------------------------------------------------------------------------------
// Services and roles
// ---------------------------------------------------------------------------------------------------------------

/** One push-notification setting (`Notifications.NewMessage.*` etc.). */
export interface NotificationSetting {
  enabled: boolean
  template: string | null
  sound: string | null
}

/** A service's `notifications` object. */
export interface Notifications {
  newMessage: NotificationSetting & { badgeCountEnabled: boolean }
  addedToChannel: NotificationSetting
  removedFromChannel: NotificationSetting
  invitedToChannel: NotificationSetting
  logEnabled: boolean
}

/** A chat service (`IS`) with every setting of chat-rest-v2.md §6.1. */
export interface Service {
  sid: string
  accountSid: string
  friendlyName: string
  createdAt: number
  updatedAt: number
  defaultServiceRoleSid: string
  defaultChannelRoleSid: string
  defaultChannelCreatorRoleSid: string
  readStatusEnabled: boolean
  reachabilityEnabled: boolean
  /** Seconds. */
  typingIndicatorTimeout: number
  consumptionReportInterval: number
  limits: { channelMembers: number; userChannels: number }
  preWebhookUrl: string | null
  postWebhookUrl: string | null
  webhookMethod: 'GET' | 'POST'
  webhookFilters: string[]
  preWebhookRetryCount: number
  postWebhookRetryCount: number
  notifications: Notifications
  media: { sizeLimitMb: number; compatibilityMessage: string | null }
}

/** Role scope: `deployment` is the service scope. */
export type RoleType = 'channel' | 'deployment'

/** A role (`RL`). */
export interface Role {
  sid: string
  accountSid: string
  serviceSid: string
  friendlyName: string
  type: RoleType
  permissions: string[]
  createdAt: number
  updatedAt: number
}

// ---------------------------------------------------------------------------------------------------------------
// Users, channels, members, messages, invites
// ---------------------------------------------------------------------------------------------------------------

/** A user (`US`). `revision` is the `streamSeq` of the user's last event on stream `user:{US}`. */
export interface User {
  sid: string
  accountSid: string
  serviceSid: string
  identity: string
  friendlyName: string | null
  attributes: string
  roleSid: string
  /** Null when reachability is disabled or the user was never online. */
  isOnline: boolean | null
  isNotifiable: boolean | null
  joinedChannelsCount: number
  createdAt: number
  updatedAt: number
  revision: number
}

/** Channel visibility. */
export type ChannelType = 'public' | 'private'

/** A channel (`CH`). `revision` is the `streamSeq` of its last event on `channel:{CH}`. */
export interface Channel {
  sid: string
  accountSid: string
  serviceSid: string
  friendlyName: string | null
  uniqueName: string | null
  attributes: string
  type: ChannelType
  /** Identity of the creator, `system` when created through REST. */
  createdBy: string
  membersCount: number
  messagesCount: number
  /** The index the next message gets (indexes are contiguous from 0 and never reused). */
  nextMessageIndex: number
  /** Index and time of the newest existing message, null when there is none. */
  lastMessageIndex: number | null
  lastMessageAt: number | null
  createdAt: number
  updatedAt: number
  revision: number
}

/** A member (`MB`). `revision` is the `streamSeq` of its last event on `members:{CH}`. */
export interface Member {
  sid: string
  accountSid: string
  serviceSid: string
  channelSid: string
  identity: string
  userSid: string
  roleSid: string
  lastConsumedMessageIndex: number | null
  lastConsumptionTimestamp: number | null
  attributes: string
  createdAt: number
  updatedAt: number
  revision: number
}

/** Media attached to a message. */
export interface MessageMedia {
  sid: string
  contentType: string
  filename: string | null
  size: number
}

/** A message (`IM`). `revision` is the `streamSeq` of its last event on `messages:{CH}`. */
export interface Message {
  sid: string
  accountSid: string
  serviceSid: string
  channelSid: string
  /** Author identity; `system` by default on REST. */
  from: string
  body: string
  attributes: string
  /** Contiguous from 0 per channel, assigned in the write transaction. */
  index: number
  type: 'text' | 'media'
  media: MessageMedia | null
  wasEdited: boolean
  lastUpdatedBy: string | null
  /** Client idempotency key (reliability.md §2.5), null when none was given. */
  clientMessageId: string | null
  /**
   * The author's member SID when the author was a member of the channel at send time, else null (system messages,
   * REST authors who are not members). Absent on messages stored before it existed: read it as null.
   */
  memberSid?: string | null
  createdAt: number
  updatedAt: number
  revision: number
}

/** An invite (`IN`). */
export interface Invite {
  sid: string
  accountSid: string
  serviceSid: string
  channelSid: string
  identity: string
  roleSid: string
  createdBy: string
  createdAt: number
  updatedAt: number
}

/** Status of a user's relation to a channel. */
export type UserChannelStatus = 'joined' | 'invited' | 'notParticipating'

/**
 * A user's relation to a channel (no SID). Stored for joined and invited channels; `revision` is the `streamSeq` of
 * its last event on `userchannels:{US}`.
 */
export interface UserChannel {
  accountSid: string
  serviceSid: string
  channelSid: string
  userSid: string
  identity: string
  memberSid: string | null
  status: UserChannelStatus
  lastConsumedMessageIndex: number | null
  notificationLevel: 'default' | 'muted'
  createdAt: number
  updatedAt: number
  revision: number
}

/** A {@link UserChannel} as read through the core, with the computed unread count. */
export interface UserChannelView extends UserChannel {
  /** Messages after the consumption horizon; null when the user has no horizon yet. */
  unreadMessagesCount: number | null
}

// ---------------------------------------------------------------------------------------------------------------
// Push credentials, bindings, channel webhooks
// ---------------------------------------------------------------------------------------------------------------

/** Push credential type. */
export type PushType = 'gcm' | 'apn' | 'fcm'

/**
 * Binding type: a push channel ({@link PushType}), or `twilsock` for delivery inside the client's Twilsock socket
 * (what `@twilio/notifications` registers with `put_notification_ctx`).
 */
export type BindingType = PushType | 'twilsock'

/** A push credential (`CR`, account level). Its secrets are stored sealed and never returned. */
export interface Credential {
  sid: string
  accountSid: string
  friendlyName: string | null
  type: PushType
  sandbox: string | null
  createdAt: number
  updatedAt: number
}

/**
 * A push binding (`BS`), created by the SDKs. One per `(identity, bindingType, endpoint)`: registering again replaces
 * it.
 */
export interface Binding {
  sid: string
  accountSid: string
  serviceSid: string
  credentialSid: string | null
  userSid: string
  identity: string
  endpoint: string
  bindingType: BindingType
  messageTypes: string[]
  /**
   * Where to deliver: the push token (apn/gcm/fcm registration id) or the Twilsock notification context id. Never
   * shown through REST. Absent on bindings stored before it existed.
   */
  address?: string | null
  createdAt: number
  updatedAt: number
}

/** Configuration of a channel webhook. */
export interface ChannelWebhookConfiguration {
  url: string | null
  method: 'GET' | 'POST'
  filters: string[]
  triggers: string[]
  flowSid: string | null
  retryCount: number
}

/** A channel-scoped webhook (`WH`). */
export interface ChannelWebhook {
  sid: string
  accountSid: string
  serviceSid: string
  channelSid: string
  type: 'webhook' | 'trigger' | 'studio'
  configuration: ChannelWebhookConfiguration
  createdAt: number
  updatedAt: number
}

// ---------------------------------------------------------------------------------------------------------------
// The event log
// ---------------------------------------------------------------------------------------------------------------

/** Every event type of the log (docs/architecture.md "The event log"). */
export type EventType =
  | 'channel_created'
  | 'channel_updated'
  | 'channel_removed'
  | 'message_added'
  | 'message_updated'
  | 'message_removed'
  | 'member_added'
  | 'member_updated'
  | 'member_removed'
  | 'user_created'
  | 'user_updated'
  | 'user_removed'
  | 'reachability_updated'
  | 'user_channel_added'
  | 'user_channel_updated'
  | 'user_channel_removed'
  | 'directory_added'
  | 'directory_updated'
  | 'directory_removed'
  | 'key_removed'

/**
 * One committed event.
 *
 * Streams: `channel:{CH}`, `messages:{CH}` (key = message index), `members:{CH}` (key = member SID),
 * `user:{US}` (key = null, data = the user), `userchannels:{US}` (key = channel SID), `channels:{IS}` (public
 * directory, key = channel SID), `keys:{AC}` (key = SK, `key_removed`).
 */
export interface ChatEvent<T = unknown> {
  /** Global position on this store, strictly increasing in commit order. */
  seq: number
  stream: string
  /** 1, 2, 3, … within `stream`, no gaps. */
  streamSeq: number
  type: EventType
  /** The item key within the stream's object (message index as a decimal string, member SID, channel SID), or null. */
  key: string | null
  /** Snapshot: the entity after the change, or as it was before a removal. */
  data: T
  accountSid: string
  /** Null for account-level streams (`keys:{AC}`). */
  serviceSid: string | null
  createdAt: number
}

// ---------------------------------------------------------------------------------------------------------------
// Actors and pagination
// ---------------------------------------------------------------------------------------------------------------

/** An administrator authenticated with Basic auth (REST). Full access within `accountSid`. */
export interface AdminActor {
  kind: 'admin'
  accountSid: string
}

/** An end user acting through an SDK with an Access Token; roles and permissions apply. */
export interface UserActor {
  kind: 'user'
  accountSid: string
  serviceSid: string
  identity: string
}

/** Who performs an operation. Every core operation takes one. */
export type Actor = AdminActor | UserActor

/** Paging request. `pageSize` is clamped to the list's maximum (chat-rest-v2.md §7); default 50. */
export interface PageRequest {
  pageSize?: number | undefined
  /** An opaque token from a previous {@link Page}. Invalid tokens throw ChatError 20001. */
  pageToken?: string | undefined
}

/** One page of a list. Tokens are opaque, URL-safe and stable (keyset, not offsets). */
export interface Page<T> {
  items: T[]
  /** Null on the last page. */
  nextPageToken: string | null
  /** Null on the first page. */
  previousPageToken: string | null
  /** The effective page size. */
  pageSize: number
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs (all optional fields may be omitted; `null` clears where noted)
// ---------------------------------------------------------------------------------------------------------------

/** Fields of a service update (chat-rest-v2.md §6.1). Nested objects are merged. */
export interface ServiceUpdate {
  friendlyName?: string
  defaultServiceRoleSid?: string
  defaultChannelRoleSid?: string
  defaultChannelCreatorRoleSid?: string
  readStatusEnabled?: boolean
  reachabilityEnabled?: boolean
  typingIndicatorTimeout?: number
  consumptionReportInterval?: number
  notifications?: {
    newMessage?: Partial<Notifications['newMessage']>
    addedToChannel?: Partial<NotificationSetting>
    removedFromChannel?: Partial<NotificationSetting>
    invitedToChannel?: Partial<NotificationSetting>
    logEnabled?: boolean
  }
  preWebhookUrl?: string | null
  postWebhookUrl?: string | null
  webhookMethod?: string
  webhookFilters?: string[]
  preWebhookRetryCount?: number
  postWebhookRetryCount?: number
  limits?: { channelMembers?: number; userChannels?: number }
  media?: { compatibilityMessage?: string | null }
}

/** Channel create input. `createdBy` is honoured for admins only. */
export interface ChannelCreate {
  friendlyName?: string | null
  uniqueName?: string | null
  attributes?: string | null
  type?: string
  createdBy?: string
  dateCreated?: number
  dateUpdated?: number
}

/** Channel update input (no `type`). */
export interface ChannelUpdate {
  friendlyName?: string | null
  uniqueName?: string | null
  attributes?: string | null
  createdBy?: string
  dateCreated?: number
  dateUpdated?: number
}

/** Member create input. */
export interface MemberCreate {
  identity: string
  roleSid?: string
  lastConsumedMessageIndex?: number | null
  lastConsumptionTimestamp?: number | null
  attributes?: string | null
  dateCreated?: number
  dateUpdated?: number
}

/** Member update input. */
export type MemberUpdate = Omit<MemberCreate, 'identity'>

/** Message create input. `from` is honoured for admins only (users always author as their identity). */
export interface MessageCreate {
  from?: string | null
  body?: string | null
  attributes?: string | null
  mediaSid?: string | null
  /** Media metadata when the message carries media (set by the media/upload layer). */
  media?: MessageMedia | null
  lastUpdatedBy?: string | null
  dateCreated?: number
  dateUpdated?: number
  /** Idempotency key (reliability.md §2.5). */
  clientMessageId?: string | null
}

/** Message update input. */
export interface MessageUpdate {
  body?: string | null
  attributes?: string | null
  from?: string | null
  lastUpdatedBy?: string | null
  dateCreated?: number
  dateUpdated?: number
}

/** Invite create input. */
export interface InviteCreate {
  identity: string
  roleSid?: string
}

/** Role create input. */
export interface RoleCreate {
  friendlyName: string
  type: string
  permissions: string[]
}

/** User create input. */
export interface UserCreate {
  identity: string
  roleSid?: string
  attributes?: string | null
  friendlyName?: string | null
}

/** User update input. */
export type UserUpdate = Omit<UserCreate, 'identity'>

/** UserChannel update input. */
export interface UserChannelUpdate {
  notificationLevel?: string
  lastConsumedMessageIndex?: number | null
  lastConsumptionTimestamp?: number | null
}

/** Credential create/update input. Secrets are sealed at rest and never returned. */
export interface CredentialInput {
  type?: string
  friendlyName?: string | null
  certificate?: string | null
  privateKey?: string | null
  sandbox?: boolean | null
  apiKey?: string | null
  secret?: string | null
}

/** Binding create input (SDK registration). */
export interface BindingCreate {
  endpoint: string
  bindingType: string
  credentialSid?: string | null
  /** REST names (`new_message`, …); default: the four chat notification types. */
  messageTypes?: string[]
  address?: string | null
}

/**
 * A registration as an SDK sends it (Twilsock `put_notification_ctx`, or an `ers` registration).
 * `messageTypes` may carry the SDK's prefixed names (`twilio.channel.new_message`); types that are not chat
 * notification types are dropped.
 */
export interface ClientBindingInput {
  endpoint: string
  bindingType: string
  messageTypes: readonly string[]
  credentialSid?: string | null
  address?: string | null
}

/**
 * Which of the actor's client registrations of `bindingType` to remove: those matching every field given (at least
 * one of `endpoint` and `address`).
 */
export interface ClientBindingRef {
  bindingType: string
  endpoint?: string
  /** With `endpoint`: a stale address (one a newer registration on the endpoint replaced) removes nothing. */
  address?: string | null
}

/** Channel webhook create/update input. */
export interface ChannelWebhookInput {
  type?: string
  configuration?: {
    url?: string | null
    method?: string
    filters?: string[]
    triggers?: string[]
    flowSid?: string | null
    retryCount?: number
  }
}
