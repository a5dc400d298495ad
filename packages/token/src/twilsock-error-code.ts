/**
 * Mapping of token rejections to the `errorCode` the Twilsock gateway sends (access-tokens.md §7.6).
 *
 * @module
 */
import { isChatError } from './errors.ts'

/** An `errorCode` the Twilsock gateway reports for a rejected token. */
export type TwilsockErrorCode =
  | 20104
  | 51101
  | 51102
  | 51105
  | 51110
  | 51114
  | 51115
  | 51116
  | 51117
  | 51118
  | 51120
  | 51121
  | 51130

const BY_REST_CODE: Readonly<Record<number, TwilsockErrorCode | undefined>> = {
  20101: 51130,
  20102: 51114,
  20103: 51115,
  // Twilio's clients emit `tokenExpired` on a rejected init/update only for 20104, so expiry keeps it.
  20104: 20104,
  20105: 51120,
  20106: 51116,
  20107: 51117,
  20157: 51121,
}

/**
 * The Twilsock `errorCode` for a token rejection: the specific code that {@link verifyAccessToken} stored in
 * `err.details.twilsockErrorCode` (e.g. 51102 for a missing `service_sid`, 51110 for both `chat` and
 * `ip_messaging`), otherwise the default for the REST code (20101→51130, 20102→51114, 20103→51115,
 * 20104→20104, 20105→51120, 20106→51116, 20107→51117, 20157→51121), otherwise 51130 "Token is invalid".
 *
 * @example
 * ```ts
 * try { await verifyAccessToken(token, opts) } catch (err) {
 *   reply({ status: { code: 401, status: 'UNAUTHORIZED', errorCode: twilsockErrorCode(err) } })
 * }
 * ```
 */
export function twilsockErrorCode(err: unknown): TwilsockErrorCode {
  if (!isChatError(err)) return 51130
  const specific = err.details?.['twilsockErrorCode']
  if (typeof specific === 'number' && TWILSOCK_CODES.has(specific))
    return specific as TwilsockErrorCode
  return defaultTwilsockErrorCode(err.code)
}

const TWILSOCK_CODES: ReadonlySet<number> = new Set([
  20104, 51101, 51102, 51105, 51110, 51114, 51115, 51116, 51117, 51118, 51120, 51121, 51130,
])

/** The default Twilsock `errorCode` for a REST error code (51130 for codes outside the token block). */
export function defaultTwilsockErrorCode(code: number): TwilsockErrorCode {
  return BY_REST_CODE[code] ?? 51130
}
