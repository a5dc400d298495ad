/**
 * Internal plumbing shared by the core's resource modules: transactions that collect events and publish them after
 * COMMIT, loaders that scope every lookup to the actor's account and service, and permission checks.
 *
 * @module
 */
import { ChatError } from '@parley/token'
import type { BusMessage } from '../ports/bus.ts'
import type { SidPrefix } from '../ports/ids.ts'
import type { PageQuery, ReadRepos, WriteRepos } from '../ports/store.ts'
import { byCreated, keysetPage } from './pagination.ts'
import type { CoreDeps } from './create-core.ts'
import { checkIdentity, isSid } from './rules.ts'
import type {
  Actor,
  Channel,
  ChatEvent,
  EventType,
  Member,
  Page,
  PageRequest,
  Role,
  Service,
  User,
  UserActor,
} from './types.ts'

/** A write transaction plus the event emitter bound to it. */
export interface Wtx {
  tx: WriteRepos
  now: number
  /** A new SID (from the Ids port). */
  sid(prefix: SidPrefix): string
  /**
   * Appends an event to `stream`; `build(streamSeq)` returns the snapshot (with `revision = streamSeq` for rows that
   * carry one). Returns the snapshot.
   */
  emit<T>(
    stream: string,
    type: EventType,
    key: string | null,
    scope: { accountSid: string; serviceSid: string | null },
    build: (streamSeq: number) => T,
  ): Promise<T>
  /** Queues a bus message to publish after COMMIT (after the events). */
  notify(msg: BusMessage): void
}

/** Stream names (docs/architecture.md). */
export const streams = {
  channel: (ch: string) => `channel:${ch}`,
  messages: (ch: string) => `messages:${ch}`,
  members: (ch: string) => `members:${ch}`,
  user: (us: string) => `user:${us}`,
  userChannels: (us: string) => `userchannels:${us}`,
  directory: (is: string) => `channels:${is}`,
  keys: (ac: string) => `keys:${ac}`,
} as const

/** The event scope (account and service) of a row that belongs to a service. */
export const scopeOf = (s: { accountSid: string; serviceSid: string }) => ({
  accountSid: s.accountSid,
  serviceSid: s.serviceSid,
})

/** The shared context. */
export interface Ctx {
  deps: CoreDeps
  write<T>(fn: (w: Wtx) => Promise<T>): Promise<T>
  read<T>(fn: (tx: ReadRepos) => Promise<T>): Promise<T>
}

/** Builds the context over the ports. */
export function createContext(deps: CoreDeps): Ctx {
  return {
    deps,
    async write<T>(fn: (w: Wtx) => Promise<T>): Promise<T> {
      const events: ChatEvent[] = []
      const notices: BusMessage[] = []
      const result = await deps.store.write(async (tx) => {
        // A retried or failed op must not leak events from its rolled-back savepoint.
        events.length = 0
        notices.length = 0
        const now = deps.clock.now()
        const w: Wtx = {
          tx,
          now,
          sid: (prefix) => deps.ids.sid(prefix),
          async emit(stream, type, key, scope, build) {
            const streamSeq = (await tx.events.lastSeq(stream)) + 1
            const data = build(streamSeq)
            events.push(
              await tx.events.append({
                stream,
                streamSeq,
                type,
                key,
                data,
                accountSid: scope.accountSid,
                serviceSid: scope.serviceSid,
                createdAt: now,
              }),
            )
            return data
          },
          notify(msg) {
            notices.push(msg)
          },
        }
        return fn(w)
      })
      // After COMMIT: publish (the bus never throws because of subscribers).
      if (events.length > 0) deps.bus.publish({ type: 'events', events })
      for (const n of notices) deps.bus.publish(n)
      return result
    },
    read(fn) {
      return deps.store.read(fn)
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Loaders (every lookup is scoped; anything outside the actor's reach is "not found")
// ---------------------------------------------------------------------------------------------------------------

/** Requires an admin actor. @throws {ChatError} 50107 for user actors. */
export function requireAdmin(actor: Actor): asserts actor is Actor & { kind: 'admin' } {
  if (actor.kind !== 'admin') throw new ChatError(50107)
}

/**
 * Loads a service the actor may use.
 *
 * @throws {ChatError} 20404 unknown, in another account, or (user actors) another service.
 */
export async function loadService(
  tx: ReadRepos,
  actor: Actor,
  serviceSid: string,
): Promise<Service> {
  const service = isSid('IS', serviceSid) ? await tx.services.get(serviceSid) : undefined
  if (
    service === undefined ||
    service.accountSid !== actor.accountSid ||
    (actor.kind === 'user' && actor.serviceSid !== service.sid)
  ) {
    throw new ChatError(20404, 'Service not found')
  }
  return service
}

/** A row by SID when `ref` is shaped like a `prefix` SID, else by name; `notFound` unless it is `inScope`. */
async function loadByRef<T>(
  ref: string,
  prefix: SidPrefix,
  find: {
    bySid(sid: string): Promise<T | undefined>
    byName(name: string): Promise<T | undefined>
  },
  inScope: (row: T) => boolean,
  notFound: () => ChatError,
): Promise<T> {
  const row = isSid(prefix, ref) ? await find.bySid(ref) : await find.byName(ref)
  if (row === undefined || !inScope(row)) throw notFound()
  return row
}

/** Loads a channel by SID or unique name. @throws {ChatError} 50300 not found in this service. */
export function loadChannel(tx: ReadRepos, service: Service, ref: string): Promise<Channel> {
  return loadByRef(
    ref,
    'CH',
    {
      bySid: (sid) => tx.channels.get(sid),
      byName: (name) => tx.channels.getByUniqueName(service.sid, name),
    },
    (c) => c.serviceSid === service.sid,
    () => new ChatError(50300),
  )
}

/**
 * Loads the channel of a member-only read (messages, members, invites): user actors must be members.
 *
 * @throws {ChatError} 20404 service; 50300 channel unknown, or private and not visible; 50400 not a member.
 */
export async function loadMemberChannel(
  tx: ReadRepos,
  actor: Actor,
  serviceSid: string,
  channelRef: string,
): Promise<Channel> {
  const service = await loadService(tx, actor, serviceSid)
  const channel = await loadChannel(tx, service, channelRef)
  if (actor.kind === 'user') await requireMember(tx, actor, channel)
  return channel
}

/** Loads a user by SID or identity. @throws {ChatError} 50200 not found in this service. */
export function loadUser(tx: ReadRepos, service: Service, ref: string): Promise<User> {
  return loadByRef(
    ref,
    'US',
    {
      bySid: (sid) => tx.users.get(sid),
      byName: (identity) => tx.users.getByIdentity(service.sid, identity),
    },
    (u) => u.serviceSid === service.sid,
    () => new ChatError(50200),
  )
}

/** Loads a member by SID or identity. @throws {ChatError} 20404 not found in this channel. */
export function loadMember(tx: ReadRepos, channel: Channel, ref: string): Promise<Member> {
  return loadByRef(
    ref,
    'MB',
    {
      bySid: (sid) => tx.members.get(sid),
      byName: (identity) => tx.members.getByIdentity(channel.sid, identity),
    },
    (m) => m.channelSid === channel.sid,
    () => new ChatError(20404, 'Member not found'),
  )
}

/**
 * Loads a role of the service and checks its scope.
 *
 * @throws {ChatError} 50100 (deployment) / 50101 (channel) unknown role; 50105 role of the other scope.
 */
export async function loadRole(
  tx: ReadRepos,
  service: Service,
  roleSid: string,
  type?: Role['type'],
): Promise<Role> {
  const role = isSid('RL', roleSid) ? await tx.roles.get(roleSid) : undefined
  if (role === undefined || role.serviceSid !== service.sid)
    throw new ChatError(type === 'channel' ? 50101 : 50100)
  if (type !== undefined && role.type !== type) throw new ChatError(50105)
  return role
}

/**
 * Reads of an account-level resource whose rows carry sealed secrets (API keys, credentials), for actors that pass
 * `guard`: load one by SID within the actor's account (20404 `notFound` otherwise), list (keyset, ≤ 1000 a page) and
 * fetch, always without the secret.
 */
export function accountRows<
  Row extends { sid: string; accountSid: string; createdAt: number },
  Public,
>(
  ctx: Ctx,
  spec: {
    guard: (actor: Actor) => void
    prefix: SidPrefix
    notFound: string
    repo: (tx: ReadRepos) => {
      get(sid: string): Promise<Row | undefined>
      list(accountSid: string, q: PageQuery): Promise<Row[]>
    }
    toPublic: (row: Row) => Public
  },
) {
  const load = async (tx: ReadRepos, accountSid: string, sid: string): Promise<Row> => {
    const row = isSid(spec.prefix, sid) ? await spec.repo(tx).get(sid) : undefined
    if (row === undefined || row.accountSid !== accountSid)
      throw new ChatError(20404, spec.notFound)
    return row
  }
  return {
    load,
    async list(actor: Actor, page?: PageRequest): Promise<Page<Public>> {
      spec.guard(actor)
      return ctx.read(async (tx) => {
        const p = await keysetPage(page, { max: 1000, keyOf: byCreated, keyLength: 2 }, (q) =>
          spec.repo(tx).list(actor.accountSid, q),
        )
        return { ...p, items: p.items.map(spec.toPublic) }
      })
    },
    async fetch(actor: Actor, sid: string): Promise<Public> {
      spec.guard(actor)
      return ctx.read(async (tx) => spec.toPublic(await load(tx, actor.accountSid, sid)))
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Users and permissions
// ---------------------------------------------------------------------------------------------------------------

/**
 * Returns the actor's user, creating it (with the service's default service role) when missing.
 *
 * @throws {ChatError} identity rule violations (50203, 50206, 50207, 20001).
 */
export async function ensureUser(w: Wtx, service: Service, identity: string): Promise<User> {
  const existing = await w.tx.users.getByIdentity(service.sid, identity)
  if (existing !== undefined) return existing
  return createUserTx(w, service, { identity: checkIdentity(identity) })
}

/** Creates a user (`user_created` event); the identity is already validated and free. */
export async function createUserTx(
  w: Wtx,
  service: Service,
  input: { identity: string; friendlyName?: string | null; attributes?: string; roleSid?: string },
): Promise<User> {
  const sid = w.sid('US')
  const scope = { accountSid: service.accountSid, serviceSid: service.sid }
  const user = await w.emit(streams.user(sid), 'user_created', null, scope, (revision): User => ({
    sid,
    ...scope,
    identity: input.identity,
    friendlyName: input.friendlyName ?? null,
    attributes: input.attributes ?? '{}',
    roleSid: input.roleSid ?? service.defaultServiceRoleSid,
    isOnline: null,
    isNotifiable: null,
    joinedChannelsCount: 0,
    createdAt: w.now,
    updatedAt: w.now,
    revision,
  }))
  await w.tx.users.put(user)
  return user
}

/** A user actor's effective permissions in a service, and optionally a channel (service role ∪ channel role). */
export async function permissionsOf(
  tx: ReadRepos,
  service: Service,
  identity: string,
  member: Member | undefined,
): Promise<Set<string>> {
  const user = await tx.users.getByIdentity(service.sid, identity)
  const perms = new Set<string>()
  const serviceRole = await tx.roles.get(user?.roleSid ?? service.defaultServiceRoleSid)
  if (serviceRole !== undefined) for (const p of serviceRole.permissions) perms.add(p)
  if (member !== undefined) {
    const channelRole = await tx.roles.get(member.roleSid)
    if (channelRole !== undefined) for (const p of channelRole.permissions) perms.add(p)
  }
  return perms
}

/** @throws {ChatError} 50107 when `perms` has none of `anyOf`. */
export function requirePermission(perms: ReadonlySet<string>, ...anyOf: string[]): void {
  if (!anyOf.some((p) => perms.has(p))) throw new ChatError(50107)
}

/** What a user actor may see of a channel. */
export interface ChannelAccess {
  member: Member | undefined
  perms: Set<string>
}

/**
 * Checks that a user actor can see `channel` (reliability.md §2.1): a private channel is visible only to members,
 * invitees and its creator; otherwise 50300 (404, existence not leaked). Returns the actor's member row, if any.
 * Reads no permissions: for reads that only need visibility.
 *
 * @throws {ChatError} 50300 private channel not visible to the actor.
 */
export async function requireVisible(
  tx: ReadRepos,
  actor: UserActor,
  channel: Channel,
): Promise<Member | undefined> {
  const member = await tx.members.getByIdentity(channel.sid, actor.identity)
  if (member === undefined && channel.type === 'private' && channel.createdBy !== actor.identity) {
    const invite = await tx.invites.getByIdentity(channel.sid, actor.identity)
    if (invite === undefined) throw new ChatError(50300)
  }
  return member
}

/**
 * Like {@link requireVisible} but also requires membership (member-only reads and actions).
 *
 * @throws {ChatError} 50300 private and not visible; 50400 (403) visible but not a member.
 */
export async function requireMember(
  tx: ReadRepos,
  actor: UserActor,
  channel: Channel,
): Promise<Member> {
  const member = await requireVisible(tx, actor, channel)
  if (member === undefined) {
    if (channel.type === 'private') throw new ChatError(50300)
    throw new ChatError(50400)
  }
  return member
}

/**
 * {@link requireVisible} plus the actor's permissions in the channel.
 *
 * @throws {ChatError} 50300 private channel not visible to the actor.
 */
export async function channelAccess(
  tx: ReadRepos,
  actor: UserActor,
  service: Service,
  channel: Channel,
): Promise<ChannelAccess> {
  const member = await requireVisible(tx, actor, channel)
  return { member, perms: await permissionsOf(tx, service, actor.identity, member) }
}

/**
 * {@link requireMember} plus the actor's permissions in the channel.
 *
 * @throws {ChatError} 50300 private and not visible; 50400 (403) visible but not a member.
 */
export async function memberAccess(
  tx: ReadRepos,
  actor: UserActor,
  service: Service,
  channel: Channel,
): Promise<ChannelAccess & { member: Member }> {
  const member = await requireMember(tx, actor, channel)
  return { member, perms: await permissionsOf(tx, service, actor.identity, member) }
}
