/**
 * The aim chat client API (host `aim.…`) over the Parley core (docs/internals/twilio-sdk-protocol.md §2).
 *
 * Every operation runs as the session's user (core enforces roles, permissions and membership). Mutations with
 * `X-Twilio-Mutation-Id` are idempotent per user for 10 minutes: a retry (same method, path, query and body) gets the
 * first response, even while the first is still running; the same id with another request gets 422 (20422), as in
 * reliability.md §2.5. Messages also pass it to the core as `clientMessageId`, which survives restarts.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import { ChatError, isChatError } from '@parley/token/errors'
import type { Core } from '../../../core/api.ts'
import type { Channel, Page, PageRequest, UserActor } from '../../../core/types.ts'
import { decodeComponent } from '../sync/engine.ts'
import type { TwilsockSession, UpstreamRequest, UpstreamResponse } from '../upstream.ts'
import {
  channelJson,
  memberJson,
  messageJson,
  myChannelsUrl,
  userChannelJson,
  userJson,
  userUrl,
  type AimLinks,
} from './json.ts'
import type { SessionRegistry } from './sessions.ts'
import { userChannelsMapName, userInfoMapName } from '../projection/names.ts'

/** Options of {@link createAimHandler}. */
export interface AimOptions {
  core: Core
  sessions: SessionRegistry
  /** Media (MCS) base URL announced as `links.media_service`; the SDK calls it directly over HTTP. */
  mediaServiceUrl?: string
  /** Unexpected failures (logged, never sent). */
  onError?: (err: unknown) => void
  /** Milliseconds clock for the mutation-id cache. Default `Date.now`. */
  now?: () => number
}

/** The aim handler. */
export type AimHandler = (
  req: UpstreamRequest,
  session: TwilsockSession,
) => Promise<UpstreamResponse>

const notFound = (): ChatError => new ChatError(20404)

function ok(body: unknown, status = 200): UpstreamResponse {
  return { status, headers: { 'Content-Type': 'application/json' }, body }
}

/** What makes two requests with one mutation id the same request: method, path, query and body (hashed). */
function requestFingerprint(req: UpstreamRequest): string {
  const params = Object.keys(req.params)
    .sort()
    .map((k) => [k, req.params[k]])
  // JSON has no raw newline: the first one ends it, so no two requests share the hashed text.
  return createHash('sha256')
    .update(JSON.stringify([req.method.toUpperCase(), req.path, params]))
    .update('\n')
    .update(req.body)
    .digest('base64')
}

function errorBody(status: number, code: number, message: string): UpstreamResponse {
  return ok(
    { status, code, message, more_info: `https://www.twilio.com/docs/errors/${code}` },
    status,
  )
}

type Body = Record<string, unknown>

function parseBody(req: UpstreamRequest): Body {
  const text = req.body.trim()
  if (text === '') return {}
  const type =
    Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? ''
  if (type.includes('x-www-form-urlencoded') || (!text.startsWith('{') && text.includes('='))) {
    return Object.fromEntries(new URLSearchParams(text))
  }
  try {
    const v = JSON.parse(text) as unknown
    return v !== null && typeof v === 'object' ? (v as Body) : {}
  } catch {
    throw new ChatError(20001, 'Invalid JSON body')
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

function header(req: UpstreamRequest, name: string): string | undefined {
  const n = name.toLowerCase()
  return Object.entries(req.headers).find(([k]) => k.toLowerCase() === n)?.[1]
}

/** Seconds as an ISO-8601 duration. */
const duration = (s: number): string => `PT${Math.max(1, Math.round(s))}S`

/**
 * Builds the aim handler.
 *
 * @example
 * ```ts
 * const aim = createAimHandler({ core, sessions: new SessionRegistry() })
 * ```
 */
export function createAimHandler(options: AimOptions): AimHandler {
  const { core, sessions } = options
  const onError = options.onError ?? ((err: unknown) => console.error('parley aim', err))
  const now = options.now ?? Date.now
  const mutations = new Map<
    string,
    { at: number; fingerprint: string; res: Promise<UpstreamResponse> }
  >()

  async function serviceSettings(actor: UserActor) {
    try {
      const s = await core.services.fetch(
        { kind: 'admin', accountSid: actor.accountSid },
        actor.serviceSid,
      )
      return {
        reachabilityEnabled: s.reachabilityEnabled,
        typingTimeout: s.typingIndicatorTimeout,
        consumptionInterval: s.consumptionReportInterval,
      }
    } catch {
      return { reachabilityEnabled: false, typingTimeout: 5, consumptionInterval: 5 }
    }
  }

  async function allPages<T>(
    fetch: (page: PageRequest) => Promise<Page<T>>,
    max = 20,
  ): Promise<T[]> {
    const out: T[] = []
    let token: string | undefined
    for (let i = 0; i < max; i++) {
      const page = await fetch(
        token === undefined ? { pageSize: 100 } : { pageSize: 100, pageToken: token },
      )
      out.push(...page.items)
      if (page.nextPageToken === null) break
      token = page.nextPageToken
    }
    return out
  }

  async function configuration(l: AimLinks, actor: UserActor, host: string, v2: boolean) {
    await core.users.ensure(actor)
    const s = await serviceSettings(actor)
    const media = options.mediaServiceUrl ?? `https://${host}/Client/v1/Media`
    return ok({
      identity: actor.identity,
      links: {
        my_conversations: myChannelsUrl(l, actor.identity),
        conversations: `${l.base}/Channels`,
        users: `${l.base}/Users`,
        current_user: userUrl(l, actor.identity),
        typing: `${l.base}/Typing`,
        media_service: media,
        media_set_service: `${media}Set`,
        messages_receipts: `${l.base}/Receipts`,
      },
      options: {
        reachability_enabled: s.reachabilityEnabled,
        user_infos_to_subscribe: 100,
        http_cache_interval: 'PT5S',
        consumption_report_interval: duration(s.consumptionInterval),
        ...(v2
          ? {
              media_attachments_count_limit: 1,
              media_attachment_size_limit_in_mb: 150,
              media_attachments_total_size_limit_in_mb: 150,
            }
          : {}),
      },
      sync_objects: {
        my_user_info: userInfoMapName(actor.identity),
        my_conversations: userChannelsMapName(actor.identity),
      },
    })
  }

  async function typing(actor: UserActor, body: Body): Promise<UpstreamResponse> {
    const channelSid =
      str(body['ChannelSid']) ?? str(body['channel_sid']) ?? str(body['ConversationSid'])
    if (channelSid === undefined) throw new ChatError(20001, 'ChannelSid is required')
    const channel = await core.channels.fetch(actor, actor.serviceSid, channelSid)
    await core.members.fetch(actor, actor.serviceSid, channel.sid, actor.identity)
    const s = await serviceSettings(actor)
    const members = await allPages((p) =>
      core.members.list(actor, actor.serviceSid, channel.sid, {}, p),
    )
    // Like Twilio, the notification carries the service's timeout + 1 s (latency allowance): the receivers end typing
    // after it, while the sender's SDK uses the reply's own value to throttle its next typing call.
    const payload = {
      channel_sid: channel.sid,
      identity: actor.identity,
      typing_timeout: s.typingTimeout + 1,
    }
    for (const m of members) {
      if (m.identity === actor.identity) continue
      for (const session of sessions.sessionsOf({ ...actor, identity: m.identity })) {
        session.notify('twilio.ipmsg.typing_indicator', payload)
      }
    }
    return ok({ typing_timeout: s.typingTimeout })
  }

  async function myChannel(
    l: AimLinks,
    actor: UserActor,
    channelRef: string,
    method: string,
    body: Body,
  ) {
    const IS = actor.serviceSid
    if (method === 'GET') {
      const uc = await core.userChannels.fetch(actor, IS, actor.identity, channelRef)
      const c = await core.channels.fetch(actor, IS, uc.channelSid).catch(() => undefined)
      return ok(userChannelJson(l, uc, c))
    }
    if (method === 'POST') {
      const input: { lastConsumedMessageIndex?: number | null; notificationLevel?: string } = {}
      if ('last_consumed_message_index' in body || 'last_read_message_index' in body) {
        const v = body['last_consumed_message_index'] ?? body['last_read_message_index']
        input.lastConsumedMessageIndex = v === null || v === undefined ? null : Number(v)
      }
      const level = str(body['notification_level'])
      if (level !== undefined) input.notificationLevel = level
      const uc = await core.userChannels.update(actor, IS, actor.identity, channelRef, input)
      return ok(userChannelJson(l, uc, undefined))
    }
    if (method === 'DELETE') {
      await core.userChannels.delete(actor, IS, actor.identity, channelRef)
      return ok({})
    }
    throw new ChatError(20004)
  }

  async function route(req: UpstreamRequest, session: TwilsockSession): Promise<UpstreamResponse> {
    const p = session.principal
    const actor: UserActor = {
      kind: 'user',
      accountSid: p.accountSid,
      serviceSid: p.serviceSid,
      identity: p.identity,
    }
    const IS = p.serviceSid
    const method = req.method.toUpperCase()
    const parts = req.path
      .split('/')
      .filter((s) => s !== '')
      .map(decodeComponent)
    if (parts[0] !== 'Client' || (parts[1] !== 'v1' && parts[1] !== 'v2')) throw notFound()
    const l: AimLinks = { base: `https://${req.host}/Client/v1` }
    // The gateway has already percent-decoded the query values (the path is still encoded).
    const params: Readonly<Record<string, string>> = req.params
    const page: PageRequest = {}
    if (params['PageToken'] !== undefined) page.pageToken = params['PageToken']
    if (params['PageSize'] !== undefined) page.pageSize = Number(params['PageSize'])
    const body = method === 'GET' ? {} : parseBody(req)
    const rest = parts.slice(2)
    const [r0, r1, r2, r3, r4] = rest

    if (r0 === 'Configuration' && rest.length === 1 && method === 'GET') {
      return configuration(l, actor, req.host, parts[1] === 'v2')
    }
    if (r0 === 'Typing' && rest.length === 1 && method === 'POST') return typing(actor, body)

    if (r0 === 'Channels' || r0 === 'Conversations') {
      if (r1 === undefined) {
        if (method === 'GET') {
          const res = await core.channels.list(actor, IS, { types: ['public'] }, page)
          return ok({
            conversations: res.items.map((c) => channelJson(l, c)),
            meta: {
              next_token: res.nextPageToken,
              previous_token: res.previousPageToken,
              page_size: res.pageSize,
            },
          })
        }
        if (method === 'POST') {
          const input: {
            friendlyName?: string | null
            uniqueName?: string | null
            attributes?: string | null
            type?: string
          } = {}
          if (str(body['friendly_name']) !== undefined)
            input.friendlyName = str(body['friendly_name']) ?? null
          if (str(body['unique_name']) !== undefined)
            input.uniqueName = str(body['unique_name']) ?? null
          if (str(body['attributes']) !== undefined)
            input.attributes = str(body['attributes']) ?? null
          if (str(body['type']) !== undefined) input.type = str(body['type']) as string
          return ok(channelJson(l, await core.channels.create(actor, IS, input)), 201)
        }
        throw new ChatError(20004)
      }
      const ch = r1
      if (r2 === undefined) {
        if (method === 'GET') return ok(channelJson(l, await core.channels.fetch(actor, IS, ch)))
        if (method === 'POST') {
          const input: {
            friendlyName?: string | null
            uniqueName?: string | null
            attributes?: string | null
          } = {}
          if ('friendly_name' in body) input.friendlyName = str(body['friendly_name']) ?? null
          if ('unique_name' in body) input.uniqueName = str(body['unique_name']) || null
          if ('attributes' in body) input.attributes = str(body['attributes']) ?? null
          return ok(channelJson(l, await core.channels.update(actor, IS, ch, input)))
        }
        if (method === 'DELETE') {
          await core.channels.delete(actor, IS, ch)
          return ok({})
        }
        throw new ChatError(20004)
      }
      if ((r2 === 'Participants' || r2 === 'Members') && r4 === undefined) {
        if (r3 === undefined && method === 'POST') {
          const identity = str(body['identity']) ?? actor.identity
          return ok(memberJson(l, await core.members.create(actor, IS, ch, { identity })), 201)
        }
        if (r3 === undefined && method === 'GET') {
          const res = await core.members.list(actor, IS, ch, {}, page)
          return ok({
            participants: res.items.map((m) => memberJson(l, m)),
            meta: { next_token: res.nextPageToken },
          })
        }
        if (r3 !== undefined && method === 'DELETE') {
          await core.members.delete(actor, IS, ch, r3)
          return ok({})
        }
        if (r3 !== undefined && method === 'POST') {
          const input: { attributes?: string | null } = {}
          if ('attributes' in body) input.attributes = str(body['attributes']) ?? null
          return ok(memberJson(l, await core.members.update(actor, IS, ch, r3, input)))
        }
        if (r3 !== undefined && method === 'GET')
          return ok(memberJson(l, await core.members.fetch(actor, IS, ch, r3)))
        throw new ChatError(20004)
      }
      if (r2 === 'Invites' && r4 === undefined) {
        if (r3 === undefined && method === 'POST') {
          const identity = str(body['identity'])
          if (identity === undefined) throw new ChatError(20001, 'identity is required')
          const inv = await core.invites.create(actor, IS, ch, { identity })
          return ok({ sid: inv.sid, identity: inv.identity, channel_sid: inv.channelSid }, 201)
        }
        if (r3 !== undefined && method === 'DELETE') {
          if (r3 === actor.identity) {
            await core.userChannels.delete(actor, IS, actor.identity, ch)
          } else {
            const res = await core.invites.list(actor, IS, ch, { identities: [r3] })
            const inv = res.items[0]
            if (inv === undefined) throw notFound()
            await core.invites.delete(actor, IS, ch, inv.sid)
          }
          return ok({})
        }
        throw new ChatError(20004)
      }
      if (r2 === 'Messages' && r4 === undefined) {
        if (r3 === undefined && method === 'POST') {
          const mutationId = header(req, 'X-Twilio-Mutation-Id')
          const res = await core.messages.create(actor, IS, ch, {
            body: str(body['body']) ?? null,
            attributes: str(body['attributes']) ?? null,
            ...(str(body['media_sid']) !== undefined
              ? { mediaSid: str(body['media_sid']) as string }
              : {}),
            ...(mutationId !== undefined ? { clientMessageId: mutationId } : {}),
          })
          return ok(messageJson(l, res.message), 201)
        }
        if (r3 === undefined && method === 'GET') {
          const res = await core.messages.list(actor, IS, ch, {}, page)
          return ok({
            messages: res.items.map((m) => messageJson(l, m)),
            meta: { next_token: res.nextPageToken },
          })
        }
        if (r3 !== undefined && method === 'POST') {
          const input: { body?: string | null; attributes?: string | null } = {}
          if ('body' in body) input.body = str(body['body']) ?? null
          if ('attributes' in body) input.attributes = str(body['attributes']) ?? null
          return ok(messageJson(l, await core.messages.update(actor, IS, ch, r3, input)))
        }
        if (r3 !== undefined && method === 'DELETE') {
          await core.messages.delete(actor, IS, ch, r3)
          return ok({})
        }
        if (r3 !== undefined && method === 'GET')
          return ok(messageJson(l, await core.messages.fetch(actor, IS, ch, r3)))
        throw new ChatError(20004)
      }
      throw notFound()
    }

    if (r0 === 'Users') {
      if (r1 === undefined && method === 'GET') {
        const channelRef = params['ConversationSid'] ?? params['ChannelSid']
        if (channelRef === undefined) throw new ChatError(20001, 'ConversationSid is required')
        const res = await core.members.list(actor, IS, channelRef, {}, page)
        const users = []
        for (const m of res.items) {
          const u = await core.users.fetch(actor, IS, m.identity).catch(() => undefined)
          if (u !== undefined) users.push(userJson(l, u))
        }
        return ok({
          users,
          meta: { next_token: res.nextPageToken, prev_token: res.previousPageToken },
        })
      }
      if (r1 !== undefined && r2 === undefined) {
        if (method === 'GET') return ok(userJson(l, await core.users.fetch(actor, IS, r1)))
        if (method === 'POST') {
          const input: { friendlyName?: string | null; attributes?: string | null } = {}
          if ('friendly_name' in body) input.friendlyName = str(body['friendly_name']) ?? null
          if ('attributes' in body) input.attributes = str(body['attributes']) ?? null
          return ok(userJson(l, await core.users.update(actor, IS, r1, input)))
        }
        throw new ChatError(20004)
      }
      if (r1 !== undefined && (r2 === 'Channels' || r2 === 'Conversations') && r4 === undefined) {
        // Only one's own channel list: everybody else's is invisible.
        if (r1 !== actor.identity) throw notFound()
        if (r3 === undefined && method === 'GET') {
          const res = await core.userChannels.list(actor, IS, actor.identity, page)
          const conversations = []
          for (const uc of res.items) {
            const c: Channel | undefined = await core.channels
              .fetch(actor, IS, uc.channelSid)
              .catch(() => undefined)
            conversations.push(userChannelJson(l, uc, c))
          }
          return ok({
            conversations,
            meta: { next_token: res.nextPageToken, previous_token: res.previousPageToken },
          })
        }
        if (r3 !== undefined) return myChannel(l, actor, r3, method, body)
      }
      throw notFound()
    }
    throw notFound()
  }

  function remember(key: string, fingerprint: string, res: Promise<UpstreamResponse>): void {
    const t = now()
    for (const [k, v] of mutations) {
      if (t - v.at < 600_000 && mutations.size < 5000) break
      mutations.delete(k)
    }
    mutations.set(key, { at: t, fingerprint, res })
  }

  async function handle(req: UpstreamRequest, session: TwilsockSession): Promise<UpstreamResponse> {
    try {
      return await route(req, session)
    } catch (err) {
      if (isChatError(err)) return errorBody(err.status, err.code, err.message)
      onError(err)
      return errorBody(500, 20500, 'Internal server error')
    }
  }

  return (req, session) => {
    sessions.track(session)
    const mutationId = header(req, 'X-Twilio-Mutation-Id')
    if (mutationId === undefined || req.method.toUpperCase() === 'GET') return handle(req, session)
    const p = session.principal
    const key = `${p.accountSid}|${p.serviceSid}|${p.identity}|${mutationId}`
    const fingerprint = requestFingerprint(req)
    const hit = mutations.get(key)
    if (hit !== undefined) {
      if (hit.fingerprint === fingerprint) return hit.res
      const err = new ChatError(20422)
      return Promise.resolve(errorBody(err.status, err.code, err.message))
    }
    const res = handle(req, session)
    remember(key, fingerprint, res)
    void res.then((r) => {
      // Only successes are replayed: a failed attempt may be retried for real.
      if (r.status >= 300) mutations.delete(key)
    })
    return res
  }
}
