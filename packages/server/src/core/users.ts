/**
 * Users, user channels and push bindings.
 *
 * @module
 */
import { ChatError } from '@parley/token'
import type { ReadRepos } from '../ports/store.ts'
import type { BindingsApi, UserChannelsApi, UsersApi } from './api.ts'
import { removeInviteTx, removeMemberTx, updateMemberTx } from './channels.ts'
import {
  ensureUser,
  loadChannel,
  loadMember,
  loadRole,
  loadService,
  loadUser,
  permissionsOf,
  requireAdmin,
  requirePermission,
  streams,
  type Ctx,
  type Wtx,
} from './context.ts'
import { byCreated, keysetPage } from './pagination.ts'
import { LIMITS, checkAttributes, checkFriendlyName, checkIdentity, isSid } from './rules.ts'
import type { Actor, Binding, Channel, PushType, Service, User, UserChannel, UserChannelView } from './types.ts'

const scopeOf = (s: { accountSid: string; serviceSid: string }) => ({ accountSid: s.accountSid, serviceSid: s.serviceSid })

/** Deletes a user with its memberships, invites and bindings, emitting events. */
export async function deleteUserTx(w: Wtx, service: Service, user: User): Promise<void> {
  for (;;) {
    const ucs = await w.tx.userChannels.list(user.sid, { limit: 500 })
    if (ucs.length === 0) break
    for (const uc of ucs) {
      const channel = await w.tx.channels.get(uc.channelSid)
      if (channel === undefined) {
        await w.tx.userChannels.delete(uc.userSid, uc.channelSid)
        continue
      }
      const member = await w.tx.members.getByIdentity(channel.sid, user.identity)
      if (member !== undefined) await removeMemberTx(w, channel, member)
      const invite = await w.tx.invites.getByIdentity(channel.sid, user.identity)
      if (invite !== undefined) await removeInviteTx(w, channel, invite)
      // Anything left (inconsistent row): drop it.
      if ((await w.tx.userChannels.get(uc.userSid, uc.channelSid)) !== undefined) {
        await w.tx.userChannels.delete(uc.userSid, uc.channelSid)
      }
    }
  }
  for (;;) {
    const bs = await w.tx.bindings.list(service.sid, { identities: [user.identity] }, { limit: 500 })
    if (bs.length === 0) break
    for (const b of bs) await w.tx.bindings.delete(b.sid)
  }
  await w.tx.users.delete(user.sid)
  await w.emit(streams.user(user.sid), 'user_removed', null, scopeOf(user), () => user)
}

/** List reads never carry reachability (chat-rest-v2.md §6.5). */
const forList = (u: User): User => ({ ...u, isOnline: null, isNotifiable: null })
const forFetch = (s: Service, u: User): User => (s.reachabilityEnabled ? u : { ...u, isOnline: null })

/** The Users API. */
export function usersApi(ctx: Ctx): UsersApi {
  return {
    async create(actor, serviceSid, input) {
      requireAdmin(actor)
      const identity = checkIdentity(input.identity)
      const attributes = checkAttributes(input.attributes, LIMITS.userAttributesBytes)
      const friendlyName = checkFriendlyName(input.friendlyName, LIMITS.friendlyName)
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        if ((await w.tx.users.getByIdentity(service.sid, identity)) !== undefined) throw new ChatError(50201)
        const roleSid =
          input.roleSid !== undefined
            ? (await loadRole(w.tx, service, input.roleSid, 'deployment')).sid
            : service.defaultServiceRoleSid
        const sid = w.sid('US')
        const user = await w.emit(streams.user(sid), 'user_created', null, scopeOf({ accountSid: service.accountSid, serviceSid: service.sid }), (revision): User => ({
          sid,
          accountSid: service.accountSid,
          serviceSid: service.sid,
          identity,
          friendlyName,
          attributes,
          roleSid,
          isOnline: null,
          isNotifiable: null,
          joinedChannelsCount: 0,
          createdAt: w.now,
          updatedAt: w.now,
          revision,
        }))
        await w.tx.users.put(user)
        return forFetch(service, user)
      })
    },

    async list(actor, serviceSid, page) {
      return ctx.read(async (tx) => {
        const service = await loadService(tx, actor, serviceSid)
        const p = await keysetPage(page, { max: 100, keyOf: byCreated, keyLength: 2 }, (q) => tx.users.list(service.sid, q))
        return { ...p, items: p.items.map(forList) }
      })
    },

    async fetch(actor, serviceSid, ref) {
      return ctx.read(async (tx) => {
        const service = await loadService(tx, actor, serviceSid)
        return forFetch(service, await loadUser(tx, service, ref))
      })
    },

    async update(actor, serviceSid, ref, input) {
      const attributes =
        input.attributes === undefined ? undefined : checkAttributes(input.attributes, LIMITS.userAttributesBytes)
      const friendlyName =
        input.friendlyName === undefined ? undefined : checkFriendlyName(input.friendlyName, LIMITS.friendlyName)
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        let user: User
        const next: Partial<User> = {}
        if (actor.kind === 'user') {
          if (input.roleSid !== undefined) throw new ChatError(50205)
          await ensureUser(w, service, actor.identity)
          user = await loadUser(w.tx, service, ref)
          const perms = await permissionsOf(w.tx, service, actor.identity, undefined)
          requirePermission(perms, user.identity === actor.identity ? 'editOwnUserInfo' : 'editAnyUserInfo', 'editAnyUserInfo')
        } else {
          user = await loadUser(w.tx, service, ref)
          if (input.roleSid !== undefined) next.roleSid = (await loadRole(w.tx, service, input.roleSid, 'deployment')).sid
        }
        if (attributes !== undefined) next.attributes = attributes
        if (friendlyName !== undefined) next.friendlyName = friendlyName
        const updated = await w.emit(streams.user(user.sid), 'user_updated', null, scopeOf(user), (revision): User => ({
          ...user,
          ...next,
          updatedAt: w.now,
          revision,
        }))
        await w.tx.users.put(updated)
        return forFetch(service, updated)
      })
    },

    async delete(actor, serviceSid, ref) {
      requireAdmin(actor)
      await ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        await deleteUserTx(w, service, await loadUser(w.tx, service, ref))
      })
    },

    async ensure(actor) {
      // Read first: connecting users almost always exist already, and a read does not queue behind writes.
      const existing = await ctx.read(async (tx) => {
        const service = await loadService(tx, actor, actor.serviceSid)
        const user = await tx.users.getByIdentity(service.sid, actor.identity)
        return user === undefined ? undefined : forFetch(service, user)
      })
      if (existing !== undefined) return existing
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, actor.serviceSid)
        return forFetch(service, await ensureUser(w, service, actor.identity))
      })
    },

    async setOnline(actor, online) {
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, actor.serviceSid)
        const user = await ensureUser(w, service, actor.identity)
        if (!service.reachabilityEnabled || user.isOnline === online) return forFetch(service, user)
        const next = await w.emit(streams.user(user.sid), 'reachability_updated', 'reachability', scopeOf(user), (revision) => ({
          ...user,
          isOnline: online,
          revision,
        }))
        await w.tx.users.put(next)
        return next
      })
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------
// User channels
// ---------------------------------------------------------------------------------------------------------------

async function view(tx: ReadRepos, uc: UserChannel, channel?: Channel): Promise<UserChannelView> {
  const ch = channel ?? (await tx.channels.get(uc.channelSid))
  let unread: number | null = null
  if (uc.lastConsumedMessageIndex !== null && ch !== undefined) {
    const newest = ch.lastMessageIndex ?? -1
    unread = Math.min(ch.messagesCount, Math.max(0, newest - uc.lastConsumedMessageIndex))
  }
  return { ...uc, unreadMessagesCount: unread }
}

async function loadUserFor(tx: ReadRepos, actor: Actor, serviceSid: string, userRef: string) {
  const service = await loadService(tx, actor, serviceSid)
  const user = await loadUser(tx, service, userRef)
  // Users read and change only their own channel list.
  if (actor.kind === 'user' && user.identity !== actor.identity) throw new ChatError(50107)
  return { service, user }
}

async function loadUserChannel(tx: ReadRepos, service: Service, user: User, channelRef: string) {
  const channel = await loadChannel(tx, service, channelRef)
  const uc = await tx.userChannels.get(user.sid, channel.sid)
  if (uc === undefined) throw new ChatError(20404, 'User channel not found')
  return { channel, uc }
}

/** The UserChannels API. */
export function userChannelsApi(ctx: Ctx): UserChannelsApi {
  return {
    async list(actor, serviceSid, userRef, page) {
      return ctx.read(async (tx) => {
        const { user } = await loadUserFor(tx, actor, serviceSid, userRef)
        const p = await keysetPage(
          page,
          { max: 50, keyOf: (r: UserChannel) => [r.createdAt, r.channelSid], keyLength: 2 },
          (q) => tx.userChannels.list(user.sid, q),
        )
        const items: UserChannelView[] = []
        for (const uc of p.items) items.push(await view(tx, uc))
        return { ...p, items }
      })
    },

    async fetch(actor, serviceSid, userRef, channelRef) {
      return ctx.read(async (tx) => {
        const { service, user } = await loadUserFor(tx, actor, serviceSid, userRef)
        const { channel, uc } = await loadUserChannel(tx, service, user, channelRef)
        return view(tx, uc, channel)
      })
    },

    async update(actor, serviceSid, userRef, channelRef, input) {
      if (input.notificationLevel !== undefined && input.notificationLevel !== 'default' && input.notificationLevel !== 'muted') {
        throw new ChatError(20001, 'NotificationLevel must be default or muted')
      }
      const idx = input.lastConsumedMessageIndex
      if (idx !== undefined && idx !== null && (!Number.isSafeInteger(idx) || idx < 0)) {
        throw new ChatError(20001, 'Invalid LastConsumedMessageIndex')
      }
      return ctx.write(async (w) => {
        const { service, user } = await loadUserFor(w.tx, actor, serviceSid, userRef)
        const { channel, uc } = await loadUserChannel(w.tx, service, user, channelRef)
        let current = uc
        if (idx !== undefined || input.lastConsumptionTimestamp !== undefined) {
          const member = await loadMember(w.tx, channel, user.identity).catch(() => {
            throw new ChatError(50400)
          })
          const patch: Parameters<typeof updateMemberTx>[3] = {}
          if (idx !== undefined) patch.lastConsumedMessageIndex = idx
          patch.lastConsumptionTimestamp = input.lastConsumptionTimestamp ?? (idx === null ? null : w.now)
          await updateMemberTx(w, channel, member, patch)
          current = (await w.tx.userChannels.get(user.sid, channel.sid)) ?? current
        }
        if (input.notificationLevel !== undefined && input.notificationLevel !== current.notificationLevel) {
          const level = input.notificationLevel as UserChannel['notificationLevel']
          const base = current
          current = await w.emit(streams.userChannels(user.sid), 'user_channel_updated', channel.sid, scopeOf(channel), (revision) => ({
            ...base,
            notificationLevel: level,
            updatedAt: w.now,
            revision,
          }))
          await w.tx.userChannels.put(current)
        }
        return view(w.tx, current, channel)
      })
    },

    async delete(actor, serviceSid, userRef, channelRef) {
      await ctx.write(async (w) => {
        const { service, user } = await loadUserFor(w.tx, actor, serviceSid, userRef)
        const { channel } = await loadUserChannel(w.tx, service, user, channelRef)
        const member = await w.tx.members.getByIdentity(channel.sid, user.identity)
        if (member !== undefined) {
          if (actor.kind === 'user') {
            requirePermission(await permissionsOf(w.tx, service, actor.identity, member), 'leaveChannel')
          }
          await removeMemberTx(w, channel, member)
        }
        const invite = await w.tx.invites.getByIdentity(channel.sid, user.identity)
        if (invite !== undefined) await removeInviteTx(w, channel, invite)
      })
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Bindings
// ---------------------------------------------------------------------------------------------------------------

const PUSH_TYPES: readonly string[] = ['gcm', 'apn', 'fcm']
const MESSAGE_TYPES: readonly string[] = ['removed_from_channel', 'new_message', 'added_to_channel', 'invited_to_channel']

/** The Bindings API. */
export function bindingsApi(ctx: Ctx): BindingsApi {
  const loadBinding = async (tx: ReadRepos, actor: Actor, serviceSid: string, sid: string, userRef?: string) => {
    const service = await loadService(tx, actor, serviceSid)
    const b = isSid('BS', sid) ? await tx.bindings.get(sid) : undefined
    if (b === undefined || b.serviceSid !== service.sid) throw new ChatError(20404, 'Binding not found')
    if (userRef !== undefined) {
      const user = await loadUser(tx, service, userRef)
      if (b.userSid !== user.sid) throw new ChatError(20404, 'Binding not found')
    }
    if (actor.kind === 'user' && b.identity !== actor.identity) throw new ChatError(20404, 'Binding not found')
    return b
  }
  return {
    async create(actor, input) {
      if (!PUSH_TYPES.includes(input.bindingType)) throw new ChatError(20001, 'BindingType must be gcm, apn or fcm')
      if (typeof input.endpoint !== 'string' || input.endpoint.length === 0 || input.endpoint.length > 1024) {
        throw new ChatError(20001, 'Invalid Endpoint')
      }
      const messageTypes = input.messageTypes ?? [...MESSAGE_TYPES]
      for (const t of messageTypes) if (!MESSAGE_TYPES.includes(t)) throw new ChatError(20001, 'Invalid message type')
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, actor.serviceSid)
        const user = await ensureUser(w, service, actor.identity)
        let credentialSid: string | null = null
        if (input.credentialSid !== undefined && input.credentialSid !== null) {
          const cred = isSid('CR', input.credentialSid) ? await w.tx.credentials.get(input.credentialSid) : undefined
          if (cred === undefined || cred.accountSid !== service.accountSid) throw new ChatError(20404, 'Credential not found')
          credentialSid = cred.sid
        }
        // One binding per (identity, type, endpoint): re-registering replaces it.
        const same = await w.tx.bindings.list(
          service.sid,
          { identities: [actor.identity], bindingTypes: [input.bindingType] },
          { limit: 1000 },
        )
        const existing = same.find((b) => b.endpoint === input.endpoint)
        const binding: Binding = {
          sid: existing?.sid ?? w.sid('BS'),
          accountSid: service.accountSid,
          serviceSid: service.sid,
          credentialSid,
          userSid: user.sid,
          identity: user.identity,
          endpoint: input.endpoint,
          bindingType: input.bindingType as PushType,
          messageTypes: [...new Set(messageTypes)],
          createdAt: existing?.createdAt ?? w.now,
          updatedAt: w.now,
        }
        await w.tx.bindings.put(binding)
        if (user.isNotifiable !== true) await w.tx.users.put({ ...user, isNotifiable: true })
        return binding
      })
    },

    async list(actor, serviceSid, filter, page) {
      return ctx.read(async (tx) => {
        const service = await loadService(tx, actor, serviceSid)
        let identities = filter?.identities?.length ? [...filter.identities] : undefined
        if (filter?.userRef !== undefined) identities = [(await loadUser(tx, service, filter.userRef)).identity]
        if (actor.kind === 'user') {
          if (identities !== undefined && identities.some((i) => i !== actor.identity)) throw new ChatError(50107)
          identities = [actor.identity]
        }
        return keysetPage(page, { max: 50, keyOf: byCreated, keyLength: 2 }, (q) =>
          tx.bindings.list(service.sid, { identities, bindingTypes: filter?.bindingTypes }, q),
        )
      })
    },

    async fetch(actor, serviceSid, bindingSid, userRef) {
      return ctx.read((tx) => loadBinding(tx, actor, serviceSid, bindingSid, userRef))
    },

    async delete(actor, serviceSid, bindingSid, userRef) {
      await ctx.write(async (w) => {
        const b = await loadBinding(w.tx, actor, serviceSid, bindingSid, userRef)
        await w.tx.bindings.delete(b.sid)
        const rest = await w.tx.bindings.list(b.serviceSid, { identities: [b.identity] }, { limit: 1 })
        if (rest.length === 0) {
          const user = await w.tx.users.get(b.userSid)
          if (user !== undefined && user.isNotifiable === true) await w.tx.users.put({ ...user, isNotifiable: false })
        }
      })
    },
  }
}
