/**
 * The Twilsock verifier backed by the core: keys from `core.resolveApiKey` (unknown or deleted keys fail like a bad
 * signature), and the token's service must exist and belong to the token's account (access-tokens.md §7.3 step 8).
 *
 * @module
 */
import { isChatError } from '@parley/token'
import type { Core } from '../../../core/api.ts'
import { createTwilsockVerifier, type TwilsockVerifier } from './verify.ts'

/** Options of {@link coreTwilsockVerifier}. */
export interface CoreVerifierOptions {
  /** Current time in ms (default `Date.now`). */
  readonly now?: () => number
  /** Clock leeway in seconds (default 60). */
  readonly leewaySeconds?: number
  /**
   * How long a positive service-ownership check is reused, in ms (default 5,000; 0 = always ask the store). Saves a
   * store read per `init` during reconnect storms; a deleted service is noticed by new connections within this time.
   */
  readonly serviceCacheMs?: number
}

const SERVICE_CACHE_MAX = 10_000

/**
 * Builds the gateway's `verify` from the core.
 *
 * @throws {ChatError} (rejection) the token codes of `verifyAccessToken`; 51101 when the service is unknown or
 *   another account's. Store failures propagate (the gateway answers 500, which the client retries).
 * @example
 * ```ts
 * createTwilsockGateway({ verify: coreTwilsockVerifier(core), upstream })
 * ```
 */
export function coreTwilsockVerifier(
  core: Pick<Core, 'resolveApiKey' | 'services'>,
  opts: CoreVerifierOptions = {},
): TwilsockVerifier {
  const { serviceCacheMs = 5_000, ...verifierOpts } = opts
  const now = opts.now ?? Date.now
  const known = new Map<string, number>() // `${accountSid}|${serviceSid}` → valid until (ms)
  return createTwilsockVerifier({
    resolveKey: (keySid) => core.resolveApiKey(keySid),
    serviceBelongsTo: async (serviceSid, accountSid) => {
      const k = `${accountSid}|${serviceSid}`
      const until = known.get(k)
      if (until !== undefined && until > now()) return true
      try {
        await core.services.fetch({ kind: 'admin', accountSid }, serviceSid)
      } catch (err) {
        known.delete(k)
        if (isChatError(err) && err.status === 404) return false
        throw err
      }
      if (serviceCacheMs > 0) {
        if (known.size >= SERVICE_CACHE_MAX) known.clear()
        known.set(k, now() + serviceCacheMs)
      }
      return true
    },
    ...verifierOpts,
  })
}
