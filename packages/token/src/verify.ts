/**
 * `verifyAccessToken`: the strict verifier of Twilio-format Access Tokens (access-tokens.md §7).
 *
 * Order of checks (§7.2): size → structure → header → key lookup by `iss` → constant-time HMAC → claims →
 * grants. Claim and grant errors are reported only after the signature verifies, so an expired token with a bad
 * signature is a 20107, not a 20104. Database state (key revoked, account inactive, service unknown) is the
 * caller's part: `resolveKey` returns nothing for a revoked key, and the server checks the service afterwards.
 *
 * @module
 */
import { Buffer } from 'node:buffer'
import { randomBytes } from 'node:crypto'
import { ChatError, type ErrorCode } from './errors.ts'
import { MAX_ENDPOINT_ID_LENGTH } from './endpoint-id.ts'
import { DIGEST_BYTES, isAlgorithm, type Algorithm } from './lib/algorithms.ts'
import { hmacVerify } from './lib/hmac.ts'
import { hasCanonicalTail } from './lib/base64url.ts'
import { parseStrictJson, StrictJsonError } from './lib/strict-json.ts'
import { defaultTwilsockErrorCode, type TwilsockErrorCode } from './twilsock-error-code.ts'

/** The largest token accepted, in bytes (§7.3 step 1; real tokens are 500–800 bytes). */
export const MAX_TOKEN_BYTES = 8192
/** Default clock leeway `S` in seconds (§7.1 D6). */
export const DEFAULT_LEEWAY_SECONDS = 60
/** Default and largest accepted token lifetime in seconds (24 h). */
export const DEFAULT_MAX_TTL_SECONDS = 86400
/** Extra lifetime tolerated on top of the maximum, absorbing twilio-python's separate clock reads (§5). */
export const LIFETIME_SLACK_SECONDS = 5
/** The longest identity accepted, in UTF-16 code units (§6). */
export const MAX_IDENTITY_LENGTH = 256
/** The shortest API key secret `resolveKey` may return, in UTF-8 bytes (§7.1 D12). */
export const MIN_SECRET_BYTES = 16
/** The deepest JSON nesting accepted in the header and the payload. */
export const MAX_JSON_DEPTH = 16

/** What `resolveKey` returns for a known, active API key. */
export interface ResolvedKey {
  /** The API key secret: the exact string used as the HMAC key (UTF-8, never trimmed). At least 16 bytes. */
  secret: string
  /** The Account SID (`AC…`) that owns the key; the token's `sub` must equal it. */
  accountSid: string
}

/** Result of a key lookup: the key, or nothing when the key is unknown, revoked or its account inactive. */
export type KeyLookup = ResolvedKey | undefined | null

/** Options of {@link verifyAccessToken}. */
export interface VerifyOptions {
  /**
   * Looks up an API key by its SID (the token's `iss`, already checked to match `^SK[0-9a-f]{32}$`). Return
   * nothing for an unknown or revoked key: the verifier then runs a dummy HMAC and fails exactly like a bad
   * signature (20107), so key existence does not leak. May be async for {@link verifyAccessToken}; must be
   * synchronous for {@link verifyAccessTokenSync}.
   */
  resolveKey: (keySid: string) => KeyLookup | PromiseLike<KeyLookup>
  /** The current time in seconds since the epoch (default `Date.now() / 1000`). Tests inject it. */
  now?: number
  /** Clock leeway `S` in seconds, an integer from 0 to 300 (default 60). */
  leewaySeconds?: number
  /** The longest accepted lifetime in seconds, an integer from 1 to 86400 (default 86400). */
  maxTtlSeconds?: number
  /** The accepted algorithms, a non-empty subset of HS256, HS384, HS512 (default all three). */
  algorithms?: readonly Algorithm[]
}

/** Options of {@link verifyAccessTokenSync}: `resolveKey` must return synchronously. */
export interface VerifySyncOptions extends Omit<VerifyOptions, 'resolveKey'> {
  /** Looks up an API key by its SID, synchronously. See {@link VerifyOptions.resolveKey}. */
  resolveKey: (keySid: string) => KeyLookup
}

/** The verified identity of a token's bearer. Frozen, grants included. Absent optional claims are `null`. */
export interface AccessTokenPrincipal {
  /** `grants.identity`: 1..256 code units, well-formed, no control characters. */
  readonly identity: string
  /** `sub`, equal to the key's account. */
  readonly accountSid: string
  /** `iss`, the API key that signed the token. */
  readonly keySid: string
  /** `grants.chat.service_sid` (or `grants.ip_messaging.service_sid`). */
  readonly serviceSid: string
  /** `grants.chat.endpoint_id`, or `null`. */
  readonly endpointId: string | null
  /** `iat` in seconds, or `null` (twilio-python and twilio-java omit it). */
  readonly issuedAt: number | null
  /** `nbf` in seconds, or `null` (twilio-node omits it unless asked). */
  readonly notBefore: number | null
  /** `exp` in seconds. */
  readonly expiresAt: number
  /** The header's `alg`. */
  readonly algorithm: Algorithm
  /** The header's `twr` (region), or `null`. */
  readonly region: string | null
  /** Which grant carried the chat permissions: `chat`, or the legacy `ip_messaging`. */
  readonly grantKey: 'chat' | 'ip_messaging'
  /** The whole `grants` claim (deep-frozen), including grants for other products. */
  readonly grants: Readonly<Record<string, unknown>>
}

/**
 * Stable name of the check that failed, in `ChatError.details.check`:
 * `token` `size` `shape` `base64url` `utf8` `json` `header` `header.alg` `header.typ` `header.cty`
 * `header.param` `signature.length` `iss` `signature` `exp` `nbf` `iat` `lifetime` `sub` `grants` `identity`
 * `grant` `service_sid` `endpoint_id`.
 */
export type VerifyCheck =
  | 'token'
  | 'size'
  | 'shape'
  | 'base64url'
  | 'utf8'
  | 'json'
  | 'header'
  | 'header.alg'
  | 'header.typ'
  | 'header.cty'
  | 'header.param'
  | 'signature.length'
  | 'iss'
  | 'signature'
  | 'exp'
  | 'nbf'
  | 'iat'
  | 'lifetime'
  | 'sub'
  | 'grants'
  | 'identity'
  | 'grant'
  | 'service_sid'
  | 'endpoint_id'

function reject(
  code: ErrorCode,
  check: VerifyCheck,
  message: string,
  twilsock?: TwilsockErrorCode,
): never {
  throw new ChatError(code, message, {
    details: { check, twilsockErrorCode: twilsock ?? defaultTwilsockErrorCode(code) },
  })
}

const SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
const KEY_SID = /^SK[0-9a-f]{32}$/
const ACCOUNT_SID = /^AC[0-9a-f]{32}$/
const SERVICE_SID = /^IS[0-9a-f]{32}$/
const FORBIDDEN_IDENTITY_CHARS = /[\p{Cc}\p{Cs}]/u
const FORBIDDEN_HEADER_PARAMS = [
  'crit',
  'jku',
  'jwk',
  'x5u',
  'x5c',
  'x5t',
  'x5t#S256',
  'b64',
  'zip',
  'enc',
  'epk',
  'p2s',
  'p2c',
] as const
const ALL_ALGORITHMS: readonly Algorithm[] = ['HS256', 'HS384', 'HS512']
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
/** Key of the dummy HMAC run for an unknown `iss`, so that an unknown key costs what a bad signature costs. */
const DUMMY_KEY = randomBytes(64)
const SEGMENT_SCRATCH = Buffer.alloc(MAX_TOKEN_BYTES)
const SIGNATURE_SCRATCH: Readonly<Record<Algorithm, Buffer>> = {
  HS256: Buffer.alloc(DIGEST_BYTES.HS256),
  HS384: Buffer.alloc(DIGEST_BYTES.HS384),
  HS512: Buffer.alloc(DIGEST_BYTES.HS512),
}
const keyBytesCache = new WeakMap<object, { secret: string; bytes: Buffer }>()

interface Normalized {
  now: number | undefined
  leeway: number
  maxTtl: number
  algorithms: readonly Algorithm[]
}

interface CheckedHeader {
  alg: Algorithm
  region: string | null
}

const HEADER_CACHE_LIMIT = 32
const headerCache = new Map<string, CheckedHeader>()

interface Parsed {
  alg: Algorithm
  region: string | null
  keySid: string
  payload: Record<string, unknown>
  signingInput: string
  sigSegment: string
}

function own(o: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A value safe to echo in an error message: short printable ASCII, quoted; otherwise only its type. */
function show(v: unknown): string {
  if (typeof v === 'string') return /^[\x20-\x7e]{0,40}$/.test(v) ? JSON.stringify(v) : 'a string'
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  if (v === null) return 'null'
  return Array.isArray(v) ? 'an array' : `a ${typeof v}`
}

/** NumericDate → `2026-11-27T10:00:00Z` (or the raw number when outside the Date range). */
export function formatNumericDate(seconds: number): string {
  const ms = seconds * 1000
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return `NumericDate ${seconds}`
  return new Date(ms).toISOString().replace('.000Z', 'Z')
}

function normalize(options: VerifyOptions | VerifySyncOptions): Normalized {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('verify options are required')
  if (typeof options.resolveKey !== 'function')
    throw new TypeError('options.resolveKey must be a function')
  const {
    now,
    leewaySeconds = DEFAULT_LEEWAY_SECONDS,
    maxTtlSeconds = DEFAULT_MAX_TTL_SECONDS,
  } = options
  if (now !== undefined && (typeof now !== 'number' || !Number.isFinite(now))) {
    throw new TypeError('options.now must be a finite number of seconds since the epoch')
  }
  if (!Number.isInteger(leewaySeconds) || leewaySeconds < 0 || leewaySeconds > 300) {
    throw new RangeError('options.leewaySeconds must be an integer from 0 to 300')
  }
  if (
    !Number.isInteger(maxTtlSeconds) ||
    maxTtlSeconds < 1 ||
    maxTtlSeconds > DEFAULT_MAX_TTL_SECONDS
  ) {
    throw new RangeError(
      `options.maxTtlSeconds must be an integer from 1 to ${DEFAULT_MAX_TTL_SECONDS}`,
    )
  }
  let algorithms = ALL_ALGORITHMS
  if (options.algorithms !== undefined) {
    if (!Array.isArray(options.algorithms) || options.algorithms.length === 0) {
      throw new TypeError('options.algorithms must be a non-empty array')
    }
    for (const a of options.algorithms) {
      if (!isAlgorithm(a))
        throw new TypeError('options.algorithms may contain only HS256, HS384 and HS512')
    }
    algorithms = options.algorithms
  }
  // Integer claims compare against floor(now) exactly as against now (exp > x ⇔ exp > ⌊x⌋ for integer exp).
  return {
    now: now === undefined ? undefined : Math.floor(now),
    leeway: leewaySeconds,
    maxTtl: maxTtlSeconds,
    algorithms,
  }
}

function decodeSegment(segment: string, name: 'header' | 'payload'): Record<string, unknown> {
  if (!hasCanonicalTail(segment))
    reject(20101, 'base64url', `${name} segment is not canonical base64url`)
  let text: string
  try {
    // Decoded into a scratch buffer (this function is synchronous); the size cap bounds the segment.
    const n = SEGMENT_SCRATCH.write(segment, 'base64url')
    text = utf8.decode(SEGMENT_SCRATCH.subarray(0, n))
  } catch {
    return reject(20101, 'utf8', `${name} is not valid UTF-8`)
  }
  if (text.charCodeAt(0) === 0xfeff) reject(20101, 'utf8', `${name} starts with a byte order mark`)
  let value: unknown
  try {
    value = parseStrictJson(text, MAX_JSON_DEPTH)
  } catch (err) {
    if (err instanceof StrictJsonError) {
      const what =
        err.reason === 'duplicate'
          ? 'has a duplicate member name'
          : err.reason === 'depth'
            ? `is nested deeper than ${MAX_JSON_DEPTH} levels`
            : `is not valid JSON (${err.message})`
      return reject(20101, 'json', `${name} ${what}`)
    }
    throw err
  }
  if (!isPlainObject(value)) reject(20101, 'json', `${name} is not a JSON object`)
  return value
}

/** Steps 1–5 up to the key lookup: size, structure, header, signature length and `iss`. */
function parseToken(token: unknown, algorithms: readonly Algorithm[]): Parsed {
  if (typeof token !== 'string')
    return reject(20101, 'token', `token must be a string, got ${show(token)}`)
  // Any non-ASCII character fails SHAPE, so for a passing token the UTF-16 length is the byte length.
  if (token.length > MAX_TOKEN_BYTES) {
    reject(20101, 'size', `token is longer than ${MAX_TOKEN_BYTES} bytes (${token.length})`)
  }
  if (!SHAPE.test(token)) {
    reject(20101, 'shape', 'token is not three base64url segments separated by dots')
  }
  const dot1 = token.indexOf('.')
  const dot2 = token.indexOf('.', dot1 + 1)
  // Structure first (both segments decode to objects, 20101), then the header rules (20102).
  const headerSegment = token.slice(0, dot1)
  let checked = headerCache.get(headerSegment)
  const header = checked === undefined ? decodeSegment(headerSegment, 'header') : undefined
  const payload = decodeSegment(token.slice(dot1 + 1, dot2), 'payload')
  const sigSegment = token.slice(dot2 + 1)
  if (!hasCanonicalTail(sigSegment))
    reject(20101, 'base64url', 'signature segment is not canonical base64url')
  if (header !== undefined) checked = checkHeader(headerSegment, header)
  const { alg, region } = checked!
  // The allow-list is per call, so it is applied after the cache.
  if (!algorithms.includes(alg))
    reject(20102, 'header.alg', `header alg ${show(alg)} is not allowed (${algorithms.join(', ')})`)

  // A canonical segment of n characters holds ⌊3n/4⌋ bytes; the bytes are decoded later, in finish().
  const signatureBytes = Math.floor((sigSegment.length * 3) / 4)
  if (signatureBytes !== DIGEST_BYTES[alg]) {
    reject(
      20107,
      'signature.length',
      `signature is ${signatureBytes} bytes; ${alg} signatures are ${DIGEST_BYTES[alg]} bytes`,
    )
  }

  const iss = own(payload, 'iss')
  if (iss === undefined) reject(20103, 'iss', 'iss is missing')
  if (typeof iss !== 'string' || !KEY_SID.test(iss)) {
    reject(
      20103,
      'iss',
      `iss ${show(iss)} is not an API key SID (SK followed by 32 lower-case hex digits)`,
    )
  }
  return { alg, region, keySid: iss, payload, signingInput: token.slice(0, dot2), sigSegment }
}

/**
 * Header rules (§7.3 step 4, §7.4). The result is a pure function of the segment's bytes, and nearly every token
 * of a deployment carries the same header, so accepted headers are memoised per exact segment.
 */
function checkHeader(segment: string, header: Record<string, unknown>): CheckedHeader {
  const alg = own(header, 'alg')
  if (!isAlgorithm(alg))
    reject(20102, 'header.alg', `header alg ${show(alg)} is not allowed (HS256, HS384, HS512)`)
  if (own(header, 'typ') !== 'JWT') {
    reject(20102, 'header.typ', `header typ must be "JWT", got ${show(own(header, 'typ'))}`)
  }
  if (own(header, 'cty') !== 'twilio-fpa;v=1') {
    reject(
      20102,
      'header.cty',
      `header cty must be "twilio-fpa;v=1", got ${show(own(header, 'cty'))}`,
    )
  }
  for (const name of FORBIDDEN_HEADER_PARAMS) {
    if (Object.hasOwn(header, name))
      reject(20102, 'header.param', `header parameter "${name}" is not allowed`)
  }
  const twr = own(header, 'twr')
  if (twr !== undefined && typeof twr !== 'string')
    reject(20102, 'header', `header twr must be a string, got ${show(twr)}`)
  const checked: CheckedHeader = { alg, region: twr ?? null }
  if (headerCache.size >= HEADER_CACHE_LIMIT) headerCache.clear()
  headerCache.set(segment, checked)
  return checked
}

function keyBytes(key: ResolvedKey): Buffer {
  const cached = keyBytesCache.get(key)
  if (cached !== undefined && cached.secret === key.secret) return cached.bytes
  const bytes = Buffer.from(key.secret, 'utf8')
  keyBytesCache.set(key, { secret: key.secret, bytes })
  return bytes
}

function checkKey(found: unknown): ResolvedKey | undefined {
  if (found === undefined || found === null) return undefined
  if (typeof found !== 'object')
    throw new TypeError('resolveKey must return { secret, accountSid } or nothing')
  const { secret, accountSid } = found as Record<string, unknown>
  // §7.1 D12: an empty or short secret is a configuration error, never "skip verification".
  if (typeof secret !== 'string' || Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
    throw new TypeError(
      `resolveKey returned a secret that is not a string of at least ${MIN_SECRET_BYTES} bytes`,
    )
  }
  if (typeof accountSid !== 'string' || accountSid.length === 0) {
    throw new TypeError('resolveKey returned no accountSid')
  }
  return found as ResolvedKey
}

/** Steps 6–9: HMAC, claims, grants, principal. */
function finish(parsed: Parsed, found: unknown, opts: Normalized): AccessTokenPrincipal {
  const key = checkKey(found)
  // An unknown key runs the same HMAC and comparison with a dummy key: same work, same error.
  // Decoded into a per-algorithm scratch buffer: finish() is synchronous, so nothing else uses it meanwhile.
  const signature = SIGNATURE_SCRATCH[parsed.alg]
  signature.write(parsed.sigSegment, 'base64url')
  const same = hmacVerify(
    parsed.alg,
    key === undefined ? DUMMY_KEY : keyBytes(key),
    parsed.signingInput,
    signature,
  )
  if (key === undefined || !same) {
    reject(
      20107,
      'signature',
      `signature does not verify: iss ${parsed.keySid} is not a known API key, or the token was not signed with its secret`,
    )
  }

  const p = parsed.payload
  const now = opts.now ?? Math.floor(Date.now() / 1000)
  const S = opts.leeway

  // Claims (§7.3 step 7, D4–D6).
  const exp = own(p, 'exp')
  if (exp === undefined) reject(20104, 'exp', 'exp is missing')
  if (!Number.isSafeInteger(exp))
    reject(20104, 'exp', `exp must be an integer NumericDate, got ${show(exp)}`)
  const nbf = own(p, 'nbf')
  if (nbf !== undefined && !Number.isSafeInteger(nbf)) {
    reject(20101, 'nbf', `nbf must be an integer NumericDate, got ${show(nbf)}`, 51118)
  }
  const iat = own(p, 'iat')
  if (iat !== undefined && !Number.isSafeInteger(iat)) {
    reject(20101, 'iat', `iat must be an integer NumericDate, got ${show(iat)}`, 51118)
  }
  const expAt = exp as number
  const nbfAt = nbf as number | undefined
  const iatAt = iat as number | undefined
  // RFC 7519 §4.1.4: reject on or after exp, with the leeway.
  if (expAt <= now - S)
    reject(20104, 'exp', `token expired at ${formatNumericDate(expAt)} (${now - expAt} s ago)`)
  if (nbfAt !== undefined && nbfAt > expAt) {
    reject(20104, 'nbf', `nbf ${formatNumericDate(nbfAt)} is after exp ${formatNumericDate(expAt)}`)
  }
  if (nbfAt !== undefined && nbfAt > now + S) {
    reject(
      20105,
      'nbf',
      `token not valid before ${formatNumericDate(nbfAt)} (${nbfAt - now} s from now)`,
    )
  }
  if (iatAt !== undefined && iatAt > now + S) {
    reject(
      20105,
      'iat',
      `token issued in the future: iat ${formatNumericDate(iatAt)} is ${iatAt - now} s ahead`,
    )
  }
  const start = iatAt ?? nbfAt ?? now
  const lifetime = expAt - start
  if (lifetime > opts.maxTtl + LIFETIME_SLACK_SECONDS) {
    const base = iatAt !== undefined ? 'iat' : nbfAt !== undefined ? 'nbf' : 'now'
    reject(
      20157,
      'lifetime',
      `token lifetime is ${lifetime} s (exp − ${base}), more than the ${opts.maxTtl} s maximum`,
    )
  }
  if (expAt > now + opts.maxTtl + S) {
    reject(
      20157,
      'lifetime',
      `exp ${formatNumericDate(expAt)} is more than ${opts.maxTtl} s in the future`,
    )
  }
  const sub = own(p, 'sub')
  if (sub !== key.accountSid) {
    const shown =
      typeof sub === 'string' && ACCOUNT_SID.test(sub)
        ? `sub ${sub}`
        : sub === undefined
          ? 'sub (missing)'
          : 'sub'
    reject(20103, 'sub', `${shown} is not the account of API key ${parsed.keySid}`)
  }

  // Grants (§7.3 step 8).
  const grants = own(p, 'grants')
  if (!isPlainObject(grants))
    reject(20106, 'grants', `grants must be an object, got ${show(grants)}`)
  const identity = own(grants, 'identity')
  if (identity === undefined) reject(20106, 'identity', 'grants.identity is missing', 51105)
  if (typeof identity !== 'string')
    reject(20106, 'identity', `grants.identity must be a string, got ${show(identity)}`, 51105)
  if (identity.length === 0) reject(20106, 'identity', 'grants.identity is empty', 51105)
  if (identity.length > MAX_IDENTITY_LENGTH) {
    reject(
      20106,
      'identity',
      `grants.identity is ${identity.length} characters, more than ${MAX_IDENTITY_LENGTH}`,
      51105,
    )
  }
  if (FORBIDDEN_IDENTITY_CHARS.test(identity)) {
    reject(
      20106,
      'identity',
      'grants.identity contains a control character or a lone surrogate',
      51105,
    )
  }
  const hasChat = Object.hasOwn(grants, 'chat')
  const hasLegacy = Object.hasOwn(grants, 'ip_messaging')
  if (hasChat && hasLegacy) {
    reject(20106, 'grant', 'token has both a chat and a legacy ip_messaging grant', 51110)
  }
  if (!hasChat && !hasLegacy) reject(20106, 'grant', 'token has no chat grant')
  const grantKey = hasChat ? 'chat' : 'ip_messaging'
  const chat = grants[grantKey]
  if (!isPlainObject(chat))
    reject(20106, 'grant', `grants.${grantKey} must be an object, got ${show(chat)}`)
  const serviceSid = own(chat, 'service_sid')
  if (serviceSid === undefined)
    reject(20106, 'service_sid', `grants.${grantKey}.service_sid is missing`, 51102)
  if (typeof serviceSid !== 'string' || !SERVICE_SID.test(serviceSid)) {
    if (typeof serviceSid === 'string' && serviceSid.startsWith('MG')) {
      // twilio/conversations-ios#40: a Messaging Service SID is a common mistake.
      reject(
        20106,
        'service_sid',
        `grants.${grantKey}.service_sid is a Messaging Service SID (MG…); it must be a Chat or Conversations Service SID (IS…)`,
        51101,
      )
    }
    reject(
      20106,
      'service_sid',
      `grants.${grantKey}.service_sid ${show(serviceSid)} is not a service SID (IS followed by 32 lower-case hex digits)`,
      51101,
    )
  }
  const endpointId = own(chat, 'endpoint_id')
  if (
    endpointId !== undefined &&
    (typeof endpointId !== 'string' || endpointId.length > MAX_ENDPOINT_ID_LENGTH)
  ) {
    reject(
      20106,
      'endpoint_id',
      `grants.${grantKey}.endpoint_id must be a string of at most ${MAX_ENDPOINT_ID_LENGTH} characters`,
    )
  }

  return Object.freeze({
    identity,
    accountSid: key.accountSid,
    keySid: parsed.keySid,
    serviceSid,
    endpointId: endpointId ?? null,
    issuedAt: iatAt ?? null,
    notBefore: nbfAt ?? null,
    expiresAt: expAt,
    algorithm: parsed.alg,
    region: parsed.region,
    grantKey,
    grants: deepFreeze(grants),
  })
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    for (const k in o) {
      const child = o[k]
      if (typeof child === 'object' && child !== null) deepFreeze(child)
    }
    Object.freeze(v)
  }
  return v
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    (typeof v === 'object' || typeof v === 'function') &&
    v !== null &&
    typeof (v as { then?: unknown }).then === 'function'
  )
}

/**
 * Verifies an Access Token strictly and returns its frozen principal.
 *
 * Accepts every shape the official helpers emit (twilio-node: `iat`, no `nbf`; twilio-python: `nbf`, no `iat`,
 * header members in another order; twilio-java: neither), with HS256, HS384 or HS512. Always returns a Promise;
 * use {@link verifyAccessTokenSync} when the key lookup is synchronous and you want no Promise.
 *
 * @param token - the compact JWT, exactly as received (not trimmed)
 * @param options - `resolveKey` (required), `now`, `leewaySeconds`, `maxTtlSeconds`, `algorithms`
 * @returns the principal: identity, accountSid, keySid, serviceSid, endpointId, issuedAt, notBefore, expiresAt,
 *   algorithm, region, grantKey, grants
 * @throws {ChatError} (as a rejection) 20101 malformed token (size, base64url, UTF-8, JSON, duplicate names,
 *   depth, non-integer nbf/iat); 20102 header (alg, typ, cty, forbidden member); 20103 iss or sub;
 *   20104 exp missing, invalid or past (with 60 s leeway), or nbf after exp; 20105 nbf or iat in the future;
 *   20106 grants (identity, chat grant, service_sid, endpoint_id); 20107 unknown key, bad signature or
 *   signature length; 20157 lifetime over 24 h. `err.details` holds `{ check, twilsockErrorCode }`.
 * @throws {TypeError | RangeError} (as a rejection) for invalid options or a malformed `resolveKey` result
 * @example
 * ```ts
 * const principal = await verifyAccessToken(jwt, {
 *   resolveKey: async (keySid) => store.findActiveKey(keySid), // { secret, accountSid } | undefined
 * })
 * principal.identity // 'alice'
 * ```
 */
export async function verifyAccessToken(
  token: string,
  options: VerifyOptions,
): Promise<AccessTokenPrincipal> {
  const opts = normalize(options)
  const parsed = parseToken(token, opts.algorithms)
  let found: unknown = options.resolveKey(parsed.keySid)
  if (isThenable(found)) found = await found
  return finish(parsed, found, opts)
}

/**
 * The synchronous form of {@link verifyAccessToken}, for a synchronous `resolveKey` (e.g. an in-memory map of
 * keys): same checks, same errors, thrown directly.
 *
 * @throws {ChatError} as {@link verifyAccessToken}
 * @throws {TypeError} when `resolveKey` returns a Promise
 * @example
 * ```ts
 * const keys = new Map([[keySid, { secret, accountSid }]])
 * const principal = verifyAccessTokenSync(jwt, { resolveKey: (sid) => keys.get(sid) })
 * ```
 */
export function verifyAccessTokenSync(
  token: string,
  options: VerifySyncOptions,
): AccessTokenPrincipal {
  const opts = normalize(options)
  const parsed = parseToken(token, opts.algorithms)
  const found: unknown = options.resolveKey(parsed.keySid)
  if (isThenable(found))
    throw new TypeError('resolveKey returned a Promise; use verifyAccessToken instead')
  return finish(parsed, found, opts)
}

/** A token's header and payload, decoded without verifying anything but the structure. */
export interface DecodedAccessToken {
  /** The JOSE header. */
  header: Record<string, unknown>
  /** The claims. */
  payload: Record<string, unknown>
}

/**
 * Decodes a token's header and payload with the same strict structural rules as the verifier (size, base64url,
 * UTF-8, duplicate names, depth) but **without checking the signature or any claim**. For display and debugging
 * only (`parley token decode`); never trust the result.
 *
 * @throws {ChatError} 20101 when the token is malformed
 * @example
 * ```ts
 * decodeAccessToken(jwt).payload.exp
 * ```
 */
export function decodeAccessToken(token: string): DecodedAccessToken {
  if (typeof token !== 'string')
    reject(20101, 'token', `token must be a string, got ${show(token)}`)
  if (token.length > MAX_TOKEN_BYTES) {
    reject(20101, 'size', `token is longer than ${MAX_TOKEN_BYTES} bytes (${token.length})`)
  }
  if (!SHAPE.test(token))
    reject(20101, 'shape', 'token is not three base64url segments separated by dots')
  const dot1 = token.indexOf('.')
  const dot2 = token.indexOf('.', dot1 + 1)
  return {
    header: decodeSegment(token.slice(0, dot1), 'header'),
    payload: decodeSegment(token.slice(dot1 + 1, dot2), 'payload'),
  }
}
