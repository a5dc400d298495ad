/**
 * Services and roles.
 *
 * @module
 */
import { ChatError } from '@parley/token'
import type { RolesApi, ServicesApi } from './api.ts'
import { deleteChannelTx } from './channels.ts'
import { loadRole, loadService, requireAdmin, type Ctx, type Wtx } from './context.ts'
import { byCreated, keysetPage } from './pagination.ts'
import {
  DEFAULT_ROLES,
  LIMITS,
  WEBHOOK_EVENTS,
  checkFriendlyName,
  checkInt,
  checkPermissions,
  checkRoleType,
  defaultServiceSettings,
} from './rules.ts'
import { deleteUserTx } from './users.ts'
import type { NotificationSetting, Role, RoleType, Service, ServiceUpdate } from './types.ts'

/** Creates a service and its four default roles inside `w`. */
export async function createServiceTx(
  w: Wtx,
  accountSid: string,
  friendlyName: string,
): Promise<Service> {
  const serviceSid = w.sid('IS')
  const makeRole = async (def: {
    friendlyName: string
    type: RoleType
    permissions: readonly string[]
  }) => {
    const role: Role = {
      sid: w.sid('RL'),
      accountSid,
      serviceSid,
      friendlyName: def.friendlyName,
      type: def.type,
      permissions: [...def.permissions],
      createdAt: w.now,
      updatedAt: w.now,
    }
    await w.tx.roles.put(role)
    return role
  }
  const serviceAdmin = await makeRole(DEFAULT_ROLES.serviceAdmin)
  void serviceAdmin
  const serviceUser = await makeRole(DEFAULT_ROLES.serviceUser)
  const channelAdmin = await makeRole(DEFAULT_ROLES.channelAdmin)
  const channelUser = await makeRole(DEFAULT_ROLES.channelUser)
  const service: Service = {
    sid: serviceSid,
    accountSid,
    friendlyName,
    createdAt: w.now,
    updatedAt: w.now,
    defaultServiceRoleSid: serviceUser.sid,
    defaultChannelRoleSid: channelUser.sid,
    defaultChannelCreatorRoleSid: channelAdmin.sid,
    ...defaultServiceSettings(),
  }
  await w.tx.services.put(service)
  return service
}

function requireName(v: unknown, max: number): string {
  const name = checkFriendlyName(v as string | null | undefined, max)
  if (name === null) throw new ChatError(20001, 'FriendlyName is required')
  return name
}

function mergeSetting<T extends NotificationSetting>(base: T, patch: Partial<T> | undefined): T {
  if (patch === undefined) return base
  const out = { ...base }
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue
    if (k === 'enabled' || k === 'badgeCountEnabled') {
      if (typeof v !== 'boolean') throw new ChatError(20001, `Notifications ${k} must be a boolean`)
    } else if (k === 'template' || k === 'sound') {
      if (v !== null && (typeof v !== 'string' || v.length > 1024))
        throw new ChatError(20001, `Invalid ${k}`)
    } else continue
    ;(out as Record<string, unknown>)[k] = v
  }
  return out
}

function checkUrl(v: string | null | undefined): string | null {
  if (v === null || v === undefined || v === '') return null
  if (typeof v !== 'string' || v.length > 2048 || !/^https?:\/\/[^\s]+$/i.test(v)) {
    throw new ChatError(20001, 'Invalid webhook URL')
  }
  return v
}

/** The Services API. */
export function servicesApi(ctx: Ctx): ServicesApi {
  return {
    async create(actor, input) {
      requireAdmin(actor)
      const name = requireName(input.friendlyName, LIMITS.friendlyName)
      return ctx.write((w) => createServiceTx(w, actor.accountSid, name))
    },
    async list(actor, page) {
      requireAdmin(actor)
      return ctx.read((tx) =>
        keysetPage(page, { max: 100, keyOf: byCreated, keyLength: 2 }, (q) =>
          tx.services.list(actor.accountSid, q),
        ),
      )
    },
    async fetch(actor, serviceSid) {
      requireAdmin(actor)
      return ctx.read((tx) => loadService(tx, actor, serviceSid))
    },
    async update(actor, serviceSid, input: ServiceUpdate) {
      requireAdmin(actor)
      return ctx.write(async (w) => {
        const s = await loadService(w.tx, actor, serviceSid)
        const next: Service = structuredClone(s)
        if (input.friendlyName !== undefined)
          next.friendlyName = requireName(input.friendlyName, LIMITS.friendlyName)
        if (input.defaultServiceRoleSid !== undefined)
          next.defaultServiceRoleSid = (
            await loadRole(w.tx, s, input.defaultServiceRoleSid, 'deployment')
          ).sid
        if (input.defaultChannelRoleSid !== undefined)
          next.defaultChannelRoleSid = (
            await loadRole(w.tx, s, input.defaultChannelRoleSid, 'channel')
          ).sid
        if (input.defaultChannelCreatorRoleSid !== undefined)
          next.defaultChannelCreatorRoleSid = (
            await loadRole(w.tx, s, input.defaultChannelCreatorRoleSid, 'channel')
          ).sid
        const bool = (v: unknown, name: string): boolean => {
          if (typeof v !== 'boolean') throw new ChatError(20001, `${name} must be a boolean`)
          return v
        }
        if (input.readStatusEnabled !== undefined)
          next.readStatusEnabled = bool(input.readStatusEnabled, 'ReadStatusEnabled')
        if (input.reachabilityEnabled !== undefined)
          next.reachabilityEnabled = bool(input.reachabilityEnabled, 'ReachabilityEnabled')
        if (input.typingIndicatorTimeout !== undefined)
          next.typingIndicatorTimeout = checkInt(
            input.typingIndicatorTimeout,
            1,
            3600,
            'TypingIndicatorTimeout',
          )
        if (input.consumptionReportInterval !== undefined)
          next.consumptionReportInterval = checkInt(
            input.consumptionReportInterval,
            1,
            3600,
            'ConsumptionReportInterval',
          )
        const n = input.notifications
        if (n !== undefined) {
          next.notifications = {
            newMessage: mergeSetting(next.notifications.newMessage, n.newMessage),
            addedToChannel: mergeSetting(next.notifications.addedToChannel, n.addedToChannel),
            removedFromChannel: mergeSetting(
              next.notifications.removedFromChannel,
              n.removedFromChannel,
            ),
            invitedToChannel: mergeSetting(next.notifications.invitedToChannel, n.invitedToChannel),
            logEnabled:
              n.logEnabled === undefined
                ? next.notifications.logEnabled
                : bool(n.logEnabled, 'LogEnabled'),
          }
        }
        if (input.preWebhookUrl !== undefined) next.preWebhookUrl = checkUrl(input.preWebhookUrl)
        if (input.postWebhookUrl !== undefined) next.postWebhookUrl = checkUrl(input.postWebhookUrl)
        if (input.webhookMethod !== undefined) {
          const m = String(input.webhookMethod).toUpperCase()
          if (m !== 'GET' && m !== 'POST')
            throw new ChatError(20001, 'WebhookMethod must be GET or POST')
          next.webhookMethod = m
        }
        if (input.webhookFilters !== undefined) {
          for (const f of input.webhookFilters) {
            if (!WEBHOOK_EVENTS.has(f)) throw new ChatError(20001, 'Invalid WebhookFilters value')
          }
          next.webhookFilters = [...new Set(input.webhookFilters)]
        }
        if (input.preWebhookRetryCount !== undefined)
          next.preWebhookRetryCount = checkInt(
            input.preWebhookRetryCount,
            0,
            3,
            'PreWebhookRetryCount',
          )
        if (input.postWebhookRetryCount !== undefined)
          next.postWebhookRetryCount = checkInt(
            input.postWebhookRetryCount,
            0,
            3,
            'PostWebhookRetryCount',
          )
        if (input.limits?.channelMembers !== undefined)
          next.limits.channelMembers = checkInt(
            input.limits.channelMembers,
            1,
            LIMITS.maxServiceLimit,
            'Limits.ChannelMembers',
            50061,
          )
        if (input.limits?.userChannels !== undefined)
          next.limits.userChannels = checkInt(
            input.limits.userChannels,
            1,
            LIMITS.maxServiceLimit,
            'Limits.UserChannels',
          )
        if (input.media?.compatibilityMessage !== undefined) {
          const m = input.media.compatibilityMessage
          if (m !== null && (typeof m !== 'string' || m.length > 1024))
            throw new ChatError(20001, 'Invalid Media.CompatibilityMessage')
          next.media.compatibilityMessage = m === '' ? null : m
        }
        next.updatedAt = w.now
        await w.tx.services.put(next)
        return next
      })
    },
    async delete(actor, serviceSid) {
      requireAdmin(actor)
      await ctx.write(async (w) => {
        const s = await loadService(w.tx, actor, serviceSid)
        // Channels first (cascading members, invites, messages), then users, bindings and roles.
        for (;;) {
          const chs = await w.tx.channels.list(s.sid, {}, { limit: 200 })
          if (chs.length === 0) break
          for (const ch of chs) await deleteChannelTx(w, s, ch)
        }
        for (;;) {
          const users = await w.tx.users.list(s.sid, { limit: 200 })
          if (users.length === 0) break
          for (const u of users) await deleteUserTx(w, s, u)
        }
        for (;;) {
          const bs = await w.tx.bindings.list(s.sid, {}, { limit: 200 })
          if (bs.length === 0) break
          for (const b of bs) await w.tx.bindings.delete(b.sid)
        }
        for (;;) {
          const roles = await w.tx.roles.list(s.sid, { limit: 200 })
          if (roles.length === 0) break
          for (const r of roles) await w.tx.roles.delete(r.sid)
        }
        await w.tx.services.delete(s.sid)
      })
    },
  }
}

/** The Roles API. */
export function rolesApi(ctx: Ctx): RolesApi {
  return {
    async create(actor, serviceSid, input) {
      requireAdmin(actor)
      const friendlyName = requireName(input.friendlyName, LIMITS.uniqueNameCreate)
      const type = checkRoleType(input.type)
      const permissions = checkPermissions(type, input.permissions)
      return ctx.write(async (w) => {
        const s = await loadService(w.tx, actor, serviceSid)
        const role: Role = {
          sid: w.sid('RL'),
          accountSid: s.accountSid,
          serviceSid: s.sid,
          friendlyName,
          type,
          permissions,
          createdAt: w.now,
          updatedAt: w.now,
        }
        await w.tx.roles.put(role)
        return role
      })
    },
    async list(actor, serviceSid, page) {
      return ctx.read(async (tx) => {
        const s = await loadService(tx, actor, serviceSid)
        return keysetPage(page, { max: 100, keyOf: byCreated, keyLength: 2 }, (q) =>
          tx.roles.list(s.sid, q),
        )
      })
    },
    async fetch(actor, serviceSid, roleSid) {
      return ctx.read(async (tx) => loadRole(tx, await loadService(tx, actor, serviceSid), roleSid))
    },
    async update(actor, serviceSid, roleSid, input) {
      requireAdmin(actor)
      return ctx.write(async (w) => {
        const role = await loadRole(w.tx, await loadService(w.tx, actor, serviceSid), roleSid)
        const next: Role = {
          ...role,
          permissions: checkPermissions(role.type, input.permissions),
          updatedAt: w.now,
        }
        await w.tx.roles.put(next)
        return next
      })
    },
    async delete(actor, serviceSid, roleSid) {
      requireAdmin(actor)
      await ctx.write(async (w) => {
        const s = await loadService(w.tx, actor, serviceSid)
        const role = await loadRole(w.tx, s, roleSid)
        if (
          [
            s.defaultServiceRoleSid,
            s.defaultChannelRoleSid,
            s.defaultChannelCreatorRoleSid,
          ].includes(role.sid)
        ) {
          throw new ChatError(20409, 'Role is a default role of the service')
        }
        await w.tx.roles.delete(role.sid)
      })
    },
  }
}
