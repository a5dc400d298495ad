/**
 * API keys: the 2010 API (`/2010-04-01/Accounts/{AccountSid}/Keys.json`, chat-rest-v2.md §14.1) and IAM v1
 * (`/v1/Keys`, §14.2). The secret is in the create response only; dates are RFC 2822.
 *
 * Like Twilio's standard keys (§14.3), an API key cannot manage keys: only `AccountSid:AuthToken` can. A key or an
 * account SID in the request that is not the authenticated account's gets the uniform 401.
 *
 * @module
 */
import { ChatError } from '@parley/token/errors'
import type { Core } from '../../core/api.ts'
import type { ApiKey } from '../../core/types.ts'
import type { Ctx, RouteDef } from '../context.ts'
import { badRequest } from '../errors.ts'
import { fetchPage, readPaging, v2010ListBody, v2ListBody } from '../paging.ts'
import { serializeKey2010, serializeKeyIam } from '../serialize.ts'
import { actorOf, created, noContent, ok } from './common.ts'

const ACCOUNT = '/2010-04-01/Accounts/:accountSid'

/** Throws the uniform 401 unless the request is authenticated with the account's own auth token. */
function requireAccount(ctx: Ctx, accountSid: string | undefined): void {
  if (ctx.actor.keySid !== undefined || accountSid !== ctx.actor.accountSid)
    throw new ChatError(20003)
}

/** The optional `FriendlyName` of a key create or update. */
function nameInput(ctx: Ctx): { friendlyName?: string } {
  const friendlyName = ctx.form.string('FriendlyName', { max: 64 })
  return friendlyName === undefined ? {} : { friendlyName }
}

/**
 * Fetch, update and delete of one key, the same in both APIs but for where the account SID comes from and the wire
 * form.
 */
function keyInstanceRoutes(
  keys: Core['keys'],
  pattern: string,
  accountOf: (ctx: Ctx) => string | undefined,
  serialize: (k: ApiKey) => unknown,
): RouteDef[] {
  const sidOf = (ctx: Ctx): string => ctx.params['sid'] as string
  return [
    {
      method: 'GET',
      pattern,
      handler: async (ctx) => {
        requireAccount(ctx, accountOf(ctx))
        return ok(serialize(await keys.fetch(actorOf(ctx), sidOf(ctx))))
      },
    },
    {
      method: 'POST',
      pattern,
      handler: async (ctx) => {
        requireAccount(ctx, accountOf(ctx))
        return ok(serialize(await keys.update(actorOf(ctx), sidOf(ctx), nameInput(ctx))))
      },
    },
    {
      method: 'DELETE',
      pattern,
      handler: async (ctx) => {
        requireAccount(ctx, accountOf(ctx))
        await keys.delete(actorOf(ctx), sidOf(ctx))
        return noContent()
      },
    },
  ]
}

/** Routes of the 2010 and IAM key resources. */
export function keyRoutes(core: Core): RouteDef[] {
  const { keys } = core
  /** One page of the account's keys, with the paging request it answers. */
  const listPage = async (ctx: Ctx) => {
    const req = readPaging(ctx.query, 1000, ctx.defaultPageSize)
    const page = await fetchPage(req, (pageSize, pageToken) =>
      keys.list(actorOf(ctx), pageToken === undefined ? { pageSize } : { pageSize, pageToken }),
    )
    return { req, page }
  }
  return [
    // --- 2010 API ---
    {
      method: 'GET',
      pattern: `${ACCOUNT}/Keys.json`,
      handler: async (ctx) => {
        requireAccount(ctx, ctx.params['accountSid'])
        const { req, page } = await listPage(ctx)
        const items = page.items.map((k) => serializeKey2010(k))
        return ok(v2010ListBody('keys', items, req, page, ctx.req.path, ctx.query))
      },
    },
    {
      method: 'POST',
      pattern: `${ACCOUNT}/Keys.json`,
      handler: async (ctx) => {
        requireAccount(ctx, ctx.params['accountSid'])
        return created(serializeKey2010(await keys.create(actorOf(ctx), nameInput(ctx))))
      },
    },
    ...keyInstanceRoutes(
      keys,
      `${ACCOUNT}/Keys/:sid.json`,
      (ctx) => ctx.params['accountSid'],
      serializeKey2010,
    ),

    // --- IAM v1 ---
    {
      method: 'GET',
      pattern: '/v1/Keys',
      handler: async (ctx) => {
        requireAccount(ctx, ctx.query.required('AccountSid'))
        const { req, page } = await listPage(ctx)
        const items = page.items.map((k) => serializeKeyIam(k, true))
        return ok(v2ListBody('keys', items, req, page, ctx.baseUrl + ctx.req.path, ctx.query))
      },
    },
    {
      method: 'POST',
      pattern: '/v1/Keys',
      handler: async (ctx) => {
        requireAccount(ctx, ctx.form.required('AccountSid'))
        const keyType = ctx.form.string('KeyType', { max: 32 })
        if (keyType !== undefined && keyType !== 'standard') {
          throw badRequest('Only standard keys are supported (KeyType must be omitted)')
        }
        return created(serializeKeyIam(await keys.create(actorOf(ctx), nameInput(ctx))))
      },
    },
    ...keyInstanceRoutes(keys, '/v1/Keys/:sid', (ctx) => ctx.actor.accountSid, serializeKeyIam),
  ]
}
