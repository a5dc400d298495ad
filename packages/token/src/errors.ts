/**
 * The one error class of Parley and its registry of Twilio numeric codes.
 *
 * Runtime-neutral (no `node:*` imports) so that clients can import it from `@parley/token/errors`.
 * `docs/errors.md` lists every entry of {@link ERRORS}; a test fails when the two disagree.
 *
 * @module
 */

/**
 * Every error code Parley can return, with its HTTP status and default message.
 * Codes follow Twilio's numbering and meaning: 20xxx auth, tokens and generic HTTP; 50xxx chat domain;
 * 51xxx realtime connection; 52xxx store or bus unavailable.
 */
export const ERRORS = {
  // --- Generic HTTP and REST (20xxx) ---
  20001: { status: 400, message: 'Invalid parameter' },
  20003: { status: 401, message: 'Authenticate' },
  20004: { status: 405, message: 'Method not allowed' },
  20005: { status: 403, message: 'Account not active' },
  20006: { status: 403, message: 'Access denied' },
  20404: { status: 404, message: 'The requested resource was not found' },
  20409: { status: 409, message: 'Conflict' },
  20413: { status: 413, message: 'Request entity too large' },
  20415: { status: 415, message: 'Unsupported media type' },
  20422: { status: 422, message: 'Idempotency key reused with a different request' },
  20429: { status: 429, message: 'Too many requests' },
  20500: { status: 500, message: 'Internal server error' },
  20503: { status: 503, message: 'Service unavailable' },
  // --- Access tokens (access-tokens.md §7.6, §8.1) ---
  20101: { status: 401, message: 'Invalid Access Token' },
  20102: { status: 401, message: 'Invalid Access Token header' },
  20103: { status: 401, message: 'Invalid Access Token issuer/subject' },
  20104: { status: 401, message: 'Access Token expired or expiration date invalid' },
  20105: { status: 401, message: 'Access Token not yet valid' },
  20106: { status: 401, message: 'Invalid Access Token grants' },
  20107: { status: 401, message: 'Invalid Access Token signature' },
  20157: { status: 401, message: 'Expiration Time Exceeds Maximum Time Allowed' },
  // --- Chat domain (50xxx) ---
  50061: { status: 400, message: 'Invalid channel members limit format' },
  50076: { status: 502, message: 'Webhook failed to execute successfully due to timeout' },
  50100: { status: 404, message: 'Role not found' },
  50101: { status: 404, message: 'Channel role not found' },
  50104: { status: 400, message: 'Permission not found' },
  50105: { status: 400, message: 'Invalid role type' },
  50107: { status: 403, message: 'User not authorized for command' },
  50200: { status: 404, message: 'User not found' },
  50201: { status: 409, message: 'User already exists' },
  50202: { status: 400, message: 'User SID not provided' },
  50203: { status: 400, message: 'Identity reserved' },
  50205: { status: 403, message: 'User unauthorized to set role' },
  50206: { status: 400, message: 'Identity should not match user SID pattern' },
  50207: { status: 400, message: 'Identity too long' },
  50208: { status: 403, message: 'User channel limit exceeded' },
  50300: { status: 404, message: 'Channel not found' },
  50301: { status: 400, message: 'Channel key not provided' },
  50302: { status: 400, message: 'Unknown channel command' },
  50303: { status: 400, message: 'Channel attributes too long' },
  50306: { status: 400, message: 'Unique name should not match channel SID pattern' },
  50307: { status: 409, message: 'Channel with provided unique name already exists' },
  50400: { status: 403, message: 'User not member of channel' },
  50403: { status: 403, message: 'Channel member limit exceeded' },
  50404: { status: 409, message: 'Member already exists' },
  50504: { status: 400, message: 'Message body too long' },
  // --- Realtime connection (51xxx, Twilio "Client Connection") ---
  51006: { status: 410, message: 'Connection expired' },
  51101: { status: 401, message: 'Service instance not found' },
  51102: { status: 401, message: 'Service instance SID not specified' },
  51105: { status: 401, message: "Token doesn't contain identity" },
  51110: { status: 401, message: 'Token contains multiple grants of same product' },
  51114: { status: 401, message: 'Invalid access token header' },
  51115: { status: 401, message: 'Invalid access token subject' },
  51116: { status: 401, message: 'Invalid access token grants' },
  51117: { status: 401, message: 'Invalid access token signature' },
  51118: { status: 401, message: 'Invalid claim set' },
  51119: { status: 401, message: 'Token expired' },
  51120: { status: 401, message: 'Token is not valid yet' },
  51121: { status: 401, message: 'Token expiration time exceeds maximum' },
  51122: { status: 401, message: 'Authentication failed' },
  51130: { status: 401, message: 'Token is invalid' },
  // --- Store and bus (52xxx, Parley) ---
  52001: { status: 503, message: 'Store unavailable' },
  52002: { status: 503, message: 'Bus unavailable' },
} as const satisfies Record<number, { status: number; message: string }>

/** A code listed in {@link ERRORS}. */
export type ErrorCode = keyof typeof ERRORS

const BRAND = Symbol.for('parley.error')

/** Options for {@link ChatError}. */
export interface ChatErrorOptions {
  cause?: unknown
  details?: Record<string, unknown>
}

/**
 * An expected, client-caused failure with a Twilio numeric code and an HTTP status.
 *
 * Programmer misuse throws `TypeError` / `RangeError` instead.
 *
 * @example
 * ```ts
 * throw new ChatError(20104, 'token expired at 2026-11-27T10:00:00Z (125 s ago)')
 * ```
 */
export class ChatError extends Error {
  override name = 'ChatError'
  readonly code: ErrorCode
  readonly status: number
  readonly details: Readonly<Record<string, unknown>> | undefined

  constructor(code: ErrorCode, message?: string, options?: ChatErrorOptions) {
    super(message ?? ERRORS[code].message, { cause: options?.cause })
    this.code = code
    this.status = ERRORS[code].status
    this.details = options?.details
    Object.defineProperty(this, BRAND, { value: true })
  }

  /** The Twilio REST error body: `{ code, message, more_info, status }`. */
  toJSON(): { code: number; message: string; more_info: string; status: number } {
    return {
      code: this.code,
      message: this.message,
      more_info: moreInfo(this.code),
      status: this.status,
    }
  }
}

/** The `more_info` URL of a code, as Twilio formats it. */
export function moreInfo(code: number): string {
  return `https://www.twilio.com/docs/errors/${code}`
}

/** Brand check that works across duplicate copies of this package. */
export function isChatError(e: unknown): e is ChatError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true
}
