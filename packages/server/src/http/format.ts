/**
 * Wire formats shared by the serializers: dates (ISO-8601 without milliseconds for v2, RFC 2822 for the 2010 API)
 * and absolute URLs.
 *
 * @module
 */

/** A time as the core may hand it over: epoch milliseconds, a Date or an ISO string. */
export type TimeLike = number | Date | string | null | undefined

function toDate(t: TimeLike): Date | null {
  if (t === null || t === undefined) return null
  const d = t instanceof Date ? t : new Date(t)
  return Number.isNaN(d.getTime()) ? null : d
}

/** `2016-03-24T20:37:57Z` (v2 APIs; chat-rest-v2.md §2), or null. */
export function isoDate(t: TimeLike): string | null {
  const d = toDate(t)
  if (d === null) return null
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const
const MONTHS = [
  'Jan',
  'Feb',
  'Mar',
  'Apr',
  'May',
  'Jun',
  'Jul',
  'Aug',
  'Sep',
  'Oct',
  'Nov',
  'Dec',
] as const

/** `Tue, 02 Jan 2024 03:04:05 +0000` (the 2010 API; chat-rest-v2.md §14.1), or null. */
export function rfc2822Date(t: TimeLike): string | null {
  const d = toDate(t)
  if (d === null) return null
  const p = (n: number): string => String(n).padStart(2, '0')
  return (
    `${DAYS[d.getUTCDay()]}, ${p(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`
  )
}

/** Percent-encode one path segment (identities and unique names may hold `/`, `#`, spaces…). */
export function seg(s: string): string {
  return encodeURIComponent(s)
}
