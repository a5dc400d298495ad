/**
 * What the Twilsock gateway needs from token verification, and how a rejection becomes an `init`/`update` reply
 * (access-tokens.md §7.6, twilio-client-protocol.md §6.1).
 *
 * @module
 */
import {
  ChatError,
  isChatError,
  twilsockErrorCode,
  verifyAccessToken,
  type KeyLookup,
} from '@parley/token'

/** The verified claims the gateway needs; the endpoint is settled by the gateway. */
export interface VerifiedToken {
  readonly accountSid: string
  readonly keySid: string
  readonly serviceSid: string
  readonly identity: string
  /** The chat grant's `endpoint_id`, when present. */
  readonly endpointId?: string | undefined
  /** `exp`, Unix seconds. */
  readonly expiresAt: number
}

/**
 * Verifies a Twilsock `init`/`update` token: signature, claims, key state and service ownership.
 *
 * MUST reject with a `ChatError` (or a {@link TwilsockRejectionError}) for a token the client is to blame for;
 * any other rejection is treated as a server-side failure (reply 500, the client retries).
 */
export type TwilsockVerifier = (token: string) => Promise<VerifiedToken>

/** The `status` member of a rejecting `reply` (twilio-client-protocol.md §6.1). */
export interface TwilsockStatus {
  readonly code: number
  readonly status: string
  readonly errorCode?: number
  readonly description?: string
}

/** A rejection with an explicit Twilsock status, for verifiers that know better than the default mapping. */
export class TwilsockRejectionError extends Error {
  override name = 'TwilsockRejectionError'
  readonly status: TwilsockStatus
  constructor(status: TwilsockStatus) {
    super(status.description ?? status.status)
    this.status = status
  }
}

const MAX_DESCRIPTION = 200

/**
 * Maps a verification failure to the Twilsock reply status.
 *
 * - `TwilsockRejectionError`: its own status.
 * - `ChatError`: 401 (403 when its status is 403) with `@parley/token`'s `twilsockErrorCode` (§7.6: 20104 stays
 *   20104 so that the client emits `tokenExpired`); 51xxx codes pass through.
 * - anything else: 500, which the Twilio clients treat as retryable; the cause is not sent.
 */
export function rejectionStatus(err: unknown): TwilsockStatus {
  if (err instanceof TwilsockRejectionError) return err.status
  if (isChatError(err)) {
    // 51xxx codes (e.g. 51101 from the service check) are already Twilsock codes.
    const errorCode = err.code >= 51000 && err.code < 52000 ? err.code : twilsockErrorCode(err)
    const status = err.status === 403 ? 403 : 401
    return {
      code: status,
      status: status === 403 ? 'Forbidden' : 'Unauthorized',
      errorCode,
      description: err.message.slice(0, MAX_DESCRIPTION),
    }
  }
  return { code: 500, status: 'Internal Server Error', description: 'Token verification failed' }
}

/** What {@link createTwilsockVerifier} needs from the core. */
export interface TwilsockVerifierDeps {
  /** The API key by SID: `{ secret, accountSid }`, or nothing when unknown or revoked (core `resolveApiKey`). */
  readonly resolveKey: (keySid: string) => KeyLookup | PromiseLike<KeyLookup>
  /** Whether the service exists and belongs to the account; omitted = not checked. */
  readonly serviceBelongsTo?: (
    serviceSid: string,
    accountSid: string,
  ) => boolean | PromiseLike<boolean>
  /** Current time in ms (default `Date.now`). */
  readonly now?: () => number
  /** Clock leeway in seconds (default 60, access-tokens.md §7.1 D6). */
  readonly leewaySeconds?: number
}

/**
 * Builds the gateway's verifier from `@parley/token`'s `verifyAccessToken` plus the service check.
 *
 * @throws {ChatError} (rejection) 20101–20107/20157 from the token checks; 51101 when the service is unknown or
 *   belongs to another account.
 * @example
 * ```ts
 * const verify = createTwilsockVerifier({ resolveKey: (sid) => core.resolveApiKey(sid), serviceBelongsTo })
 * ```
 */
export function createTwilsockVerifier(deps: TwilsockVerifierDeps): TwilsockVerifier {
  const now = deps.now ?? Date.now
  return async (token) => {
    const p = await verifyAccessToken(token, {
      resolveKey: deps.resolveKey,
      now: now() / 1000,
      ...(deps.leewaySeconds === undefined ? {} : { leewaySeconds: deps.leewaySeconds }),
    })
    if (deps.serviceBelongsTo && !(await deps.serviceBelongsTo(p.serviceSid, p.accountSid))) {
      throw new ChatError(51101, 'Service instance not found')
    }
    return {
      accountSid: p.accountSid,
      keySid: p.keySid,
      serviceSid: p.serviceSid,
      identity: p.identity,
      endpointId: p.endpointId ?? undefined,
      expiresAt: p.expiresAt,
    }
  }
}
