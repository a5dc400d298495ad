/**
 * Channels, members, invites and channel webhooks.
 *
 * @module
 */
import { ChatError } from '@parley/token'
import type { ChannelRosterApi, ChannelsApi, InvitesApi, MembersApi, WebhooksApi } from './api.ts'
import {
  channelAccess,
  ensureUser,
  loadChannel,
  loadMember,
  loadMemberChannel,
  loadRole,
  loadService,
  memberAccess,
  requireMember,
  requireVisible,
  permissionsOf,
  requireAdmin,
  requirePermission,
  scopeOf,
  streams,
  type Ctx,
  type Wtx,
} from './context.ts'
import { byCreated, keysetPage } from './pagination.ts'
import {
  LIMITS,
  WEBHOOK_EVENTS,
  checkAttributes,
  checkDates,
  checkFriendlyName,
  checkIdentity,
  checkInt,
  checkUniqueName,
  isSid,
} from './rules.ts'
import type {
  Actor,
  Channel,
  ChannelCreate,
  ChannelUpdate,
  ChannelWebhook,
  ChannelWebhookInput,
  Invite,
  Member,
  MemberUpdate,
  Service,
  User,
  UserChannel,
} from './types.ts'
import { StoreConflictError, type PageQuery, type ReadRepos } from '../ports/store.ts'

// ---------------------------------------------------------------------------------------------------------------
// Internal operations shared with users.ts and services.ts
// ---------------------------------------------------------------------------------------------------------------

/**
 * Writes a channel row with its event on `channel:{CH}` (the snapshot carries the new revision), so the channel
 * document folded from the log always equals the row: counters (`messagesCount`, `membersCount`) and the last message
 * included. Returns the written channel.
 */
export async function saveChannelTx(
  w: Wtx,
  channel: Channel,
  type: 'channel_created' | 'channel_updated' = 'channel_updated',
): Promise<Channel> {
  const next = await w.emit(
    streams.channel(channel.sid),
    type,
    null,
    scopeOf(channel),
    (revision) => ({ ...channel, revision }),
  )
  await w.tx.channels.put(next)
  return next
}

/**
 * Writes a channel, its event and its public directory entry (create, rename, attributes). Counter changes go
 * through {@link saveChannelTx} alone: the directory does not follow counts.
 */
async function putChannelWithEvents(
  w: Wtx,
  channel: Channel,
  type: 'channel_created' | 'channel_updated',
  wasPublic: boolean,
): Promise<Channel> {
  const scope = scopeOf(channel)
  const next = await saveChannelTx(w, channel, type)
  if (next.type === 'public') {
    await w.emit(
      streams.directory(next.serviceSid),
      wasPublic ? 'directory_updated' : 'directory_added',
      next.sid,
      scope,
      () => next,
    )
  } else if (wasPublic) {
    await w.emit(
      streams.directory(next.serviceSid),
      'directory_removed',
      next.sid,
      scope,
      () => next,
    )
  }
  return next
}

/** Options of {@link addMemberTx}. */
export interface AddMemberOptions {
  roleSid?: string | undefined
  attributes?: string
  lastConsumedMessageIndex?: number | null
  lastConsumptionTimestamp?: number | null
  createdAt?: number | undefined
  updatedAt?: number | undefined
}

/**
 * Adds `user` to `channel`: limits, invite consumption, counters, the user-channel row and events.
 *
 * @throws {ChatError} 50404 already a member; 50403 channel full; 50208 user channel limit.
 */
export async function addMemberTx(
  w: Wtx,
  service: Service,
  channel: Channel,
  user: User,
  opts: AddMemberOptions,
): Promise<{ member: Member; channel: Channel }> {
  if ((await w.tx.members.getByIdentity(channel.sid, user.identity)) !== undefined)
    throw new ChatError(50404)
  if (channel.membersCount >= service.limits.channelMembers) throw new ChatError(50403)
  if (user.joinedChannelsCount >= service.limits.userChannels) throw new ChatError(50208)
  const invite = await w.tx.invites.getByIdentity(channel.sid, user.identity)
  if (invite !== undefined) await w.tx.invites.delete(invite.sid)
  const roleSid =
    opts.roleSid ??
    invite?.roleSid ??
    (user.identity === channel.createdBy
      ? service.defaultChannelCreatorRoleSid
      : service.defaultChannelRoleSid)
  const sid = w.sid('MB')
  const createdAt = opts.createdAt ?? w.now
  const member = await w.emit(
    streams.members(channel.sid),
    'member_added',
    sid,
    scopeOf(channel),
    (revision): Member => ({
      sid,
      accountSid: channel.accountSid,
      serviceSid: channel.serviceSid,
      channelSid: channel.sid,
      identity: user.identity,
      userSid: user.sid,
      roleSid,
      lastConsumedMessageIndex: opts.lastConsumedMessageIndex ?? null,
      lastConsumptionTimestamp: opts.lastConsumptionTimestamp ?? null,
      attributes: opts.attributes ?? '{}',
      createdAt,
      updatedAt: opts.updatedAt ?? createdAt,
      revision,
    }),
  )
  try {
    await w.tx.members.put(member)
  } catch (err) {
    if (err instanceof StoreConflictError) throw new ChatError(50404)
    throw err
  }
  const nextChannel = await saveChannelTx(w, { ...channel, membersCount: channel.membersCount + 1 })
  await w.tx.users.put({ ...user, joinedChannelsCount: user.joinedChannelsCount + 1 })
  const existing = await w.tx.userChannels.get(user.sid, channel.sid)
  const uc = await w.emit(
    streams.userChannels(user.sid),
    existing === undefined ? 'user_channel_added' : 'user_channel_updated',
    channel.sid,
    scopeOf(channel),
    (revision): UserChannel => ({
      accountSid: channel.accountSid,
      serviceSid: channel.serviceSid,
      channelSid: channel.sid,
      userSid: user.sid,
      identity: user.identity,
      memberSid: member.sid,
      status: 'joined',
      lastConsumedMessageIndex: member.lastConsumedMessageIndex,
      notificationLevel: existing?.notificationLevel ?? 'default',
      createdAt: existing?.createdAt ?? w.now,
      updatedAt: w.now,
      revision,
    }),
  )
  await w.tx.userChannels.put(uc)
  return { member, channel: nextChannel }
}

/** Removes a member: counters, user-channel row and events. With `cascade` the channel row is left alone. */
export async function removeMemberTx(
  w: Wtx,
  channel: Channel,
  member: Member,
  cascade = false,
): Promise<Channel> {
  await w.tx.members.delete(member.sid)
  await w.emit(
    streams.members(channel.sid),
    'member_removed',
    member.sid,
    scopeOf(channel),
    () => member,
  )
  let next = channel
  if (!cascade)
    next = await saveChannelTx(w, {
      ...channel,
      membersCount: Math.max(0, channel.membersCount - 1),
    })
  const user = await w.tx.users.get(member.userSid)
  if (user !== undefined) {
    await w.tx.users.put({
      ...user,
      joinedChannelsCount: Math.max(0, user.joinedChannelsCount - 1),
    })
  }
  const uc = await w.tx.userChannels.get(member.userSid, channel.sid)
  if (uc !== undefined) {
    await w.tx.userChannels.delete(uc.userSid, uc.channelSid)
    await w.emit(
      streams.userChannels(uc.userSid),
      'user_channel_removed',
      channel.sid,
      scopeOf(channel),
      () => uc,
    )
  }
  return next
}

/** Deletes an invite and its user-channel row (status invited). */
export async function removeInviteTx(w: Wtx, channel: Channel, invite: Invite): Promise<void> {
  await w.tx.invites.delete(invite.sid)
  const user = await w.tx.users.getByIdentity(channel.serviceSid, invite.identity)
  if (user === undefined) return
  const uc = await w.tx.userChannels.get(user.sid, channel.sid)
  if (uc !== undefined && uc.status === 'invited') {
    await w.tx.userChannels.delete(uc.userSid, uc.channelSid)
    await w.emit(
      streams.userChannels(uc.userSid),
      'user_channel_removed',
      channel.sid,
      scopeOf(channel),
      () => uc,
    )
  }
}

/** Deletes a channel with its members, invites, messages and webhooks, emitting removal events. */
export async function deleteChannelTx(w: Wtx, service: Service, channel: Channel): Promise<void> {
  for (;;) {
    const members = await w.tx.members.list(channel.sid, {}, { limit: 500 })
    if (members.length === 0) break
    for (const m of members) await removeMemberTx(w, channel, m, true)
  }
  for (;;) {
    const invites = await w.tx.invites.list(channel.sid, {}, { limit: 500 })
    if (invites.length === 0) break
    for (const i of invites) await removeInviteTx(w, channel, i)
  }
  await w.tx.messages.deleteByChannel(channel.sid)
  await w.tx.webhooks.deleteByChannel(channel.sid)
  await w.tx.channels.delete(channel.sid)
  const scope = scopeOf(channel)
  await w.emit(streams.channel(channel.sid), 'channel_removed', null, scope, () => channel)
  if (channel.type === 'public') {
    await w.emit(
      streams.directory(service.sid),
      'directory_removed',
      channel.sid,
      scope,
      () => channel,
    )
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------------------------------

/** The Channels API. */
export function channelsApi(ctx: Ctx): ChannelsApi {
  return {
    async create(actor, serviceSid, input: ChannelCreate) {
      const friendlyName = checkFriendlyName(input.friendlyName, LIMITS.friendlyNameCreateChannel)
      const uniqueName = checkUniqueName(input.uniqueName, LIMITS.uniqueNameCreate)
      const attributes = checkAttributes(input.attributes, LIMITS.channelAttributesBytes, 50303)
      const type = input.type ?? 'public'
      if (type !== 'public' && type !== 'private')
        throw new ChatError(20001, 'Type must be public or private')
      const { createdAt, updatedAt } = checkDates(input)
      let createdBy = 'system'
      if (actor.kind === 'admin') {
        if (input.createdBy !== undefined && input.createdBy !== '') {
          if (input.createdBy.length > LIMITS.identity) throw new ChatError(50207)
          createdBy = input.createdBy
        }
      } else createdBy = actor.identity
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        if (actor.kind === 'user') {
          await ensureUser(w, service, actor.identity)
          requirePermission(
            await permissionsOf(w.tx, service, actor.identity, undefined),
            'createChannel',
          )
        }
        if (
          uniqueName !== null &&
          (await w.tx.channels.getByUniqueName(service.sid, uniqueName)) !== undefined
        ) {
          throw new ChatError(50307)
        }
        const created = createdAt ?? w.now
        const channel: Channel = {
          sid: w.sid('CH'),
          accountSid: service.accountSid,
          serviceSid: service.sid,
          friendlyName,
          uniqueName,
          attributes,
          type,
          createdBy,
          membersCount: 0,
          messagesCount: 0,
          nextMessageIndex: 0,
          lastMessageIndex: null,
          lastMessageAt: null,
          createdAt: created,
          updatedAt: updatedAt ?? created,
          revision: 0,
        }
        return putChannelWithEvents(w, channel, 'channel_created', false)
      })
    },

    async list(actor, serviceSid, filter, page) {
      return ctx.read(async (tx) => {
        const service = await loadService(tx, actor, serviceSid)
        let types = filter?.types?.length ? [...filter.types] : undefined
        for (const t of types ?? []) {
          if (t !== 'public' && t !== 'private')
            throw new ChatError(20001, 'Type must be public or private')
        }
        // Users see the public directory here; their private channels are listed through UserChannels.
        if (actor.kind === 'user') types = ['public']
        return keysetPage(page, { max: 100, keyOf: byCreated, keyLength: 2 }, (q) =>
          tx.channels.list(service.sid, { types }, q),
        )
      })
    },

    async fetch(actor, serviceSid, ref) {
      return ctx.read(async (tx) => {
        const service = await loadService(tx, actor, serviceSid)
        const channel = await loadChannel(tx, service, ref)
        if (actor.kind === 'user') await requireVisible(tx, actor, channel)
        return channel
      })
    },

    async update(actor, serviceSid, ref, input: ChannelUpdate) {
      const friendlyName =
        input.friendlyName === undefined
          ? undefined
          : checkFriendlyName(input.friendlyName, LIMITS.friendlyName)
      const uniqueName =
        input.uniqueName === undefined
          ? undefined
          : checkUniqueName(input.uniqueName, LIMITS.uniqueNameUpdate)
      const attributes =
        input.attributes === undefined
          ? undefined
          : checkAttributes(input.attributes, LIMITS.channelAttributesBytes, 50303)
      const { createdAt, updatedAt } = checkDates(input)
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        const channel = await loadChannel(w.tx, service, ref)
        const next: Channel = { ...channel }
        if (actor.kind === 'user') {
          const { perms } = await memberOrServicePerms(w, actor, service, channel)
          if (friendlyName !== undefined || uniqueName !== undefined)
            requirePermission(perms, 'editChannelName')
          if (attributes !== undefined) requirePermission(perms, 'editChannelAttributes')
        } else {
          if (input.createdBy !== undefined && input.createdBy !== '')
            next.createdBy = input.createdBy
          if (createdAt !== undefined) next.createdAt = createdAt
        }
        if (friendlyName !== undefined) next.friendlyName = friendlyName
        if (uniqueName !== undefined && uniqueName !== channel.uniqueName) {
          if (uniqueName !== null) {
            const other = await w.tx.channels.getByUniqueName(service.sid, uniqueName)
            if (other !== undefined && other.sid !== channel.sid) throw new ChatError(50307)
          }
          next.uniqueName = uniqueName
        }
        if (attributes !== undefined) next.attributes = attributes
        next.updatedAt = actor.kind === 'admin' && updatedAt !== undefined ? updatedAt : w.now
        return putChannelWithEvents(w, next, 'channel_updated', channel.type === 'public')
      })
    },

    async delete(actor, serviceSid, ref) {
      await ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        const channel = await loadChannel(w.tx, service, ref)
        if (actor.kind === 'user') {
          const { perms } = await memberOrServicePerms(w, actor, service, channel)
          requirePermission(perms, 'destroyChannel')
        }
        await deleteChannelTx(w, service, channel)
      })
    },
  }
}

/**
 * Permissions of a user actor on a channel for channel-level actions: members get service ∪ channel role; a
 * non-member of a visible channel is held to the service role (so a service admin can moderate without joining), and
 * gets 50400 when that role lacks every permission the caller then asks for.
 */
async function memberOrServicePerms(
  w: Wtx,
  actor: Actor & { kind: 'user' },
  service: Service,
  channel: Channel,
): Promise<{ member: Member | undefined; perms: Set<string> }> {
  const access = await channelAccess(w.tx, actor, service, channel)
  if (access.member === undefined && access.perms.size === 0) throw new ChatError(50400)
  return access
}

// ---------------------------------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------------------------------

/**
 * The list of a channel's members or invites (member-only for users), filtered by identity, in creation order.
 */
function rosterList<T extends { createdAt: number; sid: string }>(
  ctx: Ctx,
  repo: (tx: ReadRepos) => {
    list(
      channelSid: string,
      filter: { identities?: readonly string[] | undefined },
      q: PageQuery,
    ): Promise<T[]>
  },
): ChannelRosterApi<T, unknown>['list'] {
  return (actor, serviceSid, channelRef, filter, page) =>
    ctx.read(async (tx) => {
      const channel = await loadMemberChannel(tx, actor, serviceSid, channelRef)
      return keysetPage(page, { max: 100, keyOf: byCreated, keyLength: 2 }, (q) =>
        repo(tx).list(channel.sid, { identities: filter?.identities }, q),
      )
    })
}

function checkConsumption(input: MemberUpdate): { index?: number | null; ts?: number | null } {
  const out: { index?: number | null; ts?: number | null } = {}
  if (input.lastConsumedMessageIndex !== undefined) {
    const v = input.lastConsumedMessageIndex
    if (v !== null && (!Number.isSafeInteger(v) || v < 0))
      throw new ChatError(20001, 'Invalid LastConsumedMessageIndex')
    out.index = v
  }
  if (input.lastConsumptionTimestamp !== undefined) {
    const v = input.lastConsumptionTimestamp
    if (v !== null && (!Number.isSafeInteger(v) || v < 0))
      throw new ChatError(20001, 'Invalid LastConsumptionTimestamp')
    out.ts = v
  }
  return out
}

/** Updates a member (and the user-channel horizon), emitting events. */
export async function updateMemberTx(
  w: Wtx,
  channel: Channel,
  member: Member,
  patch: Partial<
    Pick<
      Member,
      | 'roleSid'
      | 'attributes'
      | 'lastConsumedMessageIndex'
      | 'lastConsumptionTimestamp'
      | 'createdAt'
      | 'updatedAt'
    >
  >,
): Promise<Member> {
  const horizonChanged =
    patch.lastConsumedMessageIndex !== undefined &&
    patch.lastConsumedMessageIndex !== member.lastConsumedMessageIndex
  const next = await w.emit(
    streams.members(channel.sid),
    'member_updated',
    member.sid,
    scopeOf(channel),
    (revision) => ({
      ...member,
      ...patch,
      updatedAt: patch.updatedAt ?? w.now,
      revision,
    }),
  )
  await w.tx.members.put(next)
  if (horizonChanged) {
    const uc = await w.tx.userChannels.get(member.userSid, channel.sid)
    if (uc !== undefined) {
      const nextUc = await w.emit(
        streams.userChannels(uc.userSid),
        'user_channel_updated',
        channel.sid,
        scopeOf(channel),
        (revision) => ({
          ...uc,
          lastConsumedMessageIndex: next.lastConsumedMessageIndex,
          updatedAt: w.now,
          revision,
        }),
      )
      await w.tx.userChannels.put(nextUc)
    }
  }
  return next
}

/** The Members API. */
export function membersApi(ctx: Ctx): MembersApi {
  return {
    async create(actor, serviceSid, channelRef, input) {
      const identity = checkIdentity(input.identity)
      const attributes = checkAttributes(input.attributes, LIMITS.memberAttributesBytes)
      const horizon = checkConsumption(input)
      const { createdAt, updatedAt } = checkDates(input)
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        let channel = await loadChannel(w.tx, service, channelRef)
        let roleSid: string | undefined
        if (actor.kind === 'user') {
          if (input.roleSid !== undefined) throw new ChatError(50205)
          await ensureUser(w, service, actor.identity)
          const access = await channelAccess(w.tx, actor, service, channel)
          if (identity === actor.identity) {
            // Joining: a private channel needs an invite (or being its creator).
            requirePermission(access.perms, 'joinChannel')
          } else {
            if (access.member === undefined && !access.perms.has('addMember')) {
              throw new ChatError(channel.type === 'private' ? 50300 : 50400)
            }
            requirePermission(access.perms, 'addMember')
          }
        } else if (input.roleSid !== undefined) {
          roleSid = (await loadRole(w.tx, service, input.roleSid, 'channel')).sid
        }
        const user = await ensureUser(w, service, identity)
        const opts: Parameters<typeof addMemberTx>[4] = {
          roleSid,
          attributes,
          createdAt,
          updatedAt,
        }
        if (actor.kind === 'admin') {
          if (horizon.index !== undefined) opts.lastConsumedMessageIndex = horizon.index
          if (horizon.ts !== undefined) opts.lastConsumptionTimestamp = horizon.ts
        }
        const r = await addMemberTx(w, service, channel, user, opts)
        channel = r.channel
        return r.member
      })
    },

    list: rosterList(ctx, (tx) => tx.members),

    async fetch(actor, serviceSid, channelRef, ref) {
      return ctx.read(async (tx) => {
        const channel = await loadMemberChannel(tx, actor, serviceSid, channelRef)
        return loadMember(tx, channel, ref)
      })
    },

    async update(actor, serviceSid, channelRef, ref, input) {
      const attributes =
        input.attributes === undefined
          ? undefined
          : checkAttributes(input.attributes, LIMITS.memberAttributesBytes)
      const horizon = checkConsumption(input)
      const { createdAt, updatedAt } = checkDates(input)
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        const channel = await loadChannel(w.tx, service, channelRef)
        const patch: Parameters<typeof updateMemberTx>[3] = {}
        let member: Member
        if (actor.kind === 'user') {
          if (input.roleSid !== undefined) throw new ChatError(50205)
          const access = await memberAccess(w.tx, actor, service, channel)
          member = await loadMember(w.tx, channel, ref)
          const own = member.sid === access.member.sid
          if (attributes !== undefined) {
            requirePermission(
              access.perms,
              own ? 'editOwnMemberAttributes' : 'editAnyMemberAttributes',
              'editAnyMemberAttributes',
            )
          }
          if ((horizon.index !== undefined || horizon.ts !== undefined) && !own)
            throw new ChatError(50107)
        } else {
          member = await loadMember(w.tx, channel, ref)
          if (input.roleSid !== undefined)
            patch.roleSid = (await loadRole(w.tx, service, input.roleSid, 'channel')).sid
          if (createdAt !== undefined) patch.createdAt = createdAt
          if (updatedAt !== undefined) patch.updatedAt = updatedAt
        }
        if (attributes !== undefined) patch.attributes = attributes
        if (horizon.index !== undefined) {
          patch.lastConsumedMessageIndex = horizon.index
          if (horizon.ts === undefined)
            patch.lastConsumptionTimestamp = horizon.index === null ? null : w.now
        }
        if (horizon.ts !== undefined) patch.lastConsumptionTimestamp = horizon.ts
        return updateMemberTx(w, channel, member, patch)
      })
    },

    async delete(actor, serviceSid, channelRef, ref) {
      await ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        const channel = await loadChannel(w.tx, service, channelRef)
        if (actor.kind === 'user') {
          const access = await channelAccess(w.tx, actor, service, channel)
          const member = await loadMember(w.tx, channel, ref)
          if (member.identity === actor.identity) requirePermission(access.perms, 'leaveChannel')
          else {
            if (access.member === undefined && !access.perms.has('removeMember'))
              throw new ChatError(50400)
            requirePermission(access.perms, 'removeMember')
          }
          await removeMemberTx(w, channel, member)
          return
        }
        await removeMemberTx(w, channel, await loadMember(w.tx, channel, ref))
      })
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Invites
// ---------------------------------------------------------------------------------------------------------------

async function loadInvite(tx: ReadRepos, channel: Channel, sid: string): Promise<Invite> {
  const invite = isSid('IN', sid) ? await tx.invites.get(sid) : undefined
  if (invite === undefined || invite.channelSid !== channel.sid)
    throw new ChatError(20404, 'Invite not found')
  return invite
}

/** The Invites API. */
export function invitesApi(ctx: Ctx): InvitesApi {
  return {
    async create(actor, serviceSid, channelRef, input) {
      const identity = checkIdentity(input.identity)
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        const channel = await loadChannel(w.tx, service, channelRef)
        let createdBy = 'system'
        if (actor.kind === 'user') {
          if (input.roleSid !== undefined) throw new ChatError(50205)
          await ensureUser(w, service, actor.identity)
          const access = await channelAccess(w.tx, actor, service, channel)
          if (access.member === undefined && !access.perms.has('inviteMember'))
            throw new ChatError(50400)
          requirePermission(access.perms, 'inviteMember')
          createdBy = actor.identity
        }
        const roleSid =
          input.roleSid !== undefined
            ? (await loadRole(w.tx, service, input.roleSid, 'channel')).sid
            : service.defaultChannelRoleSid
        if ((await w.tx.members.getByIdentity(channel.sid, identity)) !== undefined)
          throw new ChatError(50404)
        const existing = await w.tx.invites.getByIdentity(channel.sid, identity)
        if (existing !== undefined) return existing
        const user = await ensureUser(w, service, identity)
        const invite: Invite = {
          sid: w.sid('IN'),
          accountSid: service.accountSid,
          serviceSid: service.sid,
          channelSid: channel.sid,
          identity,
          roleSid,
          createdBy,
          createdAt: w.now,
          updatedAt: w.now,
        }
        await w.tx.invites.put(invite)
        const uc = await w.emit(
          streams.userChannels(user.sid),
          'user_channel_added',
          channel.sid,
          scopeOf(channel),
          (revision): UserChannel => ({
            accountSid: service.accountSid,
            serviceSid: service.sid,
            channelSid: channel.sid,
            userSid: user.sid,
            identity,
            memberSid: null,
            status: 'invited',
            lastConsumedMessageIndex: null,
            notificationLevel: 'default',
            createdAt: w.now,
            updatedAt: w.now,
            revision,
          }),
        )
        await w.tx.userChannels.put(uc)
        return invite
      })
    },

    list: rosterList(ctx, (tx) => tx.invites),

    async fetch(actor, serviceSid, channelRef, inviteSid) {
      return ctx.read(async (tx) => {
        const service = await loadService(tx, actor, serviceSid)
        const channel = await loadChannel(tx, service, channelRef)
        if (actor.kind === 'user') {
          await requireVisible(tx, actor, channel)
          const invite = await loadInvite(tx, channel, inviteSid)
          if (invite.identity !== actor.identity) await requireMember(tx, actor, channel)
          return invite
        }
        return loadInvite(tx, channel, inviteSid)
      })
    },

    async delete(actor, serviceSid, channelRef, inviteSid) {
      await ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        const channel = await loadChannel(w.tx, service, channelRef)
        if (actor.kind === 'user') {
          const access = await channelAccess(w.tx, actor, service, channel)
          const invite = await loadInvite(w.tx, channel, inviteSid)
          // The invitee may decline; others need inviteMember.
          if (invite.identity !== actor.identity) requirePermission(access.perms, 'inviteMember')
          await removeInviteTx(w, channel, invite)
          return
        }
        await removeInviteTx(w, channel, await loadInvite(w.tx, channel, inviteSid))
      })
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Channel webhooks
// ---------------------------------------------------------------------------------------------------------------

function webhookConfig(
  type: ChannelWebhook['type'],
  base: ChannelWebhook['configuration'] | undefined,
  input: ChannelWebhookInput['configuration'],
): ChannelWebhook['configuration'] {
  const c: ChannelWebhook['configuration'] = base
    ? { ...base, filters: [...base.filters], triggers: [...base.triggers] }
    : { url: null, method: 'POST', filters: [], triggers: [], flowSid: null, retryCount: 0 }
  if (input?.url !== undefined) {
    const u = input.url
    if (
      u !== null &&
      u !== '' &&
      (typeof u !== 'string' || u.length > 2048 || !/^https?:\/\/\S+$/i.test(u))
    ) {
      throw new ChatError(20001, 'Invalid Configuration.Url')
    }
    c.url = u === '' ? null : u
  }
  if (input?.method !== undefined) {
    const m = String(input.method).toUpperCase()
    if (m !== 'GET' && m !== 'POST')
      throw new ChatError(20001, 'Configuration.Method must be GET or POST')
    c.method = m
  }
  if (input?.filters !== undefined) {
    for (const f of input.filters)
      if (!WEBHOOK_EVENTS.has(f)) throw new ChatError(20001, 'Invalid Configuration.Filters value')
    c.filters = [...new Set(input.filters)]
  }
  if (input?.triggers !== undefined) {
    if (input.triggers.length > LIMITS.webhookTriggers)
      throw new ChatError(20001, 'At most 5 Configuration.Triggers')
    for (const t of input.triggers)
      if (typeof t !== 'string' || t.length > 256) throw new ChatError(20001, 'Invalid trigger')
    c.triggers = [...input.triggers]
  }
  if (input?.flowSid !== undefined) {
    if (input.flowSid !== null && input.flowSid !== '' && !isSid('FW', input.flowSid)) {
      throw new ChatError(20001, 'Invalid Configuration.FlowSid')
    }
    c.flowSid = input.flowSid === '' ? null : input.flowSid
  }
  if (input?.retryCount !== undefined)
    c.retryCount = checkInt(input.retryCount, 0, 3, 'Configuration.RetryCount')
  if ((type === 'webhook' || type === 'trigger') && c.url === null)
    throw new ChatError(20001, 'Configuration.Url is required')
  if (type === 'studio' && c.flowSid === null)
    throw new ChatError(20001, 'Configuration.FlowSid is required')
  return c
}

/** The channel Webhooks API (admin only). */
export function webhooksApi(ctx: Ctx): WebhooksApi {
  const load = async (tx: ReadRepos, actor: Actor, serviceSid: string, channelRef: string) => {
    requireAdmin(actor)
    const service = await loadService(tx, actor, serviceSid)
    return loadChannel(tx, service, channelRef)
  }
  const loadHook = async (tx: ReadRepos, channel: Channel, sid: string) => {
    const h = isSid('WH', sid) ? await tx.webhooks.get(sid) : undefined
    if (h === undefined || h.channelSid !== channel.sid)
      throw new ChatError(20404, 'Webhook not found')
    return h
  }
  return {
    async create(actor, serviceSid, channelRef, input) {
      const type = input.type
      if (type !== 'webhook' && type !== 'trigger' && type !== 'studio') {
        throw new ChatError(20001, 'Type must be webhook, trigger or studio')
      }
      const configuration = webhookConfig(type, undefined, input.configuration)
      return ctx.write(async (w) => {
        const channel = await load(w.tx, actor, serviceSid, channelRef)
        const existing = await w.tx.webhooks.list(channel.sid, { limit: LIMITS.webhooksPerChannel })
        if (existing.length >= LIMITS.webhooksPerChannel)
          throw new ChatError(20001, 'At most 5 webhooks per channel')
        const hook: ChannelWebhook = {
          sid: w.sid('WH'),
          accountSid: channel.accountSid,
          serviceSid: channel.serviceSid,
          channelSid: channel.sid,
          type,
          configuration,
          createdAt: w.now,
          updatedAt: w.now,
        }
        await w.tx.webhooks.put(hook)
        return hook
      })
    },
    async list(actor, serviceSid, channelRef, page) {
      return ctx.read(async (tx) => {
        const channel = await load(tx, actor, serviceSid, channelRef)
        return keysetPage(page, { max: 5, keyOf: byCreated, keyLength: 2 }, (q) =>
          tx.webhooks.list(channel.sid, q),
        )
      })
    },
    async fetch(actor, serviceSid, channelRef, webhookSid) {
      return ctx.read(async (tx) =>
        loadHook(tx, await load(tx, actor, serviceSid, channelRef), webhookSid),
      )
    },
    async update(actor, serviceSid, channelRef, webhookSid, input) {
      return ctx.write(async (w) => {
        const hook = await loadHook(
          w.tx,
          await load(w.tx, actor, serviceSid, channelRef),
          webhookSid,
        )
        const next: ChannelWebhook = {
          ...hook,
          configuration: webhookConfig(hook.type, hook.configuration, input.configuration),
          updatedAt: w.now,
        }
        await w.tx.webhooks.put(next)
        return next
      })
    },
    async delete(actor, serviceSid, channelRef, webhookSid) {
      await ctx.write(async (w) => {
        const hook = await loadHook(
          w.tx,
          await load(w.tx, actor, serviceSid, channelRef),
          webhookSid,
        )
        await w.tx.webhooks.delete(hook.sid)
      })
    },
  }
}
