/**
 * Error-to-wire mapping for the REST API: every failure becomes Twilio's legacy body
 * `{code, message, more_info, status}` with the matching HTTP status (chat-rest-v2.md §8.1).
 *
 * @module
 */
import { ChatError, isChatError, moreInfo, type ErrorCode } from '@parley/token/errors'
import type { AppResponse } from './types.ts'

/** Headers sent with every JSON response. No CORS headers: admin REST is not for browsers (reliability.md §2.10). */
export const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
})

/** The one 401 body, byte for byte the same for every authentication failure (chat-rest-v2.md §3). */
export const UNAUTHENTICATED_BODY = JSON.stringify({
  status: 401,
  message: 'Authenticate',
  code: 20003,
  more_info: moreInfo(20003),
})

/** Build a JSON response. */
export function jsonResponse(
  status: number,
  body: unknown,
  extraHeaders?: Readonly<Record<string, string>>,
): AppResponse {
  return {
    status,
    headers: extraHeaders === undefined ? JSON_HEADERS : { ...JSON_HEADERS, ...extraHeaders },
    body: JSON.stringify(body),
  }
}

/** The uniform 401 response. */
export function unauthenticated(): AppResponse {
  return { status: 401, headers: JSON_HEADERS, body: UNAUTHENTICATED_BODY }
}

/** Shorthand for a client error with a registry code: `badRequest('PageSize must be…')` → 400 20001. */
export function badRequest(message: string, details?: Record<string, unknown>): ChatError {
  return new ChatError(20001, message, details === undefined ? undefined : { details })
}

/** A 404 in Twilio's wording: "The requested resource /Services/IS…/Channels/x was not found". */
export function notFound(path: string): ChatError {
  return new ChatError(20404, `The requested resource ${safeForMessage(path)} was not found`)
}

/** Make a ChatError from a code and a message. */
export function chatError(code: ErrorCode, message?: string): ChatError {
  return new ChatError(code, message)
}

/**
 * Map anything thrown by a handler to a response. ChatErrors keep their code and status; anything else is a 500
 * with a generic message (the caller logs the cause; it never reaches the client).
 */
export function errorResponse(
  err: unknown,
  extraHeaders?: Readonly<Record<string, string>>,
): AppResponse {
  if (isChatError(err)) {
    if (err.code === 20003)
      return { status: 401, headers: JSON_HEADERS, body: UNAUTHENTICATED_BODY }
    const body: Record<string, unknown> = { ...err.toJSON() }
    if (err.details !== undefined) body['details'] = err.details
    return jsonResponse(err.status, body, extraHeaders)
  }
  return jsonResponse(500, new ChatError(20500).toJSON(), extraHeaders)
}

/**
 * Make user input safe to echo inside an error message: bounded length, no control characters.
 * (style.md §4: user input never goes into `message` unsanitised.)
 */
export function safeForMessage(s: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?')
  return clean.length > max ? clean.slice(0, max) + '…' : clean
}
