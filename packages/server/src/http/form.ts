/**
 * Parsing of `application/x-www-form-urlencoded` bodies and query strings the way the `twilio` helper writes them
 * (chat-rest-v2.md §2, §15.5): PascalCase keys, dotted nested keys (`Notifications.NewMessage.Enabled`), repeated
 * keys for arrays (`Permission=a&Permission=b`), booleans `true`/`false`, ISO-8601 dates.
 *
 * Decoding is strict: malformed percent-escapes, invalid UTF-8, NUL and lone surrogates are rejected with 400 20001
 * instead of being replaced, so nothing odd ever reaches the core or the database.
 *
 * @module
 */
import type { ChatError } from '@parley/token/errors'
import { badRequest, safeForMessage } from './errors.ts'

/** Maximum number of fields in one form or query string (a guard against hash-flooding style abuse). */
const MAX_FIELDS = 1000

/** Characters that are never accepted in any parameter: NUL and lone (unpaired) UTF-16 surrogates. */
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** True when `s` contains NUL or a lone surrogate. */
export function hasForbiddenChars(s: string): boolean {
  return FORBIDDEN.test(s)
}

/**
 * Decode one percent-encoded component (form style: `+` is a space).
 * @throws {ChatError} 20001 on a malformed escape, invalid UTF-8, NUL or a lone surrogate.
 */
export function decodeComponent(raw: string, plusIsSpace: boolean, what: string): string {
  let s = plusIsSpace ? raw.replaceAll('+', ' ') : raw
  if (s.includes('%')) {
    try {
      s = decodeURIComponent(s)
    } catch {
      throw badRequest(`${what} is not valid percent-encoded UTF-8`)
    }
  }
  if (hasForbiddenChars(s))
    throw badRequest(`${what} contains a NUL or an unpaired surrogate character`)
  return s
}

/**
 * Request parameters: an ordered multimap of names to string values, with typed, validating getters.
 * Every getter throws a 400 (`ChatError` 20001) naming the parameter when the value is malformed.
 */
export class Params {
  readonly #map = new Map<string, string[]>()

  /** Parse a form body or a query string (without `?`). */
  static parse(text: string): Params {
    const p = new Params()
    if (text === '') return p
    let count = 0
    for (const pair of text.split('&')) {
      if (pair === '') continue
      if (++count > MAX_FIELDS) throw badRequest(`Too many parameters (at most ${MAX_FIELDS})`)
      const eq = pair.indexOf('=')
      const rawKey = eq === -1 ? pair : pair.slice(0, eq)
      const rawVal = eq === -1 ? '' : pair.slice(eq + 1)
      const key = decodeComponent(rawKey, true, 'A parameter name')
      if (key === '') continue
      const value = decodeComponent(rawVal, true, `Parameter ${safeName(key)}`)
      p.add(key, value)
    }
    return p
  }

  /** Append a value. */
  add(key: string, value: string): void {
    const list = this.#map.get(key)
    if (list === undefined) this.#map.set(key, [value])
    else list.push(value)
  }

  /** True when the parameter was sent (even empty). */
  has(key: string): boolean {
    return this.#map.has(key)
  }

  /** Every parameter name, in first-seen order. */
  keys(): string[] {
    return [...this.#map.keys()]
  }

  /** Every value of a repeated parameter (`[]` when absent). */
  all(key: string): string[] {
    return this.#map.get(key) ?? []
  }

  /**
   * The single value of a parameter, or undefined when absent. When sent several times, the last value wins
   * (what most form parsers do; Twilio's behaviour for duplicated scalars).
   */
  string(key: string, opts: { max?: number; min?: number } = {}): string | undefined {
    const list = this.#map.get(key)
    if (list === undefined) return undefined
    const v = list[list.length - 1] as string
    if (opts.max !== undefined && v.length > opts.max) {
      throw badRequest(`Parameter ${safeName(key)} is too long (at most ${opts.max} characters)`)
    }
    if (opts.min !== undefined && v.length < opts.min) {
      throw badRequest(`Parameter ${safeName(key)} is too short (at least ${opts.min} characters)`)
    }
    return v
  }

  /** A required string. @throws {ChatError} 20001 "Missing required parameter X". */
  required(key: string, opts: { max?: number; min?: number } = {}): string {
    const v = this.string(key, opts)
    if (v === undefined)
      throw badRequest(`Missing required parameter ${safeName(key)} in the post body`)
    return v
  }

  /** `true` / `false` (case-insensitive), or undefined when absent. */
  bool(key: string): boolean | undefined {
    const v = this.string(key)
    if (v === undefined) return undefined
    const l = v.toLowerCase()
    if (l === 'true') return true
    if (l === 'false') return false
    throw badRequest(`Parameter ${safeName(key)} must be true or false`)
  }

  /** A base-10 integer within `[min, max]`, or undefined when absent. */
  int(key: string, min: number, max: number): number | undefined {
    const v = this.string(key)
    if (v === undefined) return undefined
    const n = /^-?\d{1,16}$/.test(v.trim()) ? Number(v.trim()) : NaN
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw badRequest(`Parameter ${safeName(key)} must be an integer between ${min} and ${max}`)
    }
    return n
  }

  /**
   * An ISO-8601 date-time (`2024-01-02T03:04:05Z`, optionally with fractions or an offset), or undefined.
   * Returned as a Date.
   */
  date(key: string): Date | undefined {
    const v = this.string(key)
    if (v === undefined) return undefined
    const d = parseIsoDate(v)
    if (d === undefined)
      throw badRequest(`Parameter ${safeName(key)} must be an ISO 8601 date-time`)
    return d
  }

  /** One of `allowed`, or undefined when absent. */
  oneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const v = this.string(key)
    if (v === undefined) return undefined
    if (!(allowed as readonly string[]).includes(v)) {
      throw badRequest(`Parameter ${safeName(key)} must be one of ${allowed.join(', ')}`)
    }
    return v as T
  }

  /** Every value of a repeated parameter, each checked against `allowed`. */
  allOf<T extends string>(key: string, allowed: readonly T[]): T[] {
    const out: T[] = []
    for (const v of this.all(key)) {
      if (!(allowed as readonly string[]).includes(v)) {
        throw badRequest(`Parameter ${safeName(key)} must be one of ${allowed.join(', ')}`)
      }
      out.push(v as T)
    }
    return out
  }

  /**
   * A JSON-encoded string such as `Attributes`: must parse as JSON. Returned unchanged (the raw text is stored).
   * @param maxBytes - UTF-8 size cap, checked before parsing.
   */
  json(key: string, maxBytes?: number, tooLong?: () => ChatError): string | undefined {
    const v = this.string(key)
    if (v === undefined) return undefined
    if (maxBytes !== undefined && Buffer.byteLength(v, 'utf8') > maxBytes) {
      throw tooLong
        ? tooLong()
        : badRequest(`Parameter ${safeName(key)} is too large (at most ${maxBytes} bytes)`)
    }
    try {
      JSON.parse(v)
    } catch {
      throw badRequest(`Parameter ${safeName(key)} must be a valid JSON string`)
    }
    return v
  }
}

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/

/** Parse an ISO-8601 date or date-time strictly (no `Date.parse` leniency). Undefined when invalid. */
export function parseIsoDate(s: string): Date | undefined {
  const m = ISO_RE.exec(s.trim())
  if (m === null) return undefined
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone = 'Z'] = m
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  const hour = Number(h)
  const minute = Number(mi)
  const second = Number(sec)
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59)
    return undefined
  let offsetMin = 0
  if (zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    const oh = Number(digits.slice(0, 2))
    const om = Number(digits.slice(2))
    if (oh > 23 || om > 59) return undefined
    offsetMin = sign * (oh * 60 + om)
  }
  const ms = frac === '' ? 0 : Math.floor(Number('0.' + frac) * 1000)
  const t = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMin * 60_000
  const check = new Date(Date.UTC(year, month - 1, day))
  if (check.getUTCDate() !== day) return undefined // 2023-02-30
  const date = new Date(t)
  return Number.isNaN(date.getTime()) ? undefined : date
}

function safeName(key: string): string {
  return safeForMessage(key, 64)
}
