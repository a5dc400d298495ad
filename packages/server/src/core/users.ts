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
  createUserTx,
  ensureUser,
  loadChannel,
  loadMember,
  loadRole,
  loadService,
  loadUser,
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
  BINDING_MESSAGE_TYPES,
  BINDING_TYPES,
  DEFAULT_BINDING_MESSAGE_TYPES,
  LIMITS,
  PUSH_TYPES,
  checkAttributes,
  checkFriendlyName,
  checkIdentity,
  isCleanText,
  isSid,
} from './rules.ts'
import type {
  Actor,
  Binding,
  BindingType,
  Channel,
  Service,
  User,
  UserActor,
  UserChannel,
  UserChannelView,
} from './types.ts'

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
    const bs = await w.tx.bindings.list(
      service.sid,
      { identities: [user.identity] },
      { limit: 500 },
    )
    if (bs.length === 0) break
    for (const b of bs) await w.tx.bindings.delete(b.sid)
  }
  await w.tx.users.delete(user.sid)
  await w.emit(streams.user(user.sid), 'user_removed', null, scopeOf(user), () => user)
}

/** List reads never carry reachability (chat-rest-v2.md §6.5). */
const forList = (u: User): User => ({ ...u, isOnline: null, isNotifiable: null })
const forFetch = (s: Service, u: User): User =>
  s.reachabilityEnabled ? u : { ...u, isOnline: null }

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
        if ((await w.tx.users.getByIdentity(service.sid, identity)) !== undefined)
          throw new ChatError(50201)
        const roleSid =
          input.roleSid !== undefined
            ? (await loadRole(w.tx, service, input.roleSid, 'deployment')).sid
            : service.defaultServiceRoleSid
        const user = await createUserTx(w, service, { identity, friendlyName, attributes, roleSid })
        return forFetch(service, user)
      })
    },

    async list(actor, serviceSid, page) {
      return ctx.read(async (tx) => {
        const service = await loadService(tx, actor, serviceSid)
        const p = await keysetPage(page, { max: 100, keyOf: byCreated, keyLength: 2 }, (q) =>
          tx.users.list(service.sid, q),
        )
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
        input.attributes === undefined
          ? undefined
          : checkAttributes(input.attributes, LIMITS.userAttributesBytes)
      const friendlyName =
        input.friendlyName === undefined
          ? undefined
          : checkFriendlyName(input.friendlyName, LIMITS.friendlyName)
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, serviceSid)
        let user: User
        const next: Partial<User> = {}
        if (actor.kind === 'user') {
          if (input.roleSid !== undefined) throw new ChatError(50205)
          await ensureUser(w, service, actor.identity)
          user = await loadUser(w.tx, service, ref)
          const perms = await permissionsOf(w.tx, service, actor.identity, undefined)
          requirePermission(
            perms,
            user.identity === actor.identity ? 'editOwnUserInfo' : 'editAnyUserInfo',
            'editAnyUserInfo',
          )
        } else {
          user = await loadUser(w.tx, service, ref)
          if (input.roleSid !== undefined)
            next.roleSid = (await loadRole(w.tx, service, input.roleSid, 'deployment')).sid
        }
        if (attributes !== undefined) next.attributes = attributes
        if (friendlyName !== undefined) next.friendlyName = friendlyName
        const updated = await w.emit(
          streams.user(user.sid),
          'user_updated',
          null,
          scopeOf(user),
          (revision): User => ({
            ...user,
            ...next,
            updatedAt: w.now,
            revision,
          }),
        )
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
      const seen = await readOwnUser(ctx, actor)
      if (seen.user !== undefined) return forFetch(seen.service, seen.user)
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, actor.serviceSid)
        return forFetch(service, await ensureUser(w, service, actor.identity))
      })
    },

    async setOnline(actor, online) {
      // Read first: with reachability off (the default) or an unchanged state there is nothing to write, and a
      // connect must not cost a write transaction.
      const seen = await readOwnUser(ctx, actor)
      if (!seen.service.reachabilityEnabled) return seen.user && forFetch(seen.service, seen.user)
      if (seen.user?.isOnline === online) return seen.user
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, actor.serviceSid)
        const user = await ensureUser(w, service, actor.identity)
        if (!service.reachabilityEnabled || user.isOnline === online) return forFetch(service, user)
        return setReachabilityTx(w, user, { isOnline: online })
      })
    },
  }
}

/** The actor's service and (if it exists) user, from one read. @throws {ChatError} 20404 unknown service. */
async function readOwnUser(
  ctx: Ctx,
  actor: UserActor,
): Promise<{ service: Service; user: User | undefined }> {
  return ctx.read(async (tx) => {
    const service = await loadService(tx, actor, actor.serviceSid)
    return { service, user: await tx.users.getByIdentity(service.sid, actor.identity) }
  })
}

// ---------------------------------------------------------------------------------------------------------------
// User channels
// ---------------------------------------------------------------------------------------------------------------

/**
 * Unread messages: those with an index above the horizon that still exist. While no message of the channel was ever
 * deleted (`messagesCount === nextMessageIndex`), indexes `0..next-1` all exist and the count is a subtraction;
 * otherwise the store counts them.
 */
async function unreadCount(tx: ReadRepos, ch: Channel, lastConsumed: number): Promise<number> {
  const newest = ch.lastMessageIndex
  if (newest === null || lastConsumed >= newest) return 0
  if (ch.messagesCount === ch.nextMessageIndex) return newest - lastConsumed
  return tx.messages.countAfter(ch.sid, lastConsumed)
}

async function view(tx: ReadRepos, uc: UserChannel, channel?: Channel): Promise<UserChannelView> {
  const ch = channel ?? (await tx.channels.get(uc.channelSid))
  const unread =
    uc.lastConsumedMessageIndex === null || ch === undefined
      ? null
      : await unreadCount(tx, ch, uc.lastConsumedMessageIndex)
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
      if (
        input.notificationLevel !== undefined &&
        input.notificationLevel !== 'default' &&
        input.notificationLevel !== 'muted'
      ) {
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
          patch.lastConsumptionTimestamp =
            input.lastConsumptionTimestamp ?? (idx === null ? null : w.now)
          await updateMemberTx(w, channel, member, patch)
          current = (await w.tx.userChannels.get(user.sid, channel.sid)) ?? current
        }
        if (
          input.notificationLevel !== undefined &&
          input.notificationLevel !== current.notificationLevel
        ) {
          const level = input.notificationLevel as UserChannel['notificationLevel']
          const base = current
          current = await w.emit(
            streams.userChannels(user.sid),
            'user_channel_updated',
            channel.sid,
            scopeOf(channel),
            (revision) => ({
              ...base,
              notificationLevel: level,
              updatedAt: w.now,
              revision,
            }),
          )
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
            requirePermission(
              await permissionsOf(w.tx, service, actor.identity, member),
              'leaveChannel',
            )
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

function checkBindingType(t: unknown): BindingType {
  if (!(BINDING_TYPES as readonly unknown[]).includes(t)) {
    throw new ChatError(20001, `BindingType must be one of ${BINDING_TYPES.join(', ')}`)
  }
  return t as BindingType
}

function checkEndpoint(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > LIMITS.bindingField)
    throw new ChatError(20001, 'Invalid Endpoint')
  return v
}

function checkAddress(v: unknown): string | null {
  if (v === null || v === undefined) return null
  if (
    typeof v !== 'string' ||
    v.length === 0 ||
    v.length > LIMITS.bindingField ||
    !isCleanText(v)
  ) {
    throw new ChatError(20001, 'Invalid binding address')
  }
  return v
}

/** SDK message type names (`twilio.channel.new_message`) → the chat names; anything else is dropped. */
function clientMessageTypes(types: unknown): string[] {
  if (!Array.isArray(types)) throw new ChatError(20001, 'Message types must be a list')
  const out = new Set<string>()
  for (const t of types) {
    if (typeof t !== 'string') continue
    const name = t.startsWith(SDK_TYPE_PREFIX) ? t.slice(SDK_TYPE_PREFIX.length) : t
    if (BINDING_MESSAGE_TYPES.includes(name)) out.add(name)
  }
  return [...out]
}
const SDK_TYPE_PREFIX = 'twilio.channel.'

/** A validated registration. */
interface Registration {
  endpoint: string
  bindingType: BindingType
  messageTypes: string[]
  credentialSid: string | null | undefined
  address: string | null
}

/** The actor's bindings of one type (at most `LIMITS.bindingsPerType`, plus at worst one being replaced). */
function bindingsOfType(
  w: Wtx,
  serviceSid: string,
  identity: string,
  type: BindingType,
): Promise<Binding[]> {
  return w.tx.bindings.list(
    serviceSid,
    { identities: [identity], bindingTypes: [type] },
    { limit: 1000 },
  )
}

/**
 * Stores a registration: replaces the binding of the same `(identity, type, endpoint)`, drops the least recently
 * registered ones beyond `LIMITS.bindingsPerType`, and marks the user notifiable for a push type.
 */
async function saveBindingTx(w: Wtx, actor: UserActor, r: Registration): Promise<Binding> {
  const service = await loadService(w.tx, actor, actor.serviceSid)
  const user = await ensureUser(w, service, actor.identity)
  let credentialSid: string | null = null
  if (r.credentialSid !== undefined && r.credentialSid !== null) {
    const cred = isSid('CR', r.credentialSid)
      ? await w.tx.credentials.get(r.credentialSid)
      : undefined
    if (cred === undefined || cred.accountSid !== service.accountSid)
      throw new ChatError(20404, 'Credential not found')
    credentialSid = cred.sid
  }
  const same = await bindingsOfType(w, service.sid, user.identity, r.bindingType)
  const existing = same.find((b) => b.endpoint === r.endpoint)
  const others = same
    .filter((b) => b !== existing)
    .sort((a, b) => a.updatedAt - b.updatedAt || a.createdAt - b.createdAt)
  for (const old of others.slice(0, Math.max(0, others.length - (LIMITS.bindingsPerType - 1)))) {
    await w.tx.bindings.delete(old.sid)
  }
  const binding: Binding = {
    sid: existing?.sid ?? w.sid('BS'),
    accountSid: service.accountSid,
    serviceSid: service.sid,
    credentialSid,
    userSid: user.sid,
    identity: user.identity,
    endpoint: r.endpoint,
    bindingType: r.bindingType,
    messageTypes: r.messageTypes,
    address: r.address,
    createdAt: existing?.createdAt ?? w.now,
    updatedAt: w.now,
  }
  await w.tx.bindings.put(binding)
  if (isPush(binding) && user.isNotifiable !== true)
    await setReachabilityTx(w, user, { isNotifiable: true })
  return binding
}

/**
 * Stores a change of `isOnline` or `isNotifiable` with its `reachability_updated` event, so that the user's
 * reachability item (`online`, `notifiable`) follows live in the SDKs.
 */
async function setReachabilityTx(
  w: Wtx,
  user: User,
  patch: { isOnline: boolean } | { isNotifiable: boolean },
): Promise<User> {
  const next = await w.emit(
    streams.user(user.sid),
    'reachability_updated',
    'reachability',
    scopeOf(user),
    (revision) => ({
      ...user,
      ...patch,
      revision,
    }),
  )
  await w.tx.users.put(next)
  return next
}

const isPush = (b: Binding): boolean => (PUSH_TYPES as readonly string[]).includes(b.bindingType)

/** Deletes a binding; the user stops being notifiable with its last push binding. */
async function removeBindingTx(w: Wtx, b: Binding): Promise<void> {
  await w.tx.bindings.delete(b.sid)
  if (!isPush(b)) return
  const rest = await w.tx.bindings.list(
    b.serviceSid,
    { identities: [b.identity], bindingTypes: PUSH_TYPES },
    { limit: 1 },
  )
  if (rest.length === 0) {
    const user = await w.tx.users.get(b.userSid)
    if (user !== undefined && user.isNotifiable === true)
      await setReachabilityTx(w, user, { isNotifiable: false })
  }
}

/** The Bindings API. */
export function bindingsApi(ctx: Ctx): BindingsApi {
  const loadBinding = async (
    tx: ReadRepos,
    actor: Actor,
    serviceSid: string,
    sid: string,
    userRef?: string,
  ) => {
    const service = await loadService(tx, actor, serviceSid)
    const b = isSid('BS', sid) ? await tx.bindings.get(sid) : undefined
    if (b === undefined || b.serviceSid !== service.sid)
      throw new ChatError(20404, 'Binding not found')
    if (userRef !== undefined) {
      const user = await loadUser(tx, service, userRef)
      if (b.userSid !== user.sid) throw new ChatError(20404, 'Binding not found')
    }
    if (actor.kind === 'user' && b.identity !== actor.identity)
      throw new ChatError(20404, 'Binding not found')
    return b
  }
  return {
    async create(actor, input) {
      const bindingType = checkBindingType(input.bindingType)
      const endpoint = checkEndpoint(input.endpoint)
      const messageTypes = input.messageTypes ?? [...DEFAULT_BINDING_MESSAGE_TYPES]
      for (const t of messageTypes)
        if (!BINDING_MESSAGE_TYPES.includes(t)) throw new ChatError(20001, 'Invalid message type')
      const address = checkAddress(input.address)
      const r: Registration = {
        endpoint,
        bindingType,
        messageTypes: [...new Set(messageTypes)],
        credentialSid: input.credentialSid,
        address,
      }
      return ctx.write((w) => saveBindingTx(w, actor, r))
    },

    async upsertFromClient(actor, input) {
      const r: Registration = {
        endpoint: checkEndpoint(input.endpoint),
        bindingType: checkBindingType(input.bindingType),
        messageTypes: clientMessageTypes(input.messageTypes),
        credentialSid: input.credentialSid,
        address: checkAddress(input.address),
      }
      return ctx.write((w) => saveBindingTx(w, actor, r))
    },

    async deleteFromClient(actor, ref) {
      const bindingType = checkBindingType(ref.bindingType)
      const endpoint = ref.endpoint === undefined ? undefined : checkEndpoint(ref.endpoint)
      const address = ref.address === undefined ? undefined : checkAddress(ref.address)
      if (endpoint === undefined && address === undefined)
        throw new ChatError(20001, 'Endpoint or address is required')
      return ctx.write(async (w) => {
        const service = await loadService(w.tx, actor, actor.serviceSid)
        const gone = (await bindingsOfType(w, service.sid, actor.identity, bindingType)).filter(
          (b) =>
            (endpoint === undefined || b.endpoint === endpoint) &&
            (address === undefined || (b.address ?? null) === address),
        )
        for (const b of gone) await removeBindingTx(w, b)
        return gone.length > 0
      })
    },

    async list(actor, serviceSid, filter, page) {
      return ctx.read(async (tx) => {
        const service = await loadService(tx, actor, serviceSid)
        let identities = filter?.identities?.length ? [...filter.identities] : undefined
        if (filter?.userRef !== undefined)
          identities = [(await loadUser(tx, service, filter.userRef)).identity]
        if (actor.kind === 'user') {
          if (identities !== undefined && identities.some((i) => i !== actor.identity))
            throw new ChatError(50107)
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
      await ctx.write(async (w) =>
        removeBindingTx(w, await loadBinding(w.tx, actor, serviceSid, bindingSid, userRef)),
      )
    },
  }
}
