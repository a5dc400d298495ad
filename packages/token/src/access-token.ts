/**
 * `AccessToken`: a drop-in for the official `twilio` helper's `AccessToken` (twilio-node 4.x–6.x). For the same
 * inputs at the same clock, {@link AccessToken.toJwt} returns the same bytes as the helper, but signs
 * synchronously with `node:crypto` and without `jsonwebtoken`.
 *
 * @module
 */
import { Buffer } from 'node:buffer'
import { createHmac } from 'node:crypto'
import {
  ChatGrant,
  Grant,
  PlaybackGrant,
  SyncGrant,
  TaskRouterGrant,
  VideoGrant,
  VoiceGrant,
  type AnyGrant,
  type ChatGrantOptions,
  type ChatGrantPayload,
  type PlaybackGrantOptions,
  type PlaybackGrantPayload,
  type SyncGrantOptions,
  type SyncGrantPayload,
  type TaskRouterGrantOptions,
  type TaskRouterGrantPayload,
  type VideoGrantOptions,
  type VideoGrantPayload,
  type VoiceGrantOptions,
  type VoiceGrantPayload,
} from './grants.ts'
import type {
  ChatGrant as ChatGrantType,
  PlaybackGrant as PlaybackGrantType,
  SyncGrant as SyncGrantType,
  TaskRouterGrant as TaskRouterGrantType,
  VideoGrant as VideoGrantType,
  VoiceGrant as VoiceGrantType,
} from './grants.ts'
import { HASH_OF, type Algorithm } from './lib/algorithms.ts'

export type { Algorithm } from './lib/algorithms.ts'

/** The longest `ttl` {@link AccessToken.toJwt} accepts: 24 h, the maximum Twilio and Parley's verifier allow. */
export const MAX_TTL_SECONDS = 86400

/** Options of {@link AccessToken} (the helper's `AccessTokenOptions`). */
export interface AccessTokenOptions {
  /**
   * Time to live in seconds (default 3600; `0` also means 3600, as in the helper). Must be an integer from 1 to
   * 86400, otherwise `toJwt()` throws a `RangeError` (the helper has no bound).
   */
  ttl?: number
  /** The identity of the user. Required; an integer is written as a string. */
  identity: string | number
  /** Not-before time in seconds since the epoch; written only when it is a number. */
  nbf?: number
  /** The region of the account (`ie1`, `us1`…), written to the header as `twr`. */
  region?: string
}

type HeaderCacheKey = string
const HEADER_CACHE_LIMIT = 64
const headerCache = new Map<HeaderCacheKey, string>()

/**
 * The base64url header of a token, cached per algorithm and region (the helper's member order:
 * `alg, typ, cty[, twr]`).
 */
function encodedHeader(alg: Algorithm, region: string | undefined): string {
  const cacheKey = region === undefined ? alg : `${alg}\u0000${region}`
  let encoded = headerCache.get(cacheKey)
  if (encoded === undefined) {
    const header: Record<string, string> = { alg, typ: 'JWT', cty: 'twilio-fpa;v=1' }
    if (region !== undefined) header['twr'] = region
    encoded = Buffer.from(JSON.stringify(header), 'utf8').toString('base64url')
    if (headerCache.size >= HEADER_CACHE_LIMIT) headerCache.clear()
    headerCache.set(cacheKey, encoded)
  }
  return encoded
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/

/**
 * An Access Token in the Twilio format: a JWT signed with an API key secret, carrying an identity and grants.
 *
 * Differences from the helper, all of them on inputs for which the helper emits a token that no verifier
 * accepts: `ttl` outside 1..86400 or not an integer, `nbf` not a safe integer, an identity that is neither a
 * string nor an integer, and a non-ASCII `region` throw instead of minting.
 *
 * @example
 * ```ts
 * import { AccessToken } from '@parley/token'
 *
 * const token = new AccessToken(accountSid, apiKeySid, apiKeySecret, { identity: 'alice', ttl: 3600 })
 * token.addGrant(new AccessToken.ChatGrant({ serviceSid }))
 * const jwt = token.toJwt()
 * ```
 */
export class AccessToken implements AccessTokenOptions {
  /** The default signing algorithm. */
  static readonly DEFAULT_ALGORITHM = 'HS256' as const
  /** The signing algorithms `toJwt()` accepts. */
  static readonly ALGORITHMS: readonly Algorithm[] = ['HS256', 'HS384', 'HS512']

  /** Base class of grants (subclass it for a grant type not shipped here). */
  static readonly Grant = Grant
  /** The `chat` grant. */
  static readonly ChatGrant = ChatGrant
  /** The `task_router` grant. */
  static readonly TaskRouterGrant = TaskRouterGrant
  /** The `video` grant. */
  static readonly VideoGrant = VideoGrant
  /** The `data_sync` grant. */
  static readonly SyncGrant = SyncGrant
  /** The `voice` grant. */
  static readonly VoiceGrant = VoiceGrant
  /** The `player` grant. */
  static readonly PlaybackGrant = PlaybackGrant

  /** The Account SID (`AC…`), written as `sub`. */
  accountSid: string
  /** The API Key SID (`SK…`), written as `iss` and in `jti`. */
  keySid: string
  /** The API Key secret (the HMAC key). Not enumerable, so logging the token object does not print it. */
  declare secret: string
  /** Time to live in seconds. */
  ttl: number
  /** The identity of the user. */
  identity: string | number
  /** Not-before time in seconds since the epoch. */
  nbf?: number
  /** The region, written to the header as `twr`. */
  region?: string
  /** The grants added so far, in order; for a repeated key the last one wins. */
  grants: AnyGrant[]

  #keySource: string | undefined
  #keyBytes: Buffer | undefined

  /**
   * @param accountSid - the Account SID (`AC…`) the token is scoped to
   * @param keySid - the API Key SID (`SK…`) that signs the token
   * @param secret - the API Key secret
   * @param options - identity (required), ttl, nbf, region
   * @throws {Error} with the helper's messages: `accountSid is required`, `keySid is required`,
   *   `secret is required`, `identity is required to be specified in options`
   * @throws {TypeError} when a SID or the secret is not a string, or identity is neither a string nor an integer
   */
  constructor(accountSid: string, keySid: string, secret: string, options: AccessTokenOptions) {
    if (!accountSid) throw new Error('accountSid is required')
    if (!keySid) throw new Error('keySid is required')
    if (!secret) throw new Error('secret is required')
    if (!options || !options.identity)
      throw new Error('identity is required to be specified in options')
    if (typeof accountSid !== 'string') throw new TypeError('accountSid must be a string')
    if (typeof keySid !== 'string') throw new TypeError('keySid must be a string')
    if (typeof secret !== 'string') throw new TypeError('secret must be a string')
    const identity = options.identity
    if (typeof identity !== 'string' && !Number.isInteger(identity)) {
      // The helper silently drops such an identity and mints a token without one.
      throw new TypeError('identity must be a string or an integer')
    }
    this.accountSid = accountSid
    this.keySid = keySid
    Object.defineProperty(this, 'secret', {
      value: secret,
      writable: true,
      enumerable: false,
      configurable: true,
    })
    this.ttl = options.ttl || 3600
    this.identity = identity
    if (options.nbf !== undefined) this.nbf = options.nbf
    if (options.region !== undefined) this.region = options.region
    this.grants = []
  }

  /** Adds a grant. Grants are written in the order added; a later grant with the same key replaces an earlier one. */
  addGrant<T extends AnyGrant>(grant: T): void {
    this.grants.push(grant)
  }

  /**
   * Signs the token. Reads the clock once (`Date.now()`), for `jti`, `iat` and `exp = iat + ttl`.
   *
   * @param algorithm - `HS256` (default), `HS384` or `HS512`
   * @returns the compact JWT
   * @throws {Error} `Algorithm not supported. Allowed values are HS256, HS384, HS512` (the helper's message)
   * @throws {RangeError} when ttl is not an integer from 1 to 86400, or nbf is not a safe integer
   * @throws {TypeError} when region is not a printable-ASCII string
   */
  toJwt(algorithm?: Algorithm): string {
    const alg = algorithm || AccessToken.DEFAULT_ALGORITHM
    const hash = Object.hasOwn(HASH_OF, alg) ? HASH_OF[alg] : undefined
    if (hash === undefined) {
      throw new Error(
        'Algorithm not supported. Allowed values are ' + AccessToken.ALGORITHMS.join(', '),
      )
    }
    const ttl = this.ttl
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
      throw new RangeError(
        `ttl must be an integer number of seconds from 1 to ${MAX_TTL_SECONDS} (24 h), got ${String(ttl)}`,
      )
    }
    const nbf = this.nbf
    if (typeof nbf === 'number' && !Number.isSafeInteger(nbf)) {
      throw new RangeError(`nbf must be an integer number of seconds since the epoch, got ${nbf}`)
    }
    let region: string | undefined
    if (this.region && typeof this.region === 'string') {
      if (!PRINTABLE_ASCII.test(this.region)) throw new TypeError('region must be printable ASCII')
      region = this.region
    }
    const secret = this.secret
    if (typeof secret !== 'string' || secret.length === 0)
      throw new TypeError('secret must be a non-empty string')
    if (this.#keySource !== secret || this.#keyBytes === undefined) {
      this.#keyBytes = Buffer.from(secret, 'utf8')
      this.#keySource = secret
    }

    // The helper builds this object and lets jsonwebtoken add iat, exp, iss and sub after it.
    const grants: Record<string, unknown> = {}
    const identity = this.identity
    if (Number.isInteger(identity) || typeof identity === 'string')
      grants['identity'] = String(identity)
    for (const grant of this.grants) grants[grant.key] = grant.toPayload()

    const now = Math.floor(Date.now() / 1000)
    // Assembled member by member; each value goes through JSON.stringify, so the result equals
    // JSON.stringify({ jti, grants, nbf?, iat, exp, iss, sub }) byte for byte.
    let payload =
      '{"jti":' + JSON.stringify(this.keySid + '-' + now) + ',"grants":' + JSON.stringify(grants)
    if (typeof nbf === 'number') payload += ',"nbf":' + nbf
    payload +=
      ',"iat":' +
      now +
      ',"exp":' +
      (now + ttl) +
      ',"iss":' +
      JSON.stringify(this.keySid) +
      ',"sub":' +
      JSON.stringify(this.accountSid) +
      '}'
    const input =
      encodedHeader(alg, region) + '.' + Buffer.from(payload, 'utf8').toString('base64url')
    return (
      input + '.' + createHmac(hash, this.#keyBytes).update(input, 'latin1').digest('base64url')
    )
  }
}

/**
 * Type-level mirror of the helper's `AccessToken` namespace, so `AccessToken.ChatGrant`,
 * `AccessToken.ChatGrantOptions` and friends also work in type positions.
 */
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace AccessToken {
  export type {
    ChatGrantOptions,
    ChatGrantPayload,
    TaskRouterGrantOptions,
    TaskRouterGrantPayload,
    VideoGrantOptions,
    VideoGrantPayload,
    SyncGrantOptions,
    SyncGrantPayload,
    VoiceGrantOptions,
    VoiceGrantPayload,
    PlaybackGrantOptions,
    PlaybackGrantPayload,
    AccessTokenOptions,
  }
  export type ChatGrant = ChatGrantType
  export type TaskRouterGrant = TaskRouterGrantType
  export type VideoGrant = VideoGrantType
  export type SyncGrant = SyncGrantType
  export type VoiceGrant = VoiceGrantType
  export type PlaybackGrant = PlaybackGrantType
}
