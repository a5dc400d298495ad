/**
 * Item queries of `GET …/Items`: `Key`/`Index`, or `From` + `Order` + `PageSize`, or `PageToken`.
 *
 * `From` is inclusive (twilio-sync drops the anchor itself). `meta.next_token` continues after the last item in the
 * query order, `meta.previous_token` returns the page before the first item; both are opaque keyset tokens.
 *
 * @module
 */
import type { ItemState } from './state.ts'
import { SyncHttpError } from './types.ts'

/** Query parameters, already decoded. */
export interface ItemQuery {
  key?: string | undefined
  from?: string | undefined
  order?: string | undefined
  pageSize?: string | undefined
  pageToken?: string | undefined
}

/** A page of items plus tokens. */
export interface ItemPage {
  items: ItemState[]
  previousToken: string | null
  nextToken: string | null
}

interface Token {
  /** Anchor key (exclusive). */
  a: string
  /** Order. */
  o: 'asc' | 'desc'
  /** 1 = the page before the anchor. */
  p?: 1
  /** Page size. */
  s: number
}

const MAX_PAGE = 1000

function encodeToken(t: Token): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url')
}

function decodeToken(s: string): Token {
  try {
    const t = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Partial<Token>
    if (typeof t.a === 'string' && (t.o === 'asc' || t.o === 'desc') && typeof t.s === 'number') {
      return { a: t.a, o: t.o, s: t.s, ...(t.p === 1 ? { p: 1 as const } : {}) }
    }
  } catch {
    /* fall through */
  }
  throw new SyncHttpError(400, 20001, 'Invalid PageToken')
}

/** Compares item keys: numerically for lists, by code unit for maps. */
export function compareKeys(numeric: boolean): (a: string, b: string) => number {
  return numeric ? (a, b) => Number(a) - Number(b) : (a, b) => (a < b ? -1 : a > b ? 1 : 0)
}

/**
 * Runs `q` over all items of an object.
 * @throws {SyncHttpError} 400 on a bad `PageSize`, `Order` or `PageToken`.
 */
export function queryItems(all: Iterable<ItemState>, numeric: boolean, q: ItemQuery): ItemPage {
  const cmp = compareKeys(numeric)
  const sorted = [...all].sort((x, y) => cmp(x.key, y.key))
  if (q.key !== undefined) {
    const hit = sorted.find((i) => cmp(i.key, q.key as string) === 0)
    return { items: hit ? [hit] : [], previousToken: null, nextToken: null }
  }
  let order: 'asc' | 'desc'
  let size: number
  let window: ItemState[]
  if (q.pageToken !== undefined && q.pageToken !== '') {
    const t = decodeToken(q.pageToken)
    order = t.o
    size = t.s
    const inOrder = order === 'asc' ? sorted : sorted.slice().reverse()
    const pos = (k: string): number => (order === 'asc' ? cmp(k, t.a) : cmp(t.a, k))
    if (t.p === 1) {
      const before = inOrder.filter((i) => pos(i.key) < 0)
      window = before.slice(Math.max(0, before.length - size))
    } else {
      window = inOrder.filter((i) => pos(i.key) > 0).slice(0, size)
    }
    return withTokens(window, inOrder, order, size, cmp)
  }
  if (q.order !== undefined && q.order !== 'asc' && q.order !== 'desc') {
    throw new SyncHttpError(400, 20001, 'Invalid Order')
  }
  order = q.order === 'desc' ? 'desc' : 'asc'
  size = q.pageSize === undefined ? 50 : Number(q.pageSize)
  if (!Number.isInteger(size) || size < 1) throw new SyncHttpError(400, 20001, 'Invalid PageSize')
  size = Math.min(size, MAX_PAGE)
  const inOrder = order === 'asc' ? sorted : sorted.slice().reverse()
  const from = q.from
  const start =
    from === undefined || from === ''
      ? 0
      : inOrder.findIndex((i) => (order === 'asc' ? cmp(i.key, from) >= 0 : cmp(i.key, from) <= 0))
  window = start < 0 ? [] : inOrder.slice(start, start + size)
  return withTokens(window, inOrder, order, size, cmp)
}

function withTokens(
  window: ItemState[],
  inOrder: ItemState[],
  order: 'asc' | 'desc',
  size: number,
  cmp: (a: string, b: string) => number,
): ItemPage {
  const first = window[0]
  const last = window[window.length - 1]
  if (first === undefined || last === undefined)
    return { items: [], previousToken: null, nextToken: null }
  const pos = (k: string, anchor: string): number =>
    order === 'asc' ? cmp(k, anchor) : cmp(anchor, k)
  const hasBefore = inOrder.some((i) => pos(i.key, first.key) < 0)
  const hasAfter = inOrder.some((i) => pos(i.key, last.key) > 0)
  return {
    items: window,
    previousToken: hasBefore ? encodeToken({ a: first.key, o: order, s: size, p: 1 }) : null,
    nextToken: hasAfter ? encodeToken({ a: last.key, o: order, s: size }) : null,
  }
}
