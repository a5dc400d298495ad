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
import type { Ctx, RouteDef } from '../context.ts'
import type { Params } from '../form.ts'
import {
  serializeChannel,
  serializeInvite,
  serializeMember,
  serializeMessage,
  serializeWebhook,
} from '../serialize.ts'
import {
  actorOf,
  created,
  ms,
  noContent,
  nonEmpty,
  ok,
  put,
  urlsOf,
  v2List,
  type Input,
} from './common.ts'

const CH = '/v2/Services/:serviceSid/Channels'
const ONE = `${CH}/:channelSid`
const I32 = 2_147_483_647

const p = (ctx: Ctx, k: string): string => ctx.params[k] as string

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
    // --- Channels ---
    {
      method: 'GET',
      pattern: CH,
      handler: (ctx) => {
        const types = ctx.query.allOf('Type', ['public', 'private'])
        return v2List(
          ctx,
          'channels',
          100,
          (page) =>
            channels.list(
              actorOf(ctx),
              p(ctx, 'serviceSid'),
              types.length > 0 ? { types } : {},
              page,
            ),
          (c) => serializeChannel(c, urlsOf(ctx)),
        )
      },
    },
    {
      method: 'POST',
      pattern: CH,
      handler: async (ctx) => {
        const c = await channels.create(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          readChannel(ctx.form, true),
        )
        return created(serializeChannel(c, urlsOf(ctx)))
      },
    },
    {
      method: 'GET',
      pattern: ONE,
      handler: async (ctx) =>
        ok(
          serializeChannel(
            await channels.fetch(actorOf(ctx), p(ctx, 'serviceSid'), p(ctx, 'channelSid')),
            urlsOf(ctx),
          ),
        ),
    },
    {
      method: 'POST',
      pattern: ONE,
      handler: async (ctx) => {
        const c = await channels.update(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'channelSid'),
          readChannel(ctx.form, false),
        )
        return ok(serializeChannel(c, urlsOf(ctx)))
      },
    },
    {
      method: 'DELETE',
      pattern: ONE,
      handler: async (ctx) => {
        await channels.delete(actorOf(ctx), p(ctx, 'serviceSid'), p(ctx, 'channelSid'))
        return noContent()
      },
    },

    // --- Members ---
    {
      method: 'GET',
      pattern: `${ONE}/Members`,
      handler: (ctx) => {
        const identities = ctx.query.all('Identity')
        return v2List(
          ctx,
          'members',
          100,
          (page) =>
            members.list(
              actorOf(ctx),
              p(ctx, 'serviceSid'),
              p(ctx, 'channelSid'),
              identities.length > 0 ? { identities } : {},
              page,
            ),
          (m) => serializeMember(m, urlsOf(ctx)),
        )
      },
    },
    {
      method: 'POST',
      pattern: `${ONE}/Members`,
      handler: async (ctx) => {
        const input = { ...readMember(ctx.form), identity: ctx.form.required('Identity') }
        const m = await members.create(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'channelSid'),
          input,
        )
        return created(serializeMember(m, urlsOf(ctx)))
      },
    },
    {
      method: 'GET',
      pattern: `${ONE}/Members/:sid`,
      handler: async (ctx) =>
        ok(
          serializeMember(
            await members.fetch(
              actorOf(ctx),
              p(ctx, 'serviceSid'),
              p(ctx, 'channelSid'),
              p(ctx, 'sid'),
            ),
            urlsOf(ctx),
          ),
        ),
    },
    {
      method: 'POST',
      pattern: `${ONE}/Members/:sid`,
      handler: async (ctx) => {
        const m = await members.update(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'channelSid'),
          p(ctx, 'sid'),
          readMember(ctx.form),
        )
        return ok(serializeMember(m, urlsOf(ctx)))
      },
    },
    {
      method: 'DELETE',
      pattern: `${ONE}/Members/:sid`,
      handler: async (ctx) => {
        await members.delete(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'channelSid'),
          p(ctx, 'sid'),
        )
        return noContent()
      },
    },

    // --- Messages ---
    {
      method: 'GET',
      pattern: `${ONE}/Messages`,
      handler: (ctx) => {
        const order = ctx.query.oneOf('Order', ['asc', 'desc'])
        return v2List(
          ctx,
          'messages',
          100,
          (page) =>
            messages.list(
              actorOf(ctx),
              p(ctx, 'serviceSid'),
              p(ctx, 'channelSid'),
              order === undefined ? {} : { order },
              page,
            ),
          (m) => serializeMessage(m, urlsOf(ctx)),
        )
      },
    },
    {
      method: 'POST',
      pattern: `${ONE}/Messages`,
      handler: async (ctx) => {
        const input = readMessage(ctx.form, true)
        const key = ctx.req.header(IDEMPOTENCY_HEADER)
        if (key !== undefined && key !== '') input.clientMessageId = key.slice(0, 256)
        const r = await messages.create(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'channelSid'),
          input,
        )
        return created(serializeMessage(r.message, urlsOf(ctx)))
      },
    },
    {
      method: 'GET',
      pattern: `${ONE}/Messages/:sid`,
      handler: async (ctx) =>
        ok(
          serializeMessage(
            await messages.fetch(
              actorOf(ctx),
              p(ctx, 'serviceSid'),
              p(ctx, 'channelSid'),
              p(ctx, 'sid'),
            ),
            urlsOf(ctx),
          ),
        ),
    },
    {
      method: 'POST',
      pattern: `${ONE}/Messages/:sid`,
      handler: async (ctx) => {
        const m = await messages.update(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'channelSid'),
          p(ctx, 'sid'),
          readMessage(ctx.form, false),
        )
        return ok(serializeMessage(m, urlsOf(ctx)))
      },
    },
    {
      method: 'DELETE',
      pattern: `${ONE}/Messages/:sid`,
      handler: async (ctx) => {
        await messages.delete(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'channelSid'),
          p(ctx, 'sid'),
        )
        return noContent()
      },
    },

    // --- Invites ---
    {
      method: 'GET',
      pattern: `${ONE}/Invites`,
      handler: (ctx) => {
        const identities = ctx.query.all('Identity')
        return v2List(
          ctx,
          'invites',
          100,
          (page) =>
            invites.list(
              actorOf(ctx),
              p(ctx, 'serviceSid'),
              p(ctx, 'channelSid'),
              identities.length > 0 ? { identities } : {},
              page,
            ),
          (i) => serializeInvite(i, urlsOf(ctx)),
        )
      },
    },
    {
      method: 'POST',
      pattern: `${ONE}/Invites`,
      handler: async (ctx) => {
        const input: InviteCreate = { identity: ctx.form.required('Identity') }
        const roleSid = ctx.form.string('RoleSid', { max: 64 })
        if (roleSid !== undefined) input.roleSid = roleSid
        const i = await invites.create(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'channelSid'),
          input,
        )
        return created(serializeInvite(i, urlsOf(ctx)))
      },
    },
    {
      method: 'GET',
      pattern: `${ONE}/Invites/:sid`,
      handler: async (ctx) =>
        ok(
          serializeInvite(
            await invites.fetch(
              actorOf(ctx),
              p(ctx, 'serviceSid'),
              p(ctx, 'channelSid'),
              p(ctx, 'sid'),
            ),
            urlsOf(ctx),
          ),
        ),
    },
    {
      method: 'DELETE',
      pattern: `${ONE}/Invites/:sid`,
      handler: async (ctx) => {
        await invites.delete(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'channelSid'),
          p(ctx, 'sid'),
        )
        return noContent()
      },
    },

    // --- Channel webhooks ---
    {
      method: 'GET',
      pattern: `${ONE}/Webhooks`,
      handler: (ctx) =>
        v2List(
          ctx,
          'webhooks',
          5,
          (page) => webhooks.list(actorOf(ctx), p(ctx, 'serviceSid'), p(ctx, 'channelSid'), page),
          (w) => serializeWebhook(w, urlsOf(ctx)),
        ),
    },
    {
      method: 'POST',
      pattern: `${ONE}/Webhooks`,
      handler: async (ctx) => {
        const w = await webhooks.create(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'channelSid'),
          readWebhook(ctx.form, true),
        )
        return created(serializeWebhook(w, urlsOf(ctx)))
      },
    },
    {
      method: 'GET',
      pattern: `${ONE}/Webhooks/:sid`,
      handler: async (ctx) =>
        ok(
          serializeWebhook(
            await webhooks.fetch(
              actorOf(ctx),
              p(ctx, 'serviceSid'),
              p(ctx, 'channelSid'),
              p(ctx, 'sid'),
            ),
            urlsOf(ctx),
          ),
        ),
    },
    {
      method: 'POST',
      pattern: `${ONE}/Webhooks/:sid`,
      handler: async (ctx) => {
        const w = await webhooks.update(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'channelSid'),
          p(ctx, 'sid'),
          readWebhook(ctx.form, false),
        )
        return ok(serializeWebhook(w, urlsOf(ctx)))
      },
    },
    {
      method: 'DELETE',
      pattern: `${ONE}/Webhooks/:sid`,
      handler: async (ctx) => {
        await webhooks.delete(
          actorOf(ctx),
          p(ctx, 'serviceSid'),
          p(ctx, 'channelSid'),
          p(ctx, 'sid'),
        )
        return noContent()
      },
    },
  ]
}
