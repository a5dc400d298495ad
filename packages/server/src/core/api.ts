/**
 * The operations of the chat core, as the REST (`http/`) and realtime (`realtime/`, `compat/twilio/`) layers call
 * them. Built by `createCore(deps)` in `core/create-core.ts`.
 *
 * Conventions:
 * - Every operation takes an {@link Actor} first. `admin` (Basic auth) may do anything inside its account; `user`
 *   (Access Token) is checked against roles and permissions (chat-rest-v2.md §11, reliability.md §2.1), is confined
 *   to its own service, and is auto-created as a User (default service role) on its first write.
 * - Resources outside the actor's account or service are reported as not found (no IDOR leak).
 * - Errors are {@link ChatError}s with Twilio codes; infrastructure failures are 52001 (503).
 * - `ref` parameters accept a SID or a name: channels by SID or unique name, users and members by SID or identity.
 * - Lists take a {@link PageRequest} and return a {@link Page} with opaque keyset tokens.
 *
 * @module
 */
import type {
  Account,
  Actor,
  ApiKey,
  BasicPrincipal,
  Binding,
  BindingCreate,
  BootstrapResult,
  ClientBindingInput,
  ClientBindingRef,
  Channel,
  ChannelCreate,
  ChannelUpdate,
  ChannelWebhook,
  ChannelWebhookInput,
  ChatEvent,
  Credential,
  CredentialInput,
  Invite,
  InviteCreate,
  Member,
  MemberCreate,
  MemberUpdate,
  Message,
  MessageCreate,
  MessageUpdate,
  NewApiKey,
  Page,
  PageRequest,
  Role,
  RoleCreate,
  Service,
  ServiceUpdate,
  User,
  UserChannelUpdate,
  UserChannelView,
  UserCreate,
  UserUpdate,
} from './types.ts'

/** Message list order. */
export type Order = 'asc' | 'desc'

/** Result of a message create: `duplicate` is true when `clientMessageId` matched an earlier message. */
export interface MessageCreateResult {
  message: Message
  duplicate: boolean
}

/** Accounts and API keys (the 2010 `Keys` and IAM `v1/Keys` resources) and authentication. */
export interface AccountsApi {
  /** Creates an account with a fresh auth token (returned once). Admin tooling only. */
  create(input: { friendlyName?: string }): Promise<{ account: Account; authToken: string }>
  fetch(actor: Actor, accountSid: string): Promise<Account>
}

/** API keys of an account. */
export interface KeysApi {
  /** @throws {ChatError} 20001 friendly name longer than 64. The secret is in the result only. */
  create(actor: Actor, input: { friendlyName?: string }): Promise<NewApiKey>
  list(actor: Actor, page?: PageRequest): Promise<Page<ApiKey>>
  fetch(actor: Actor, keySid: string): Promise<ApiKey>
  update(actor: Actor, keySid: string, input: { friendlyName?: string }): Promise<ApiKey>
  /** Deletes the key; afterwards `resolveApiKey` returns undefined and a `key_revoked` bus notice is published. */
  delete(actor: Actor, keySid: string): Promise<void>
}

/** Services. Admin only. */
export interface ServicesApi {
  create(actor: Actor, input: { friendlyName: string }): Promise<Service>
  list(actor: Actor, page?: PageRequest): Promise<Page<Service>>
  fetch(actor: Actor, serviceSid: string): Promise<Service>
  update(actor: Actor, serviceSid: string, input: ServiceUpdate): Promise<Service>
  delete(actor: Actor, serviceSid: string): Promise<void>
}

/** Roles of a service. Admin only for writes. */
export interface RolesApi {
  create(actor: Actor, serviceSid: string, input: RoleCreate): Promise<Role>
  list(actor: Actor, serviceSid: string, page?: PageRequest): Promise<Page<Role>>
  fetch(actor: Actor, serviceSid: string, roleSid: string): Promise<Role>
  /** Replaces the whole permission list. */
  update(
    actor: Actor,
    serviceSid: string,
    roleSid: string,
    input: { permissions: string[] },
  ): Promise<Role>
  delete(actor: Actor, serviceSid: string, roleSid: string): Promise<void>
}

/** Users of a service. */
export interface UsersApi {
  create(actor: Actor, serviceSid: string, input: UserCreate): Promise<User>
  list(actor: Actor, serviceSid: string, page?: PageRequest): Promise<Page<User>>
  /** `ref` is a US SID or an identity. `isOnline`/`isNotifiable` are set on fetch only. */
  fetch(actor: Actor, serviceSid: string, ref: string): Promise<User>
  update(actor: Actor, serviceSid: string, ref: string, input: UserUpdate): Promise<User>
  /** Removes the user and all its memberships and invites. */
  delete(actor: Actor, serviceSid: string, ref: string): Promise<void>
  /**
   * Returns the actor's User, creating it with the service's default service role if needed (call on connect).
   * @throws {ChatError} 50203/50206/50207 invalid identity.
   */
  ensure(actor: Actor & { kind: 'user' }): Promise<User>
  /**
   * Records reachability (realtime layer); emits `reachability_updated` when reachability is enabled and it changed.
   * Writes nothing when the service has reachability disabled or the state is already `online` (one read only);
   * then resolves with the user, or undefined when the user does not exist yet.
   */
  setOnline(actor: Actor & { kind: 'user' }, online: boolean): Promise<User | undefined>
}

/** Channels of a service. */
export interface ChannelsApi {
  create(actor: Actor, serviceSid: string, input: ChannelCreate): Promise<Channel>
  /**
   * Admin: every channel (filtered by `types`). User: the public directory only (`types` is ignored); a user's
   * private channels are listed through {@link UserChannelsApi.list}.
   */
  list(
    actor: Actor,
    serviceSid: string,
    filter?: { types?: string[] },
    page?: PageRequest,
  ): Promise<Page<Channel>>
  /** `ref` is a CH SID or a unique name. */
  fetch(actor: Actor, serviceSid: string, ref: string): Promise<Channel>
  update(actor: Actor, serviceSid: string, ref: string, input: ChannelUpdate): Promise<Channel>
  /** Cascades members, messages, invites and webhooks, emitting removal events. */
  delete(actor: Actor, serviceSid: string, ref: string): Promise<void>
}

/**
 * What members and invites have in common: one entry per identity in a channel. `ref` is an MB/IN SID, or (members)
 * an identity. Users read them only as members of the channel.
 */
export interface ChannelRosterApi<T, Create> {
  create(actor: Actor, serviceSid: string, channelRef: string, input: Create): Promise<T>
  list(
    actor: Actor,
    serviceSid: string,
    channelRef: string,
    filter?: { identities?: string[] },
    page?: PageRequest,
  ): Promise<Page<T>>
  fetch(actor: Actor, serviceSid: string, channelRef: string, ref: string): Promise<T>
  delete(actor: Actor, serviceSid: string, channelRef: string, ref: string): Promise<void>
}

/** Members of a channel. */
export interface MembersApi extends ChannelRosterApi<Member, MemberCreate> {
  update(
    actor: Actor,
    serviceSid: string,
    channelRef: string,
    ref: string,
    input: MemberUpdate,
  ): Promise<Member>
}

/** Messages of a channel. */
export interface MessagesApi {
  /** Assigns the next contiguous index in the write transaction; idempotent on `clientMessageId`. */
  create(
    actor: Actor,
    serviceSid: string,
    channelRef: string,
    input: MessageCreate,
  ): Promise<MessageCreateResult>
  list(
    actor: Actor,
    serviceSid: string,
    channelRef: string,
    options?: { order?: Order },
    page?: PageRequest,
  ): Promise<Page<Message>>
  fetch(actor: Actor, serviceSid: string, channelRef: string, messageSid: string): Promise<Message>
  /** Fetch by index (SDK `getMessages` anchors). */
  fetchByIndex(
    actor: Actor,
    serviceSid: string,
    channelRef: string,
    index: number,
  ): Promise<Message>
  update(
    actor: Actor,
    serviceSid: string,
    channelRef: string,
    messageSid: string,
    input: MessageUpdate,
  ): Promise<Message>
  delete(actor: Actor, serviceSid: string, channelRef: string, messageSid: string): Promise<void>
}

/** Invites of a channel. */
export type InvitesApi = ChannelRosterApi<Invite, InviteCreate>

/** A user's channels (`/Users/{US}/Channels`). */
export interface UserChannelsApi {
  list(
    actor: Actor,
    serviceSid: string,
    userRef: string,
    page?: PageRequest,
  ): Promise<Page<UserChannelView>>
  fetch(
    actor: Actor,
    serviceSid: string,
    userRef: string,
    channelRef: string,
  ): Promise<UserChannelView>
  update(
    actor: Actor,
    serviceSid: string,
    userRef: string,
    channelRef: string,
    input: UserChannelUpdate,
  ): Promise<UserChannelView>
  /** Removes the user from the channel (leaves / removes the membership, or declines the invite). */
  delete(actor: Actor, serviceSid: string, userRef: string, channelRef: string): Promise<void>
}

/** Push credentials (account level). Admin only. */
export interface CredentialsApi {
  create(actor: Actor, input: CredentialInput): Promise<Credential>
  list(actor: Actor, page?: PageRequest): Promise<Page<Credential>>
  fetch(actor: Actor, credentialSid: string): Promise<Credential>
  update(actor: Actor, credentialSid: string, input: CredentialInput): Promise<Credential>
  delete(actor: Actor, credentialSid: string): Promise<void>
}

/**
 * Push bindings. Created by the SDKs (user actor), listed/fetched/deleted by REST. One binding per
 * `(identity, bindingType, endpoint)`; at most `LIMITS.bindingsPerType` (20) per identity and type (registering one
 * more drops the least recently registered). A user is `isNotifiable` while it has an apn/gcm/fcm binding.
 */
export interface BindingsApi {
  /**
   * Registers (or re-registers) a binding with REST message type names.
   * @throws {ChatError} 20001 unknown binding or message type, invalid endpoint or address; 20404 unknown credential.
   */
  create(actor: Actor & { kind: 'user' }, input: BindingCreate): Promise<Binding>
  /**
   * Registers a binding from what an SDK sent (`put_notification_ctx`, `ers` registrations): message types may
   * carry the SDK prefix (`twilio.channel.new_message`) and unknown ones are dropped.
   * @throws {ChatError} 20001 unknown binding type, invalid endpoint or address; 20404 unknown credential.
   */
  upsertFromClient(actor: Actor & { kind: 'user' }, input: ClientBindingInput): Promise<Binding>
  /**
   * Removes the actor's bindings of `ref.bindingType` that match `ref.endpoint` and/or `ref.address`; false if none did.
   * @throws {ChatError} 20001 unknown binding type, or neither endpoint nor address.
   */
  deleteFromClient(actor: Actor & { kind: 'user' }, ref: ClientBindingRef): Promise<boolean>
  list(
    actor: Actor,
    serviceSid: string,
    filter?: { bindingTypes?: string[]; identities?: string[]; userRef?: string },
    page?: PageRequest,
  ): Promise<Page<Binding>>
  fetch(actor: Actor, serviceSid: string, bindingSid: string, userRef?: string): Promise<Binding>
  delete(actor: Actor, serviceSid: string, bindingSid: string, userRef?: string): Promise<void>
}

/** Channel webhooks (at most 5 per channel). Admin only. */
export interface WebhooksApi {
  create(
    actor: Actor,
    serviceSid: string,
    channelRef: string,
    input: ChannelWebhookInput,
  ): Promise<ChannelWebhook>
  list(
    actor: Actor,
    serviceSid: string,
    channelRef: string,
    page?: PageRequest,
  ): Promise<Page<ChannelWebhook>>
  fetch(
    actor: Actor,
    serviceSid: string,
    channelRef: string,
    webhookSid: string,
  ): Promise<ChannelWebhook>
  update(
    actor: Actor,
    serviceSid: string,
    channelRef: string,
    webhookSid: string,
    input: ChannelWebhookInput,
  ): Promise<ChannelWebhook>
  delete(actor: Actor, serviceSid: string, channelRef: string, webhookSid: string): Promise<void>
}

/**
 * Reading the event log. Live delivery without gap or duplicate:
 * 1. `bus.subscribe(...)` first and buffer `events` notices for the streams you follow;
 * 2. `events.readStream(stream, lastSeenStreamSeq)` (repeat while a full page comes back) and deliver;
 * 3. then deliver buffered and live events, dropping any with `streamSeq <= delivered`; if one arrives with
 *    `streamSeq > delivered + 1`, read the gap with `readStream(stream, delivered)` first.
 * Access checks are the caller's job here (check membership with the resource APIs before following a stream).
 */
export interface EventsApi {
  readStream(stream: string, afterStreamSeq: number, limit?: number): Promise<ChatEvent[]>
  lastSeq(stream: string): Promise<number>
  readAfter(afterSeq: number, limit?: number): Promise<ChatEvent[]>
  head(): Promise<number>
}

/** The whole core. */
export interface Core {
  accounts: AccountsApi
  keys: KeysApi
  services: ServicesApi
  roles: RolesApi
  users: UsersApi
  channels: ChannelsApi
  members: MembersApi
  messages: MessagesApi
  invites: InvitesApi
  userChannels: UserChannelsApi
  credentials: CredentialsApi
  bindings: BindingsApi
  webhooks: WebhooksApi
  events: EventsApi
  /**
   * Checks HTTP Basic credentials: `AC…:authToken` or `SK…:secret`. Constant-time over SHA-256 digests; unknown
   * SIDs go through a dummy comparison.
   * @throws {ChatError} 20003 on any failure (uniform: same code and message whatever went wrong).
   */
  authenticateBasic(username: string, password: string): Promise<BasicPrincipal>
  /** The decrypted secret and account of an active API key, for Access Token verification; undefined if unknown. */
  resolveApiKey(keySid: string): Promise<{ secret: string; accountSid: string } | undefined>
  /** The decrypted auth token of an account (webhook signing); undefined if unknown. */
  resolveAuthToken(accountSid: string): Promise<string | undefined>
  /**
   * Creates an account (AC + auth token), an API key and a default service, and returns the plaintext credentials
   * once. Idempotent only in the sense that each call creates a new account.
   */
  bootstrap(input?: {
    friendlyName?: string
    serviceFriendlyName?: string
  }): Promise<BootstrapResult>
  /** Whether any account exists (the serve command bootstraps when none does). */
  hasAccounts(): Promise<boolean>
}
