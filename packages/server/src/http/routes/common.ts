/**
 * Helpers shared by the route modules: the core actor of a request, response shorthands, list handling and the
 * builders that turn form parameters into core inputs without ever assigning `undefined` to an optional field
 * (`exactOptionalPropertyTypes`).
 *
 * @module
 */
import type { Actor, Page, PageRequest as CorePageRequest } from '../../core/types.ts'
import type { Ctx } from '../context.ts'
import { JSON_HEADERS, jsonResponse } from '../errors.ts'
import { fetchPage, readPaging, v2ListBody } from '../paging.ts'
import { Urls } from '../serialize.ts'
import type { AppResponse } from '../types.ts'

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
