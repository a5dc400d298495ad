/**
 * Helpers shared by the route modules: the core actor of a request, response shorthands, list handling and the
 * builders that turn form parameters into core inputs without ever assigning `undefined` to an optional field
 * (`exactOptionalPropertyTypes`).
 *
 * @module
 */
import type { Actor, Page, PageRequest as CorePageRequest } from '../../core/types.ts'
import type { Ctx, RouteDef } from '../context.ts'
import { JSON_HEADERS, jsonResponse } from '../errors.ts'
import { fetchPage, readPaging, v2ListBody } from '../paging.ts'
import { Urls } from '../serialize.ts'
import type { AppResponse } from '../types.ts'

/** A decoded path parameter that the route pattern guarantees (e.g. `serviceSid`). */
export function param(ctx: Ctx, name: string): string {
  return ctx.params[name] as string
}

/** The core actor of an admin request. */
export function actorOf(ctx: Ctx): Actor {
  return { kind: 'admin', accountSid: ctx.actor.accountSid }
}

/** URL builders for this request's base URL. */
export function urlsOf(ctx: Ctx): Urls {
  return new Urls(ctx.baseUrl)
}

/** 200 with a JSON body. */
export function ok(body: unknown): AppResponse {
  return jsonResponse(200, body)
}

/** 201 with a JSON body. */
export function created(body: unknown): AppResponse {
  return jsonResponse(201, body)
}

/** 204 with no body. */
export function noContent(): AppResponse {
  return {
    status: 204,
    headers: { 'cache-control': JSON_HEADERS['cache-control'] as string },
    body: null,
  }
}

/**
 * Answer a v2 list request: read paging params (capped at `maxPageSize`), fetch the page from the core, serialize
 * each item and wrap them with `meta`.
 */
export async function v2List<T>(
  ctx: Ctx,
  key: string,
  maxPageSize: number,
  list: (page: CorePageRequest) => Promise<Page<T>>,
  serialize: (item: T) => unknown,
): Promise<AppResponse> {
  const req = readPaging(ctx.query, maxPageSize, ctx.defaultPageSize)
  const page = await fetchPage(req, (pageSize, pageToken) =>
    list(pageToken === undefined ? { pageSize } : { pageSize, pageToken }),
  )
  return ok(
    v2ListBody(key, page.items.map(serialize), req, page, ctx.baseUrl + ctx.req.path, ctx.query),
  )
}

/** A mutable input object under construction. */
export type Input = Record<string, unknown>

/** Set `obj[key] = value` unless `value` is undefined. Returns `obj`. */
export function put<T extends Input>(obj: T, key: string, value: unknown): T {
  if (value !== undefined) (obj as Input)[key] = value
  return obj
}

/** `''` → null (clears a nullable field), otherwise the value. */
export function emptyToNull(v: string | undefined): string | null | undefined {
  return v === '' ? null : v
}

/** A date parameter as epoch milliseconds. */
export function ms(d: Date | undefined): number | undefined {
  return d === undefined ? undefined : d.getTime()
}

/** True when the object has at least one own key. */
export function nonEmpty(o: object): boolean {
  return Object.keys(o).length > 0
}

/**
 * One REST resource in the usual shape: a list (GET) and create (POST) on the collection, fetch (GET), update (POST)
 * and delete (DELETE) on an instance. Every operation is optional. `S` is the scope: the leading core arguments taken
 * from the request (the actor and the parent SIDs), computed once per request.
 */
export interface ResourceDef<T, S extends readonly unknown[]> {
  /** Collection pattern, e.g. `/v2/Services/:serviceSid/Roles`. */
  readonly path: string
  /** Instance pattern. Default: `path` + `/:sid`. */
  readonly itemPath?: string
  /** Path parameter holding the instance id in {@link ResourceDef.itemPath}. Default `sid`. */
  readonly idParam?: string
  /** Key of the items in a list page (`channels`, `messages`, …). */
  readonly key: string
  /** Largest accepted `PageSize`. */
  readonly maxPageSize: number
  /** The leading core arguments of every operation. */
  readonly scope: (ctx: Ctx) => S
  /** Wire form of one instance. */
  readonly serialize: (item: T, urls: Urls) => unknown
  /** Wire form of an instance inside a list page, when it differs from {@link ResourceDef.serialize}. */
  readonly serializeListed?: (item: T, urls: Urls) => unknown
  /**
   * Reads and validates the list filters from the query (before the paging parameters, so a bad filter is reported
   * first) and returns the page fetcher.
   */
  readonly list?: (scope: S, ctx: Ctx) => (page: CorePageRequest) => Promise<Page<T>>
  readonly create?: (scope: S, ctx: Ctx) => Promise<T>
  readonly fetch?: (scope: S, id: string, ctx: Ctx) => Promise<T>
  readonly update?: (scope: S, id: string, ctx: Ctx) => Promise<T>
  readonly delete?: (scope: S, id: string, ctx: Ctx) => Promise<void>
}

/**
 * The routes of a {@link ResourceDef}, in table order list, create, fetch, update, delete.
 *
 * @example
 * ```ts
 * resourceRoutes({
 *   path: '/v2/Services/:serviceSid/Roles',
 *   key: 'roles',
 *   maxPageSize: 100,
 *   scope: inService,
 *   serialize: serializeRole,
 *   fetch: ([actor, serviceSid], sid) => core.roles.fetch(actor, serviceSid, sid),
 * })
 * ```
 */
export function resourceRoutes<T, S extends readonly unknown[]>(
  def: ResourceDef<T, S>,
): RouteDef[] {
  const item = def.itemPath ?? `${def.path}/:sid`
  const idOf = (ctx: Ctx): string => param(ctx, def.idParam ?? 'sid')
  const listed = def.serializeListed ?? def.serialize
  const routes: RouteDef[] = []
  const { list, create, fetch, update, delete: remove } = def
  if (list !== undefined) {
    routes.push({
      method: 'GET',
      pattern: def.path,
      handler: (ctx) =>
        v2List(ctx, def.key, def.maxPageSize, list(def.scope(ctx), ctx), (x) =>
          listed(x, urlsOf(ctx)),
        ),
    })
  }
  if (create !== undefined) {
    routes.push({
      method: 'POST',
      pattern: def.path,
      handler: async (ctx) =>
        created(def.serialize(await create(def.scope(ctx), ctx), urlsOf(ctx))),
    })
  }
  // Fetch and update answer the same way: 200 with the instance.
  const instance = (
    method: 'GET' | 'POST',
    op: (scope: S, id: string, ctx: Ctx) => Promise<T>,
  ): RouteDef => ({
    method,
    pattern: item,
    handler: async (ctx) =>
      ok(def.serialize(await op(def.scope(ctx), idOf(ctx), ctx), urlsOf(ctx))),
  })
  if (fetch !== undefined) routes.push(instance('GET', fetch))
  if (update !== undefined) routes.push(instance('POST', update))
  if (remove !== undefined) {
    routes.push({
      method: 'DELETE',
      pattern: item,
      handler: async (ctx) => {
        await remove(def.scope(ctx), idOf(ctx), ctx)
        return noContent()
      },
    })
  }
  return routes
}

/** Scope of account-level resources: the actor. */
export const inAccount = (ctx: Ctx): readonly [Actor] => [actorOf(ctx)]

/** Scope of resources under a service: the actor and the service SID. */
export const inService = (ctx: Ctx): readonly [Actor, string] => [
  actorOf(ctx),
  param(ctx, 'serviceSid'),
]

/** Scope of resources under a service child addressed by the path parameter `parent`. */
function inServiceChild(parent: string): (ctx: Ctx) => readonly [Actor, string, string] {
  return (ctx) => [actorOf(ctx), param(ctx, 'serviceSid'), param(ctx, parent)]
}

/** Scope of resources under a channel: the actor, the service SID and the channel SID or unique name. */
export const inChannel = inServiceChild('channelSid')

/** Scope of resources under a user: the actor, the service SID and the user SID or identity. */
export const inUser = inServiceChild('userSid')
