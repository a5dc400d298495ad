/**
 * Keyset pagination: opaque, stable page tokens over a {@link SortKey}.
 *
 * A token is `PT` + base64url(JSON `{d, k, o}`): direction (`n` next / `p` previous), the boundary key, and the
 * order it was made for (`a`/`d`). A token used with another order is rejected.
 *
 * @module
 */
import { ChatError } from '@parley/token'
import type { PageQuery, SortKey } from '../ports/store.ts'
import type { Page, PageRequest } from './types.ts'

/** Default page size (chat-rest-v2.md §7). */
export const DEFAULT_PAGE_SIZE = 50

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

function b64url(bytes: Uint8Array): string {
  let bin = ''
  for (const b of bytes) bin += String.fromCharCode(b)
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

function unb64url(s: string): Uint8Array {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'))
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

interface Token {
  d: 'n' | 'p'
  k: (string | number)[]
  o: 'a' | 'd'
}

/** Encodes a page token. */
export function encodePageToken(
  direction: 'next' | 'previous',
  key: SortKey,
  desc: boolean,
): string {
  const t: Token = { d: direction === 'next' ? 'n' : 'p', k: [...key], o: desc ? 'd' : 'a' }
  return 'PT' + b64url(enc.encode(JSON.stringify(t)))
}

/**
 * Decodes a page token.
 *
 * @throws {ChatError} 20001 when the token is malformed, has the wrong key shape or another order.
 */
export function decodePageToken(
  token: string,
  keyLength: number,
  desc: boolean,
): { next: boolean; key: SortKey } {
  const bad = (): ChatError => new ChatError(20001, 'Invalid PageToken')
  if (typeof token !== 'string' || !token.startsWith('PT') || token.length > 2048) throw bad()
  let t: Token
  try {
    t = JSON.parse(dec.decode(unb64url(token.slice(2)))) as Token
  } catch {
    throw bad()
  }
  if (
    typeof t !== 'object' ||
    t === null ||
    (t.d !== 'n' && t.d !== 'p') ||
    t.o !== (desc ? 'd' : 'a') ||
    !Array.isArray(t.k) ||
    t.k.length !== keyLength ||
    !t.k.every((v) => typeof v === 'string' || (typeof v === 'number' && Number.isSafeInteger(v)))
  ) {
    throw bad()
  }
  return { next: t.d === 'n', key: t.k }
}

/** The effective page size: `pageSize` clamped to `[1, max]`, default 50 (or `max` if smaller). */
export function pageSizeOf(req: PageRequest | undefined, max: number): number {
  const n = req?.pageSize
  if (n === undefined || !Number.isFinite(n)) return Math.min(DEFAULT_PAGE_SIZE, max)
  return Math.max(1, Math.min(max, Math.floor(n)))
}

/**
 * Runs one keyset page: fetches `size + 1` rows to know whether another page exists, and builds the tokens.
 *
 * @throws {ChatError} 20001 on an invalid token.
 */
export async function keysetPage<T>(
  req: PageRequest | undefined,
  opts: { max: number; keyOf: (row: T) => SortKey; keyLength: number; desc?: boolean },
  fetch: (q: PageQuery) => Promise<T[]>,
): Promise<Page<T>> {
  const size = pageSizeOf(req, opts.max)
  const desc = opts.desc === true
  const tok = req?.pageToken ? decodePageToken(req.pageToken, opts.keyLength, desc) : undefined
  if (tok === undefined || tok.next) {
    const rows = await fetch({ limit: size + 1, after: tok?.key, desc })
    const items = rows.slice(0, size)
    const last = items[items.length - 1]
    const first = items[0]
    return {
      items,
      pageSize: size,
      nextPageToken:
        rows.length > size && last !== undefined
          ? encodePageToken('next', opts.keyOf(last), desc)
          : null,
      previousPageToken:
        tok === undefined
          ? null
          : encodePageToken('previous', first !== undefined ? opts.keyOf(first) : tok.key, desc),
    }
  }
  const rows = await fetch({ limit: size + 1, before: tok.key, desc })
  const items = rows.length > size ? rows.slice(rows.length - size) : rows
  const first = items[0]
  const last = items[items.length - 1]
  return {
    items,
    pageSize: size,
    nextPageToken: encodePageToken('next', last !== undefined ? opts.keyOf(last) : tok.key, desc),
    previousPageToken:
      rows.length > size && first !== undefined
        ? encodePageToken('previous', opts.keyOf(first), desc)
        : null,
  }
}

/** Sort key of rows ordered by creation: `[createdAt, sid]`. */
export const byCreated = (r: { createdAt: number; sid: string }): SortKey => [r.createdAt, r.sid]
