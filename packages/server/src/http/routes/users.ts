/**
 * Users, a user's Channels and Bindings, service Bindings, Roles and account Credentials
 * (chat-rest-v2.md §5, §6.5–6.9).
 *
 * @module
 */
import type { Core } from '../../core/api.ts'
import type {
  CredentialInput,
  RoleCreate,
  UserChannelUpdate,
  UserCreate,
  UserUpdate,
} from '../../core/types.ts'
import type { Ctx, RouteDef } from '../context.ts'
import type { Params } from '../form.ts'
import {
  serializeBinding,
  serializeCredential,
  serializeRole,
  serializeUser,
  serializeUserBinding,
  serializeUserChannel,
} from '../serialize.ts'
import {
  actorOf,
  created,
  emptyToNull,
  ms,
  noContent,
  ok,
  put,
  urlsOf,
  v2List,
  type Input,
} from './common.ts'

const SVC = '/v2/Services/:serviceSid'
const USER = `${SVC}/Users/:userSid`
const PUSH_TYPES = ['gcm', 'apn', 'fcm'] as const

const p = (ctx: Ctx, k: string): string => ctx.params[k] as string

function readUser(f: Params): UserUpdate {
  const o: Input = {}
  put(o, 'roleSid', f.string('RoleSid', { max: 64 }))
  put(o, 'attributes', f.json('Attributes'))
  put(o, 'friendlyName', emptyToNull(f.string('FriendlyName', { max: 256 })))
  return o as UserUpdate
}

function readCredential(f: Params, create: boolean): CredentialInput {
  const o: Input = {}
  if (create) put(o, 'type', f.required('Type', { max: 16 }))
  put(o, 'friendlyName', f.string('FriendlyName', { max: 256 }))
  put(o, 'certificate', f.string('Certificate', { max: 65_536 }))
  put(o, 'privateKey', f.string('PrivateKey', { max: 65_536 }))
  put(o, 'sandbox', f.bool('Sandbox'))
  put(o, 'apiKey', f.string('ApiKey', { max: 4096 }))
  put(o, 'secret', f.string('Secret', { max: 4096 }))
  return o as CredentialInput
}

/** Routes of Users, UserChannels, UserBindings, Bindings, Roles and Credentials. */
export function userRoutes(core: Core): RouteDef[] {
  const { users, userChannels, bindings, roles, credentials } = core
  return [
    // --- Users ---
    {
      method: 'GET',
      pattern: `${SVC}/Users`,
      handler: (ctx) =>
        v2List(
          ctx,
          'users',
          100,
          (page) => users.list(actorOf(ctx), p(ctx, 'serviceSid'), page),
          (u) => serializeUser(u, urlsOf(ctx), true),
        ),
    },
    {
      method: 'POST',
      pattern: `${SVC}/Users`,
      handler: async (ctx) => {
        const input: UserCreate = { ...readUser(ctx.form), identity: ctx.form.required('Identity') }
        const u = await users.create(actorOf(ctx), p(ctx, 'serviceSid'), input)
        return created(serializeUser(u, urlsOf(ctx)))
      },
    },
    {
      method: 'GET',
      pattern: USER,
      handler: async (ctx) =>
        ok(
          serializeUser(
            await users.fetch(actorOf(ctx), p(ctx, 'serviceSid'), p(ctx, 'userSid')),
            urlsOf(ctx),
          ),
        ),
    },
    {
      method: 'POST',
      pattern: USER,
      handler: async (ctx) => {
        const u = await users.update(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'userSid'),
          readUser(ctx.form),
        )
        return ok(serializeUser(u, urlsOf(ctx)))
      },
    },
    {
      method: 'DELETE',
      pattern: USER,
      handler: async (ctx) => {
        await users.delete(actorOf(ctx), p(ctx, 'serviceSid'), p(ctx, 'userSid'))
        return noContent()
      },
    },

    // --- UserChannels ---
    {
      method: 'GET',
      pattern: `${USER}/Channels`,
      handler: (ctx) =>
        v2List(
          ctx,
          'channels',
          50,
          (page) => userChannels.list(actorOf(ctx), p(ctx, 'serviceSid'), p(ctx, 'userSid'), page),
          (x) => serializeUserChannel(x, urlsOf(ctx)),
        ),
    },
    {
      method: 'GET',
      pattern: `${USER}/Channels/:channelSid`,
      handler: async (ctx) =>
        ok(
          serializeUserChannel(
            await userChannels.fetch(
              actorOf(ctx),
              p(ctx, 'serviceSid'),
              p(ctx, 'userSid'),
              p(ctx, 'channelSid'),
            ),
            urlsOf(ctx),
          ),
        ),
    },
    {
      method: 'POST',
      pattern: `${USER}/Channels/:channelSid`,
      handler: async (ctx) => {
        const f = ctx.form
        const input: Input = {}
        put(input, 'notificationLevel', f.oneOf('NotificationLevel', ['default', 'muted']))
        put(
          input,
          'lastConsumedMessageIndex',
          f.int('LastConsumedMessageIndex', 0, Number.MAX_SAFE_INTEGER),
        )
        put(input, 'lastConsumptionTimestamp', ms(f.date('LastConsumptionTimestamp')))
        const x = await userChannels.update(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'userSid'),
          p(ctx, 'channelSid'),
          input as UserChannelUpdate,
        )
        return ok(serializeUserChannel(x, urlsOf(ctx)))
      },
    },
    {
      method: 'DELETE',
      pattern: `${USER}/Channels/:channelSid`,
      handler: async (ctx) => {
        await userChannels.delete(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'userSid'),
          p(ctx, 'channelSid'),
        )
        return noContent()
      },
    },

    // --- UserBindings ---
    {
      method: 'GET',
      pattern: `${USER}/Bindings`,
      handler: (ctx) => {
        const bindingTypes = ctx.query.allOf('BindingType', PUSH_TYPES)
        const filter: { bindingTypes?: string[]; userRef: string } = { userRef: p(ctx, 'userSid') }
        if (bindingTypes.length > 0) filter.bindingTypes = bindingTypes
        return v2List(
          ctx,
          'bindings',
          50,
          (page) => bindings.list(actorOf(ctx), p(ctx, 'serviceSid'), filter, page),
          (b) => serializeUserBinding(b, urlsOf(ctx)),
        )
      },
    },
    {
      method: 'GET',
      pattern: `${USER}/Bindings/:sid`,
      handler: async (ctx) =>
        ok(
          serializeUserBinding(
            await bindings.fetch(
              actorOf(ctx),
              p(ctx, 'serviceSid'),
              p(ctx, 'sid'),
              p(ctx, 'userSid'),
            ),
            urlsOf(ctx),
          ),
        ),
    },
    {
      method: 'DELETE',
      pattern: `${USER}/Bindings/:sid`,
      handler: async (ctx) => {
        await bindings.delete(actorOf(ctx), p(ctx, 'serviceSid'), p(ctx, 'sid'), p(ctx, 'userSid'))
        return noContent()
      },
    },

    // --- Bindings (service level) ---
    {
      method: 'GET',
      pattern: `${SVC}/Bindings`,
      handler: (ctx) => {
        const bindingTypes = ctx.query.allOf('BindingType', PUSH_TYPES)
        const identities = ctx.query.all('Identity')
        const filter: { bindingTypes?: string[]; identities?: string[] } = {}
        if (bindingTypes.length > 0) filter.bindingTypes = bindingTypes
        if (identities.length > 0) filter.identities = identities
        return v2List(
          ctx,
          'bindings',
          50,
          (page) => bindings.list(actorOf(ctx), p(ctx, 'serviceSid'), filter, page),
          (b) => serializeBinding(b, urlsOf(ctx)),
        )
      },
    },
    {
      method: 'GET',
      pattern: `${SVC}/Bindings/:sid`,
      handler: async (ctx) =>
        ok(
          serializeBinding(
            await bindings.fetch(actorOf(ctx), p(ctx, 'serviceSid'), p(ctx, 'sid')),
            urlsOf(ctx),
          ),
        ),
    },
    {
      method: 'DELETE',
      pattern: `${SVC}/Bindings/:sid`,
      handler: async (ctx) => {
        await bindings.delete(actorOf(ctx), p(ctx, 'serviceSid'), p(ctx, 'sid'))
        return noContent()
      },
    },

    // --- Roles ---
    {
      method: 'GET',
      pattern: `${SVC}/Roles`,
      handler: (ctx) =>
        v2List(
          ctx,
          'roles',
          100,
          (page) => roles.list(actorOf(ctx), p(ctx, 'serviceSid'), page),
          (r) => serializeRole(r, urlsOf(ctx)),
        ),
    },
    {
      method: 'POST',
      pattern: `${SVC}/Roles`,
      handler: async (ctx) => {
        const f = ctx.form
        const input: RoleCreate = {
          friendlyName: f.required('FriendlyName', { max: 256 }),
          type: f.required('Type', { max: 16 }),
          permissions: requiredList(f, 'Permission'),
        }
        const r = await roles.create(actorOf(ctx), p(ctx, 'serviceSid'), input)
        return created(serializeRole(r, urlsOf(ctx)))
      },
    },
    {
      method: 'GET',
      pattern: `${SVC}/Roles/:sid`,
      handler: async (ctx) =>
        ok(
          serializeRole(
            await roles.fetch(actorOf(ctx), p(ctx, 'serviceSid'), p(ctx, 'sid')),
            urlsOf(ctx),
          ),
        ),
    },
    {
      method: 'POST',
      pattern: `${SVC}/Roles/:sid`,
      handler: async (ctx) => {
        const r = await roles.update(actorOf(ctx), p(ctx, 'serviceSid'), p(ctx, 'sid'), {
          permissions: requiredList(ctx.form, 'Permission'),
        })
        return ok(serializeRole(r, urlsOf(ctx)))
      },
    },
    {
      method: 'DELETE',
      pattern: `${SVC}/Roles/:sid`,
      handler: async (ctx) => {
        await roles.delete(actorOf(ctx), p(ctx, 'serviceSid'), p(ctx, 'sid'))
        return noContent()
      },
    },

    // --- Credentials ---
    {
      method: 'GET',
      pattern: '/v2/Credentials',
      handler: (ctx) =>
        v2List(
          ctx,
          'credentials',
          1000,
          (page) => credentials.list(actorOf(ctx), page),
          (c) => serializeCredential(c, urlsOf(ctx)),
        ),
    },
    {
      method: 'POST',
      pattern: '/v2/Credentials',
      handler: async (ctx) =>
        created(
          serializeCredential(
            await credentials.create(actorOf(ctx), readCredential(ctx.form, true)),
            urlsOf(ctx),
          ),
        ),
    },
    {
      method: 'GET',
      pattern: '/v2/Credentials/:sid',
      handler: async (ctx) =>
        ok(serializeCredential(await credentials.fetch(actorOf(ctx), p(ctx, 'sid')), urlsOf(ctx))),
    },
    {
      method: 'POST',
      pattern: '/v2/Credentials/:sid',
      handler: async (ctx) =>
        ok(
          serializeCredential(
            await credentials.update(actorOf(ctx), p(ctx, 'sid'), readCredential(ctx.form, false)),
            urlsOf(ctx),
          ),
        ),
    },
    {
      method: 'DELETE',
      pattern: '/v2/Credentials/:sid',
      handler: async (ctx) => {
        await credentials.delete(actorOf(ctx), p(ctx, 'sid'))
        return noContent()
      },
    },
  ]
}

/** A repeated parameter that must be sent at least once (e.g. `Permission`). */
function requiredList(f: Params, key: string): string[] {
  if (!f.has(key)) f.required(key)
  return f.all(key)
}
