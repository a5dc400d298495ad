/**
 * The Store port: an async transaction runner over typed repositories, plus the event log.
 *
 * Written for SQLite (the default adapter, single writer, group commit) and for a later PostgreSQL adapter. All
 * business rules live in `core/`; a repository only reads and writes rows and enforces uniqueness constraints.
 *
 * @module
 */
import type {
  Account,
  ApiKey,
  Binding,
  Channel,
  ChannelWebhook,
  ChatEvent,
  Credential,
  EventType,
  Invite,
  Member,
  Message,
  Role,
  Service,
  User,
  UserChannel,
} from '../core/types.ts'

/**
 * A keyset position. For messages `[index]`; for user channels `[createdAt, channelSid]`; for everything else
 * `[createdAt, sid]`.
 */
export type SortKey = readonly (string | number)[]

/**
 * A keyset page query over a list whose natural order is ascending by its {@link SortKey} (or descending with `desc`).
 *
 * Contract: results MUST be in list order (ascending unless `desc`). With `after`, only rows strictly after the key in
 * list order; with `before`, the **last** `limit` rows strictly before the key in list order (still returned in list
 * order). At most `limit` rows. `after` and `before` MUST NOT both be set.
 */
export interface PageQuery {
  limit: number
  after?: SortKey | undefined
  before?: SortKey | undefined
  desc?: boolean | undefined
}

/** An account row: the account plus its sealed auth token. */
export interface AccountRow extends Account {
  /** Sealed with AAD `accountSid|auth|v1`. */
  authTokenSealed: string
}

/** An API key row: the key plus its sealed secret. */
export interface ApiKeyRow extends ApiKey {
  /** Sealed with AAD `accountSid|keySid|v1`. */
  secretSealed: string
}

/** A credential row: the credential plus its sealed secrets (a JSON object, sealed as one string). */
export interface CredentialRow extends Credential {
  secretsSealed: string | null
}

/** An event before the store assigns `seq`. */
export interface NewEvent {
  stream: string
  /** MUST be exactly `lastSeq(stream) + 1` as read in the same transaction. */
  streamSeq: number
  type: EventType
  key: string | null
  data: unknown
  accountSid: string
  serviceSid: string | null
  createdAt: number
}

/** Read access to one kind of row keyed by SID. */
export interface Getter<T> {
  get(sid: string): Promise<T | undefined>
}

/** Insert-or-replace and delete by SID. */
export interface Writer<T> {
  /**
   * Inserts or replaces the row with the same primary key. MUST throw {@link StoreConflictError} when a unique
   * constraint other than the primary key is violated.
   */
  put(row: T): Promise<void>
  delete(sid: string): Promise<void>
}

/** Read-only repositories available in every transaction. */
export interface ReadRepos {
  accounts: Getter<AccountRow> & { list(q: PageQuery): Promise<AccountRow[]> }
  apiKeys: Getter<ApiKeyRow> & { list(accountSid: string, q: PageQuery): Promise<ApiKeyRow[]> }
  services: Getter<Service> & { list(accountSid: string, q: PageQuery): Promise<Service[]> }
  roles: Getter<Role> & { list(serviceSid: string, q: PageQuery): Promise<Role[]> }
  users: Getter<User> & {
    getByIdentity(serviceSid: string, identity: string): Promise<User | undefined>
    list(serviceSid: string, q: PageQuery): Promise<User[]>
  }
  channels: Getter<Channel> & {
    getByUniqueName(serviceSid: string, uniqueName: string): Promise<Channel | undefined>
    /** `types` empty or undefined = all types. */
    list(
      serviceSid: string,
      filter: { types?: readonly string[] | undefined },
      q: PageQuery,
    ): Promise<Channel[]>
  }
  members: Getter<Member> & {
    getByIdentity(channelSid: string, identity: string): Promise<Member | undefined>
    /** `identities` empty or undefined = all. */
    list(
      channelSid: string,
      filter: { identities?: readonly string[] | undefined },
      q: PageQuery,
    ): Promise<Member[]>
  }
  messages: Getter<Message> & {
    getByIndex(channelSid: string, index: number): Promise<Message | undefined>
    getByClientId(
      channelSid: string,
      from: string,
      clientMessageId: string,
    ): Promise<Message | undefined>
    /** Keyset on `[index]`. */
    list(channelSid: string, q: PageQuery): Promise<Message[]>
    /** How many messages of the channel exist with `index > afterIndex` (unread counts). */
    countAfter(channelSid: string, afterIndex: number): Promise<number>
  }
  invites: Getter<Invite> & {
    getByIdentity(channelSid: string, identity: string): Promise<Invite | undefined>
    list(
      channelSid: string,
      filter: { identities?: readonly string[] | undefined },
      q: PageQuery,
    ): Promise<Invite[]>
  }
  userChannels: {
    get(userSid: string, channelSid: string): Promise<UserChannel | undefined>
    /** Keyset on `[createdAt, channelSid]`. */
    list(userSid: string, q: PageQuery): Promise<UserChannel[]>
    /** Every row for a channel (for cascades); unpaged. */
    listByChannel(channelSid: string): Promise<UserChannel[]>
  }
  credentials: Getter<CredentialRow> & {
    list(accountSid: string, q: PageQuery): Promise<CredentialRow[]>
  }
  bindings: Getter<Binding> & {
    list(
      serviceSid: string,
      filter: {
        bindingTypes?: readonly string[] | undefined
        identities?: readonly string[] | undefined
      },
      q: PageQuery,
    ): Promise<Binding[]>
  }
  webhooks: Getter<ChannelWebhook> & {
    list(channelSid: string, q: PageQuery): Promise<ChannelWebhook[]>
  }
  events: {
    /** The stream's last `streamSeq`, 0 when the stream has no event. */
    lastSeq(stream: string): Promise<number>
    /** Events of `stream` with `streamSeq > afterStreamSeq`, ascending, at most `limit`. */
    readStream(stream: string, afterStreamSeq: number, limit: number): Promise<ChatEvent[]>
    /** Events with global `seq > afterSeq`, ascending, at most `limit` (cross-node fan-out, catch-up). */
    readAfter(afterSeq: number, limit: number): Promise<ChatEvent[]>
    /** The highest committed global `seq`, 0 when the log is empty. */
    head(): Promise<number>
  }
}

/** Repositories available inside a write transaction. */
export interface WriteRepos extends ReadRepos {
  accounts: ReadRepos['accounts'] & Writer<AccountRow>
  apiKeys: ReadRepos['apiKeys'] & Writer<ApiKeyRow>
  services: ReadRepos['services'] & Writer<Service>
  roles: ReadRepos['roles'] & Writer<Role>
  users: ReadRepos['users'] & Writer<User>
  channels: ReadRepos['channels'] & Writer<Channel>
  members: ReadRepos['members'] & Writer<Member>
  messages: ReadRepos['messages'] &
    Writer<Message> & { deleteByChannel(channelSid: string): Promise<void> }
  invites: ReadRepos['invites'] &
    Writer<Invite> & { deleteByChannel(channelSid: string): Promise<void> }
  userChannels: ReadRepos['userChannels'] & {
    put(row: UserChannel): Promise<void>
    delete(userSid: string, channelSid: string): Promise<void>
  }
  credentials: ReadRepos['credentials'] & Writer<CredentialRow>
  bindings: ReadRepos['bindings'] & Writer<Binding>
  webhooks: ReadRepos['webhooks'] &
    Writer<ChannelWebhook> & { deleteByChannel(channelSid: string): Promise<void> }
  events: ReadRepos['events'] & {
    /** Appends one event and returns it with its global `seq`. MUST throw if `streamSeq` is taken. */
    append(ev: NewEvent): Promise<ChatEvent>
  }
}

/**
 * A unique constraint was violated (for example two channels with one unique name). `constraint` names it:
 * `users.identity`, `channels.unique_name`, `members.identity`, `messages.index`, `messages.client_id`,
 * `invites.identity`, `events.stream_seq`.
 */
export class StoreConflictError extends Error {
  override name = 'StoreConflictError'
  readonly constraint: string
  constructor(constraint: string, options?: { cause?: unknown }) {
    super(`unique constraint violated: ${constraint}`, options)
    this.constraint = constraint
  }
}

/**
 * The store.
 *
 * Contract:
 * - `write(fn)` runs `fn` in a serialisable write transaction. The returned promise MUST settle only after the
 *   transaction is durably committed (it survives `kill -9`, and power loss: the SQLite adapter's default
 *   `fsync-async` mode fsyncs the WAL on the threadpool before settling; `full` fsyncs inside COMMIT) or rolled
 *   back. If `fn` throws, nothing it wrote is visible and the promise rejects with that error.
 * - Adapters MAY group several `write` calls into one physical transaction (group commit); each MUST still be atomic
 *   on its own: one that throws MUST NOT affect the others.
 * - `fn` MUST only await repository calls of its `tx` (no timers, network or other IO) and MUST NOT keep `tx` after
 *   it settles. Adapters MUST NOT run `fn` more than once.
 * - Within one store, writes that touch the same row are serialised; the event log's global `seq` MUST increase in
 *   commit order, so `readAfter(seq)` never skips an event that commits later with a lower `seq`.
 * - `read(fn)` sees only committed data (never another transaction's uncommitted writes).
 * - Infrastructure failures reject with ChatError 52001 (retryable, 503).
 * - `close()` waits for queued writes, then releases the database and any lock. Later calls reject with 52001.
 */
export interface Store {
  write<T>(fn: (tx: WriteRepos) => Promise<T>): Promise<T>
  read<T>(fn: (tx: ReadRepos) => Promise<T>): Promise<T>
  close(): Promise<void>
}
