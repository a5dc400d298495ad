/**
 * Channels and what hangs off them: Members, Messages, Invites and channel Webhooks (chat-rest-v2.md §5, §6.2–6.4,
 * §6.10–6.11). Channels are addressed by SID or unique name, members by SID or identity.
 *
 * @module
 */
import type { Core } from '../../core/api.ts'
import type {
  ChannelCreate,
  ChannelWebhookInput,
  InviteCreate,
  MemberUpdate,
  MessageCreate,
} from '../../core/types.ts'
import type { RouteDef } from '../context.ts'
import type { Params } from '../form.ts'
import {
  serializeChannel,
  serializeInvite,
  serializeMember,
  serializeMessage,
  serializeWebhook,
} from '../serialize.ts'
import { inChannel, inService, ms, nonEmpty, put, resourceRoutes, type Input } from './common.ts'

const CH = '/v2/Services/:serviceSid/Channels'
const ONE = `${CH}/:channelSid`
const I32 = 2_147_483_647

/** Header carrying the REST idempotency key of a message create (Twilio's `I-Twilio-Idempotency-Token`). */
const IDEMPOTENCY_HEADER = 'i-twilio-idempotency-token'

function readChannel(f: Params, create: boolean): ChannelCreate {
  const max = create ? 64 : 256
  const o: Input = {}
  put(o, 'friendlyName', f.string('FriendlyName', { max }))
  put(o, 'uniqueName', f.string('UniqueName', { max }))
  put(o, 'attributes', f.json('Attributes'))
  if (create) put(o, 'type', f.oneOf('Type', ['public', 'private']))
  put(o, 'createdBy', f.string('CreatedBy', { max: 256 }))
  put(o, 'dateCreated', ms(f.date('DateCreated')))
  put(o, 'dateUpdated', ms(f.date('DateUpdated')))
  return o as ChannelCreate
}

function readMember(f: Params): MemberUpdate {
  const o: Input = {}
  put(o, 'roleSid', f.string('RoleSid', { max: 64 }))
  put(o, 'lastConsumedMessageIndex', f.int('LastConsumedMessageIndex', 0, Number.MAX_SAFE_INTEGER))
  put(o, 'lastConsumptionTimestamp', ms(f.date('LastConsumptionTimestamp')))
  put(o, 'attributes', f.json('Attributes'))
  put(o, 'dateCreated', ms(f.date('DateCreated')))
  put(o, 'dateUpdated', ms(f.date('DateUpdated')))
  return o as MemberUpdate
}

function readMessage(f: Params, create: boolean): MessageCreate {
  const o: Input = {}
  put(o, 'from', f.string('From', { max: 256 }))
  put(o, 'body', f.string('Body'))
  put(o, 'attributes', f.json('Attributes'))
  put(o, 'lastUpdatedBy', f.string('LastUpdatedBy', { max: 256 }))
  put(o, 'dateCreated', ms(f.date('DateCreated')))
  put(o, 'dateUpdated', ms(f.date('DateUpdated')))
  if (create) put(o, 'mediaSid', f.string('MediaSid', { max: 64 }))
  return o as MessageCreate
}

function readWebhook(f: Params, create: boolean): ChannelWebhookInput {
  const o: Input = {}
  if (create) put(o, 'type', f.required('Type', { max: 16 }))
  const c: Input = {}
  put(c, 'url', f.string('Configuration.Url', { max: 2048 }))
  put(c, 'method', f.string('Configuration.Method', { max: 16 }))
  if (f.has('Configuration.Filters'))
    c['filters'] = f.all('Configuration.Filters').filter((v) => v !== '')
  if (f.has('Configuration.Triggers'))
    c['triggers'] = f.all('Configuration.Triggers').filter((v) => v !== '')
  put(c, 'flowSid', f.string('Configuration.FlowSid', { max: 64 }))
  put(c, 'retryCount', f.int('Configuration.RetryCount', 0, I32))
  if (nonEmpty(c)) o['configuration'] = c
  return o as ChannelWebhookInput
}

/** Routes of Channels, Members, Messages, Invites and channel Webhooks. */
export function channelRoutes(core: Core): RouteDef[] {
  const { channels, members, messages, invites, webhooks } = core
  return [
    ...resourceRoutes({
      path: CH,
      itemPath: ONE,
      idParam: 'channelSid',
      key: 'channels',
      maxPageSize: 100,
      scope: inService,
      serialize: serializeChannel,
      list: ([actor, is], ctx) => {
        const types = ctx.query.allOf('Type', ['public', 'private'])
        return (page) => channels.list(actor, is, types.length > 0 ? { types } : {}, page)
      },
      create: ([actor, is], ctx) => channels.create(actor, is, readChannel(ctx.form, true)),
      fetch: ([actor, is], ch) => channels.fetch(actor, is, ch),
      update: ([actor, is], ch, ctx) =>
        channels.update(actor, is, ch, readChannel(ctx.form, false)),
      delete: ([actor, is], ch) => channels.delete(actor, is, ch),
    }),
    ...resourceRoutes({
      path: `${ONE}/Members`,
      key: 'members',
      maxPageSize: 100,
      scope: inChannel,
      serialize: serializeMember,
      list: ([actor, is, ch], ctx) => {
        const identities = ctx.query.all('Identity')
        return (page) =>
          members.list(actor, is, ch, identities.length > 0 ? { identities } : {}, page)
      },
      create: ([actor, is, ch], ctx) => {
        const input = { ...readMember(ctx.form), identity: ctx.form.required('Identity') }
        return members.create(actor, is, ch, input)
      },
      fetch: ([actor, is, ch], sid) => members.fetch(actor, is, ch, sid),
      update: ([actor, is, ch], sid, ctx) =>
        members.update(actor, is, ch, sid, readMember(ctx.form)),
      delete: ([actor, is, ch], sid) => members.delete(actor, is, ch, sid),
    }),
    ...resourceRoutes({
      path: `${ONE}/Messages`,
      key: 'messages',
      maxPageSize: 100,
      scope: inChannel,
      serialize: serializeMessage,
      list: ([actor, is, ch], ctx) => {
        const order = ctx.query.oneOf('Order', ['asc', 'desc'])
        return (page) => messages.list(actor, is, ch, order === undefined ? {} : { order }, page)
      },
      create: async ([actor, is, ch], ctx) => {
        const input = readMessage(ctx.form, true)
        const key = ctx.req.header(IDEMPOTENCY_HEADER)
        if (key !== undefined && key !== '') input.clientMessageId = key
        return (await messages.create(actor, is, ch, input)).message
      },
      fetch: ([actor, is, ch], sid) => messages.fetch(actor, is, ch, sid),
      update: ([actor, is, ch], sid, ctx) =>
        messages.update(actor, is, ch, sid, readMessage(ctx.form, false)),
      delete: ([actor, is, ch], sid) => messages.delete(actor, is, ch, sid),
    }),
    ...resourceRoutes({
      path: `${ONE}/Invites`,
      key: 'invites',
      maxPageSize: 100,
      scope: inChannel,
      serialize: serializeInvite,
      list: ([actor, is, ch], ctx) => {
        const identities = ctx.query.all('Identity')
        return (page) =>
          invites.list(actor, is, ch, identities.length > 0 ? { identities } : {}, page)
      },
      create: ([actor, is, ch], ctx) => {
        const input: InviteCreate = { identity: ctx.form.required('Identity') }
        const roleSid = ctx.form.string('RoleSid', { max: 64 })
        if (roleSid !== undefined) input.roleSid = roleSid
        return invites.create(actor, is, ch, input)
      },
      fetch: ([actor, is, ch], sid) => invites.fetch(actor, is, ch, sid),
      delete: ([actor, is, ch], sid) => invites.delete(actor, is, ch, sid),
    }),
    ...resourceRoutes({
      path: `${ONE}/Webhooks`,
      key: 'webhooks',
      maxPageSize: 5,
      scope: inChannel,
      serialize: serializeWebhook,
      list:
        ([actor, is, ch]) =>
        (page) =>
          webhooks.list(actor, is, ch, page),
      create: ([actor, is, ch], ctx) => webhooks.create(actor, is, ch, readWebhook(ctx.form, true)),
      fetch: ([actor, is, ch], sid) => webhooks.fetch(actor, is, ch, sid),
      update: ([actor, is, ch], sid, ctx) =>
        webhooks.update(actor, is, ch, sid, readWebhook(ctx.form, false)),
      delete: ([actor, is, ch], sid) => webhooks.delete(actor, is, ch, sid),
    }),
  ]
}
