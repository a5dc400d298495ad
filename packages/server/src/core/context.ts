/**
 * Internal plumbing shared by the core's resource modules: transactions that collect events and publish them after
 * COMMIT, loaders that scope every lookup to the actor's account and service, and permission checks.
 *
 * @module
 */
import { ChatError } from '@parley/token'
import type { BusMessage } from '../ports/bus.ts'
import type { SidPrefix } from '../ports/ids.ts'
import type { ReadRepos, WriteRepos } from '../ports/store.ts'
import type { CoreDeps } from './create-core.ts'
import { checkIdentity, isSid } from './rules.ts'
import type {
  Actor,
  Channel,
  ChatEvent,
  EventType,
  Member,
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
export async function loadService(tx: ReadRepos, actor: Actor, serviceSid: string): Promise<Service> {
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

/** Loads a channel by SID or unique name. @throws {ChatError} 50300 not found in this service. */
export async function loadChannel(tx: ReadRepos, service: Service, ref: string): Promise<Channel> {
  const channel = /^CH[0-9a-fA-F]{32}$/.test(ref)
    ? await tx.channels.get(ref)
    : await tx.channels.getByUniqueName(service.sid, ref)
  if (channel === undefined || channel.serviceSid !== service.sid) throw new ChatError(50300)
  return channel
}

/** Loads a user by SID or identity. @throws {ChatError} 50200 not found in this service. */
export async function loadUser(tx: ReadRepos, service: Service, ref: string): Promise<User> {
  const user = /^US[0-9a-fA-F]{32}$/.test(ref)
    ? await tx.users.get(ref)
    : await tx.users.getByIdentity(service.sid, ref)
  if (user === undefined || user.serviceSid !== service.sid) throw new ChatError(50200)
  return user
}

/** Loads a member by SID or identity. @throws {ChatError} 20404 not found in this channel. */
export async function loadMember(tx: ReadRepos, channel: Channel, ref: string): Promise<Member> {
  const member = /^MB[0-9a-fA-F]{32}$/.test(ref)
    ? await tx.members.get(ref)
    : await tx.members.getByIdentity(channel.sid, ref)
  if (member === undefined || member.channelSid !== channel.sid) throw new ChatError(20404, 'Member not found')
  return member
}

/**
 * Loads a role of the service and checks its scope.
 *
 * @throws {ChatError} 50100 (deployment) / 50101 (channel) unknown role; 50105 role of the other scope.
 */
export async function loadRole(tx: ReadRepos, service: Service, roleSid: string, type?: Role['type']): Promise<Role> {
  const role = isSid('RL', roleSid) ? await tx.roles.get(roleSid) : undefined
  if (role === undefined || role.serviceSid !== service.sid) throw new ChatError(type === 'channel' ? 50101 : 50100)
  if (type !== undefined && role.type !== type) throw new ChatError(50105)
  return role
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
  checkIdentity(identity)
  const sid = w.sid('US')
  const user = await w.emit(
    streams.user(sid),
    'user_created',
    null,
    { accountSid: service.accountSid, serviceSid: service.sid },
    (revision): User => ({
      sid,
      accountSid: service.accountSid,
      serviceSid: service.sid,
      identity,
      friendlyName: null,
      attributes: '{}',
      roleSid: service.defaultServiceRoleSid,
      isOnline: null,
      isNotifiable: null,
      joinedChannelsCount: 0,
      createdAt: w.now,
      updatedAt: w.now,
      revision,
    }),
  )
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
 * invitees and its creator; otherwise 50300 (404, existence not leaked).
 *
 * @throws {ChatError} 50300 private channel not visible to the actor.
 */
export async function channelAccess(
  tx: ReadRepos,
  actor: UserActor,
  service: Service,
  channel: Channel,
): Promise<ChannelAccess> {
  const member = await tx.members.getByIdentity(channel.sid, actor.identity)
  if (member === undefined && channel.type === 'private' && channel.createdBy !== actor.identity) {
    const invite = await tx.invites.getByIdentity(channel.sid, actor.identity)
    if (invite === undefined) throw new ChatError(50300)
  }
  return { member, perms: await permissionsOf(tx, service, actor.identity, member) }
}

/**
 * Like {@link channelAccess} but also requires membership (member-only actions).
 *
 * @throws {ChatError} 50300 private and not visible; 50400 (403) visible but not a member.
 */
export async function memberAccess(
  tx: ReadRepos,
  actor: UserActor,
  service: Service,
  channel: Channel,
): Promise<ChannelAccess & { member: Member }> {
  const access = await channelAccess(tx, actor, service, channel)
  if (access.member === undefined) {
    if (channel.type === 'private') throw new ChatError(50300)
    throw new ChatError(50400)
  }
  return access as ChannelAccess & { member: Member }
}
