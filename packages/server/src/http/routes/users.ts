/**
 * Users, a user's Channels and Bindings, service Bindings, Roles and account Credentials
 * (chat-rest-v2.md §5, §6.5–6.9).
 *
 * @module
 */
import type { Core } from '../../core/api.ts'
import { BINDING_TYPES } from '../../core/rules.ts'
import type {
  CredentialInput,
  RoleCreate,
  UserChannelUpdate,
  User,
  UserCreate,
  UserUpdate,
} from '../../core/types.ts'
import type { RouteDef } from '../context.ts'
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
  emptyToNull,
  inAccount,
  inService,
  inUser,
  ms,
  put,
  resourceRoutes,
  type Input,
} from './common.ts'

const SVC = '/v2/Services/:serviceSid'
const USER = `${SVC}/Users/:userSid`

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
    ...resourceRoutes({
      path: `${SVC}/Users`,
      itemPath: USER,
      idParam: 'userSid',
      key: 'users',
      maxPageSize: 100,
      scope: inService,
      serialize: serializeUser,
      serializeListed: (u: User, urls) => serializeUser(u, urls, true),
      list:
        ([actor, is]) =>
        (page) =>
          users.list(actor, is, page),
      create: ([actor, is], ctx) => {
        const input: UserCreate = { ...readUser(ctx.form), identity: ctx.form.required('Identity') }
        return users.create(actor, is, input)
      },
      fetch: ([actor, is], us) => users.fetch(actor, is, us),
      update: ([actor, is], us, ctx) => users.update(actor, is, us, readUser(ctx.form)),
      delete: ([actor, is], us) => users.delete(actor, is, us),
    }),
    ...resourceRoutes({
      path: `${USER}/Channels`,
      idParam: 'channelSid',
      itemPath: `${USER}/Channels/:channelSid`,
      key: 'channels',
      maxPageSize: 50,
      scope: inUser,
      serialize: serializeUserChannel,
      list:
        ([actor, is, us]) =>
        (page) =>
          userChannels.list(actor, is, us, page),
      fetch: ([actor, is, us], ch) => userChannels.fetch(actor, is, us, ch),
      update: ([actor, is, us], ch, ctx) => {
        const f = ctx.form
        const input: Input = {}
        put(input, 'notificationLevel', f.oneOf('NotificationLevel', ['default', 'muted']))
        put(
          input,
          'lastConsumedMessageIndex',
          f.int('LastConsumedMessageIndex', 0, Number.MAX_SAFE_INTEGER),
        )
        put(input, 'lastConsumptionTimestamp', ms(f.date('LastConsumptionTimestamp')))
        return userChannels.update(actor, is, us, ch, input as UserChannelUpdate)
      },
      delete: ([actor, is, us], ch) => userChannels.delete(actor, is, us, ch),
    }),
    ...resourceRoutes({
      path: `${USER}/Bindings`,
      key: 'bindings',
      maxPageSize: 50,
      scope: inUser,
      serialize: serializeUserBinding,
      list: ([actor, is, us], ctx) => {
        const bindingTypes = ctx.query.allOf('BindingType', BINDING_TYPES)
        const filter: { bindingTypes?: string[]; userRef: string } = { userRef: us }
        if (bindingTypes.length > 0) filter.bindingTypes = bindingTypes
        return (page) => bindings.list(actor, is, filter, page)
      },
      fetch: ([actor, is, us], sid) => bindings.fetch(actor, is, sid, us),
      delete: ([actor, is, us], sid) => bindings.delete(actor, is, sid, us),
    }),
    ...resourceRoutes({
      path: `${SVC}/Bindings`,
      key: 'bindings',
      maxPageSize: 50,
      scope: inService,
      serialize: serializeBinding,
      list: ([actor, is], ctx) => {
        const bindingTypes = ctx.query.allOf('BindingType', BINDING_TYPES)
        const identities = ctx.query.all('Identity')
        const filter: { bindingTypes?: string[]; identities?: string[] } = {}
        if (bindingTypes.length > 0) filter.bindingTypes = bindingTypes
        if (identities.length > 0) filter.identities = identities
        return (page) => bindings.list(actor, is, filter, page)
      },
      fetch: ([actor, is], sid) => bindings.fetch(actor, is, sid),
      delete: ([actor, is], sid) => bindings.delete(actor, is, sid),
    }),
    ...resourceRoutes({
      path: `${SVC}/Roles`,
      key: 'roles',
      maxPageSize: 100,
      scope: inService,
      serialize: serializeRole,
      list:
        ([actor, is]) =>
        (page) =>
          roles.list(actor, is, page),
      create: ([actor, is], ctx) => {
        const f = ctx.form
        const input: RoleCreate = {
          friendlyName: f.required('FriendlyName', { max: 256 }),
          type: f.required('Type', { max: 16 }),
          permissions: requiredList(f, 'Permission'),
        }
        return roles.create(actor, is, input)
      },
      fetch: ([actor, is], sid) => roles.fetch(actor, is, sid),
      update: ([actor, is], sid, ctx) =>
        roles.update(actor, is, sid, { permissions: requiredList(ctx.form, 'Permission') }),
      delete: ([actor, is], sid) => roles.delete(actor, is, sid),
    }),
    ...resourceRoutes({
      path: '/v2/Credentials',
      key: 'credentials',
      maxPageSize: 1000,
      scope: inAccount,
      serialize: serializeCredential,
      list:
        ([actor]) =>
        (page) =>
          credentials.list(actor, page),
      create: ([actor], ctx) => credentials.create(actor, readCredential(ctx.form, true)),
      fetch: ([actor], sid) => credentials.fetch(actor, sid),
      update: ([actor], sid, ctx) =>
        credentials.update(actor, sid, readCredential(ctx.form, false)),
      delete: ([actor], sid) => credentials.delete(actor, sid),
    }),
  ]
}

/** A repeated parameter that must be sent at least once (e.g. `Permission`). */
function requiredList(f: Params, key: string): string[] {
  if (!f.has(key)) f.required(key)
  return f.all(key)
}
