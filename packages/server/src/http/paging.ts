/**
 * List pagination for the v2 APIs (chat-rest-v2.md §7) and the 2010 API (§14.1).
 *
 * The core pages with opaque cursors (`pageToken` → `{items, nextPageToken}`); the wire adds Twilio's `Page` number.
 * `next_page_url` is absolute, points back at this server and carries `PageToken`, so the `twilio` helper can
 * follow it verbatim.
 *
 * @module
 */
import { badRequest } from './errors.ts'
import type { Params } from './form.ts'

/** What a list request asked for. */
export interface PageRequest {
  readonly pageSize: number
  readonly page: number
  readonly pageToken: string | undefined
}

/** A page as the core returns it. */
export interface CorePage<T> {
  readonly items: readonly T[]
  readonly nextPageToken?: string | null | undefined
  readonly previousPageToken?: string | null | undefined
}

/** The cursor tokens of a fetched page. */
export interface PageLinks {
  readonly nextPageToken?: string | null | undefined
  readonly previousPageToken?: string | null | undefined
}

const present = (t: string | null | undefined): t is string =>
  t !== undefined && t !== null && t !== ''

/** Parameters that belong to paging and are never repeated as filters. */
const PAGING_KEYS = new Set(['PageSize', 'Page', 'PageToken'])

/** Most rows skipped to serve a `Page` number without a `PageToken` (each earlier page is walked from the start). */
const MAX_WALKED_ROWS = 10_000

/**
 * Read `PageSize`, `Page` and `PageToken`. A `PageSize` above the resource's maximum is clamped to it, as Twilio does
 * (the `twilio` helper sends `PageSize = limit` for `list({ limit: 500 })`).
 * @throws {ChatError} 20001 when `PageSize` is not a positive integer or `Page`/`PageToken` are malformed.
 */
export function readPaging(q: Params, maxPageSize: number, defaultPageSize: number): PageRequest {
  const requested = q.int('PageSize', 1, Number.MAX_SAFE_INTEGER)
  const pageSize = Math.min(requested ?? defaultPageSize, maxPageSize)
  const page = q.int('Page', 0, 1_000_000_000) ?? 0
  const pageToken = q.string('PageToken', { max: 2048 })
  if (pageToken === '') throw badRequest('Parameter PageToken must not be empty')
  return { pageSize, page, pageToken }
}

/**
 * Fetch the requested page from a cursor-paged source. With a `PageToken`, one call; with only `Page = n`, the
 * first `n` pages are walked (bounded), which is what Twilio's numbered pages mean.
 */
export async function fetchPage<T>(
  req: PageRequest,
  list: (pageSize: number, pageToken: string | undefined) => Promise<CorePage<T>> | CorePage<T>,
): Promise<CorePage<T>> {
  if (req.pageToken !== undefined || req.page === 0) return list(req.pageSize, req.pageToken)
  if (req.page * req.pageSize > MAX_WALKED_ROWS) {
    throw badRequest(
      `Parameter Page beyond row ${MAX_WALKED_ROWS} needs the PageToken from next_page_url`,
    )
  }
  let token: string | undefined
  for (let i = 0; i < req.page; i++) {
    const p = await list(req.pageSize, token)
    if (p.nextPageToken === undefined || p.nextPageToken === null || p.nextPageToken === '') {
      return { items: [], nextPageToken: null }
    }
    token = p.nextPageToken
  }
  return list(req.pageSize, token)
}

/** The filter part of a list query (everything but paging), re-encoded, as `a=b&c=d` ('' when none). */
function filterQuery(q: Params): string {
  const parts: string[] = []
  for (const k of q.keys()) {
    if (PAGING_KEYS.has(k)) continue
    for (const v of q.all(k)) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
  }
  return parts.join('&')
}

function pageUrl(
  absPath: string,
  filters: string,
  pageSize: number,
  page: number,
  token?: string,
): string {
  let s = `${absPath}?${filters === '' ? '' : filters + '&'}PageSize=${pageSize}&Page=${page}`
  if (token !== undefined) s += `&PageToken=${encodeURIComponent(token)}`
  return s
}

/**
 * The v2 list body: `{[key]: items, meta: {page, page_size, first_page_url, previous_page_url, url, next_page_url,
 * key}}`.
 *
 * @param absPath - absolute URL of the list without query, e.g. `http://127.0.0.1:3210/v2/Services`.
 */
export function v2ListBody(
  key: string,
  items: readonly unknown[],
  req: PageRequest,
  links: PageLinks,
  absPath: string,
  q: Params,
): Record<string, unknown> {
  const filters = filterQuery(q)
  const prev = links.previousPageToken
  const next = links.nextPageToken
  return {
    [key]: items,
    meta: {
      page: req.page,
      page_size: req.pageSize,
      first_page_url: pageUrl(absPath, filters, req.pageSize, 0),
      previous_page_url:
        req.page > 0 && present(prev)
          ? pageUrl(absPath, filters, req.pageSize, req.page - 1, prev)
          : null,
      url: pageUrl(absPath, filters, req.pageSize, req.page, req.pageToken),
      next_page_url: present(next)
        ? pageUrl(absPath, filters, req.pageSize, req.page + 1, next)
        : null,
      key,
    },
  }
}

/**
 * The 2010 list body: `{[key]: items, first_page_uri, next_page_uri, previous_page_uri, page, page_size, start, end,
 * uri}` with URIs relative to the host (the helper resolves them against its `api` base URL).
 *
 * @param relPath - path of the list, e.g. `/2010-04-01/Accounts/AC…/Keys.json`.
 */
export function v2010ListBody(
  key: string,
  items: readonly unknown[],
  req: PageRequest,
  links: PageLinks,
  relPath: string,
  q: Params,
): Record<string, unknown> {
  const filters = filterQuery(q)
  const start = req.page * req.pageSize
  const prev = links.previousPageToken
  const next = links.nextPageToken
  return {
    [key]: items,
    first_page_uri: pageUrl(relPath, filters, req.pageSize, 0),
    end: items.length === 0 ? start : start + items.length - 1,
    previous_page_uri:
      req.page > 0 && present(prev)
        ? pageUrl(relPath, filters, req.pageSize, req.page - 1, prev)
        : null,
    uri: pageUrl(relPath, filters, req.pageSize, req.page, req.pageToken),
    page_size: req.pageSize,
    start,
    next_page_uri: present(next)
      ? pageUrl(relPath, filters, req.pageSize, req.page + 1, next)
      : null,
    page: req.page,
  }
}
