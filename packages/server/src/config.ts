/**
 * Parley's runtime configuration: the only module that reads `process.env`.
 *
 * {@link loadConfig} merges, in increasing priority, the defaults, the `PARLEY_*` environment variables and explicit
 * options (for example CLI flags), validates every value once and returns a frozen {@link Config}. Every limit is an
 * option with a default taken from reliability.md §2.2.
 *
 * @module
 */
import { env as processEnv } from 'node:process'

/** Log levels, from the most to the least verbose. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Transport and paging limits. All sizes in bytes, all durations in milliseconds. */
export interface Limits {
  /** Largest accepted request body; a larger one gets 413 before it is buffered. Default 1 MiB. */
  readonly bodyBytes: number
  /** Time allowed to receive the request headers (slowloris guard). Default 10 s. */
  readonly headersTimeoutMs: number
  /** Time allowed to receive a whole request. Default 30 s. */
  readonly requestTimeoutMs: number
  /** How long an idle keep-alive connection stays open. Default 5 s. */
  readonly keepAliveTimeoutMs: number
  /** Largest request header block; a larger one gets 431 from Node. Default 16 KiB (Node's default). */
  readonly maxHeaderBytes: number
  /** Maximum number of requests served on one keep-alive connection (0 = unlimited). Default 0. */
  readonly maxRequestsPerSocket: number
  /** Time allowed for in-flight requests to finish on shutdown before connections are cut. Default 10 s. */
  readonly shutdownTimeoutMs: number
  /** `PageSize` used when a list request sends none. Default 50 (chat-rest-v2.md §7). */
  readonly defaultPageSize: number
  /**
   * Failed Basic-auth attempts allowed per client address within {@link Limits.authFailureWindowMs}; further
   * requests from that address get 429 (20429) until the window ends (reliability.md §2.10). 0 disables. Default 100.
   */
  readonly authFailureLimit: number
  /** Window of {@link Limits.authFailureLimit}. Default 60 s. */
  readonly authFailureWindowMs: number
}

/** The validated configuration of one Parley server. */
export interface Config {
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host: string
  /** TCP port; 0 picks a free one. Default 3210. */
  readonly port: number
  /** Directory of the embedded database and `credentials.json`. Default `./.parley`. */
  readonly dataDir: string
  /** Minimum level of the JSON log lines. Default `info`. */
  readonly logLevel: LogLevel
  /**
   * The externally visible base URL (e.g. `https://chat.example.com`) used in `url`, `links` and paging URLs.
   * When unset, each response uses `http://` + the request's `Host` header.
   */
  readonly publicUrl: string | undefined
  /**
   * Master key that encrypts secrets at rest (`PARLEY_MASTER_KEY`: 32 bytes as 64 hex characters or base64);
   * unset = `<dataDir>/master.key`, created on first start with mode 0600.
   */
  readonly masterKey: string | undefined
  /** Transport and paging limits. */
  readonly limits: Limits
  /** Settings of the realtime (Twilsock) gateway. */
  readonly realtime: RealtimeConfig
  /**
   * Fault injection for reliability tests (reliability.md §3, R07), from `PARLEY_FAULT`; `undefined` (unset) in
   * production. `crash_after_commit[:N]`: the process kills itself (SIGKILL) right after the N-th message (default
   * the first) is committed and made durable, before its events are published, i.e. before any subscriber or its
   * sender hears of it.
   */
  readonly fault: Fault | undefined
}

/** {@link Config.fault}. */
export interface Fault {
  readonly kind: 'crash_after_commit'
  /** The message (1 = the first one committed after start) after whose commit the process dies. */
  readonly afterMessages: number
}

/**
 * Settings of the realtime gateway (`/v3/wsconnect`). Sizes in bytes, durations in milliseconds unless the name says
 * otherwise.
 */
export interface RealtimeLimits {
  /**
   * Lead before a token's `exp` at which the client is told `token_about_to_expire` (it then fetches a new token).
   * Default 180 s, Twilio's 3 minutes.
   */
  readonly tokenWarningLeadSeconds: number
  /**
   * Rejected Twilsock `init`s allowed per client address within {@link Limits.authFailureWindowMs}; an address over
   * it gets HTTP 429 on upgrade until its budget refills. 0 (the default) disables it: behind a reverse proxy every
   * browser shares the proxy's address, and one user with an expired token must not lock everyone out.
   */
  readonly authFailureLimit: number
  /**
   * Largest incoming Twilsock frame; a larger one closes the socket with 1009. Default 256 KiB: a valid message may need
   * up to ≈ 200 KiB (a 32 KiB body of control characters, each escaped to six bytes in the request's JSON).
   */
  readonly maxFrameBytes: number
  /**
   * A client's queue before its socket is closed as a slow consumer (4008): bytes not yet sent, and bytes of
   * notifications sent but not yet acknowledged (wherever they wait: kernel buffers, proxies). Default 1 MiB.
   */
  readonly outboundQueueBytes: number
  /** WebSocket ping interval; two missed pongs terminate the socket. Default 25 s. */
  readonly heartbeatIntervalMs: number
  /** Time from WebSocket open to a successful `init` before the socket is closed (1008). Default 10 s. */
  readonly authDeadlineMs: number
  /** Initialised sessions per identity and service; more get an `init` reply 429. Default 100. */
  readonly maxSessionsPerIdentity: number
  /** Sockets of one client address that have not completed `init`; more are refused with HTTP 429. Default 1,000. */
  readonly maxUnauthenticatedPerAddress: number
}

/** The realtime gateway's configuration: {@link RealtimeLimits} plus origins and the continuation secret. */
export interface RealtimeConfig extends RealtimeLimits {
  /**
   * Browser origins allowed to open a WebSocket (`PARLEY_ALLOWED_ORIGINS`, comma-separated, e.g.
   * `https://chat.example.com`; `*` allows every origin). Unset (the default): a request without `Origin`
   * (non-browser clients), a same-origin page and pages served from a loopback host (`localhost`, `127.0.0.1`,
   * `[::1]`, any port) are allowed, every other browser origin gets 403. Requests without `Origin` are always allowed.
   */
  readonly allowedOrigins: readonly string[] | undefined
  /**
   * Secret that binds continuation tokens, so server-derived endpoint ids survive reconnects
   * (`PARLEY_CONTINUATION_SECRET`: at least 32 bytes written as hex or base64). Unset = `<dataDir>/continuation.key`,
   * created on first start with mode 0600.
   */
  readonly continuationSecret: string | undefined
  /**
   * Run WebSocket framing and socket I/O in a child process (`PARLEY_SOCKET_PROCESS`: `1`/`true` or `0`/`false`;
   * default off). The main process then spends nothing on per-socket reads, writes and frames, which raises the
   * fan-out rate one machine sustains (docs/internals/fanout-performance.md); the price is one more process.
   */
  readonly socketProcess: boolean
}

/** Options accepted by {@link loadConfig}; every field is optional and overrides the environment. */
export interface ConfigOptions {
  host?: string
  port?: number | string
  dataDir?: string
  logLevel?: string
  publicUrl?: string
  masterKey?: string
  limits?: Partial<Record<keyof Limits, number | string>>
  /** Comma-separated list or array of allowed WebSocket origins; see {@link RealtimeConfig.allowedOrigins}. */
  allowedOrigins?: string | readonly string[]
  continuationSecret?: string
  /** See {@link RealtimeConfig.socketProcess}. */
  socketProcess?: boolean | string
  realtime?: Partial<Record<keyof RealtimeLimits, number | string>>
}

/** A configuration value that fails validation. `message` names the setting and says what is expected. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Default limits (reliability.md §2.2). */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  bodyBytes: 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 16 * 1024,
  maxRequestsPerSocket: 0,
  shutdownTimeoutMs: 10_000,
  defaultPageSize: 50,
  authFailureLimit: 100,
  authFailureWindowMs: 60_000,
})

/** Environment variable of each limit. */
const LIMIT_ENV: Record<keyof Limits, string> = {
  bodyBytes: 'PARLEY_BODY_LIMIT_BYTES',
  headersTimeoutMs: 'PARLEY_HEADERS_TIMEOUT_MS',
  requestTimeoutMs: 'PARLEY_REQUEST_TIMEOUT_MS',
  keepAliveTimeoutMs: 'PARLEY_KEEP_ALIVE_TIMEOUT_MS',
  maxHeaderBytes: 'PARLEY_MAX_HEADER_BYTES',
  maxRequestsPerSocket: 'PARLEY_MAX_REQUESTS_PER_SOCKET',
  shutdownTimeoutMs: 'PARLEY_SHUTDOWN_TIMEOUT_MS',
  defaultPageSize: 'PARLEY_DEFAULT_PAGE_SIZE',
  authFailureLimit: 'PARLEY_AUTH_FAILURE_LIMIT',
  authFailureWindowMs: 'PARLEY_AUTH_FAILURE_WINDOW_MS',
}

/** Default {@link RealtimeLimits} (the Twilsock gateway's own defaults, reliability.md §2.2–2.4). */
export const DEFAULT_REALTIME_LIMITS: RealtimeLimits = Object.freeze({
  tokenWarningLeadSeconds: 180,
  authFailureLimit: 0,
  maxFrameBytes: 256 * 1024,
  outboundQueueBytes: 1024 * 1024,
  heartbeatIntervalMs: 25_000,
  authDeadlineMs: 10_000,
  maxSessionsPerIdentity: 100,
  maxUnauthenticatedPerAddress: 1_000,
})

/** Environment variable of each realtime limit. */
const REALTIME_ENV: Record<keyof RealtimeLimits, string> = {
  tokenWarningLeadSeconds: 'PARLEY_TOKEN_WARNING_LEAD_SECONDS',
  authFailureLimit: 'PARLEY_TWILSOCK_AUTH_FAILURE_LIMIT',
  maxFrameBytes: 'PARLEY_TWILSOCK_MAX_FRAME_BYTES',
  outboundQueueBytes: 'PARLEY_TWILSOCK_OUTBOUND_QUEUE_BYTES',
  heartbeatIntervalMs: 'PARLEY_HEARTBEAT_INTERVAL_MS',
  authDeadlineMs: 'PARLEY_AUTH_DEADLINE_MS',
  maxSessionsPerIdentity: 'PARLEY_MAX_SESSIONS_PER_IDENTITY',
  maxUnauthenticatedPerAddress: 'PARLEY_TWILSOCK_MAX_UNAUTHENTICATED_PER_ADDRESS',
}

const REALTIME_RANGE: Record<keyof RealtimeLimits, readonly [number, number]> = {
  tokenWarningLeadSeconds: [1, 86_400],
  authFailureLimit: [0, 1_000_000_000],
  maxFrameBytes: [1024, 16 * 1024 * 1024],
  outboundQueueBytes: [16 * 1024, 1024 * 1024 * 1024],
  heartbeatIntervalMs: [1000, 600_000],
  authDeadlineMs: [100, 600_000],
  maxSessionsPerIdentity: [1, 1_000_000],
  maxUnauthenticatedPerAddress: [1, 1_000_000],
}

/** Inclusive bounds of each limit: wide enough for any sane deployment, narrow enough to catch typos. */
const LIMIT_RANGE: Record<keyof Limits, readonly [number, number]> = {
  bodyBytes: [1024, 64 * 1024 * 1024],
  headersTimeoutMs: [100, 600_000],
  requestTimeoutMs: [100, 3_600_000],
  keepAliveTimeoutMs: [0, 600_000],
  maxHeaderBytes: [1024, 1024 * 1024],
  maxRequestsPerSocket: [0, 1_000_000_000],
  shutdownTimeoutMs: [0, 600_000],
  defaultPageSize: [1, 1000],
  authFailureLimit: [0, 1_000_000_000],
  authFailureWindowMs: [1000, 86_400_000],
}

/**
 * Build the configuration from defaults, the environment and `options`, and validate it.
 *
 * Environment variables: `PARLEY_HOST`, `PARLEY_PORT`, `PARLEY_DATA_DIR`, `PARLEY_LOG_LEVEL`, `PARLEY_PUBLIC_URL`,
 * `PARLEY_MASTER_KEY`, and one per limit (`PARLEY_BODY_LIMIT_BYTES`, `PARLEY_HEADERS_TIMEOUT_MS`,
 * `PARLEY_REQUEST_TIMEOUT_MS`, `PARLEY_KEEP_ALIVE_TIMEOUT_MS`, `PARLEY_MAX_HEADER_BYTES`,
 * `PARLEY_MAX_REQUESTS_PER_SOCKET`, `PARLEY_SHUTDOWN_TIMEOUT_MS`, `PARLEY_DEFAULT_PAGE_SIZE`,
 * `PARLEY_AUTH_FAILURE_LIMIT`, `PARLEY_AUTH_FAILURE_WINDOW_MS`), and for the realtime gateway
 * `PARLEY_ALLOWED_ORIGINS`, `PARLEY_CONTINUATION_SECRET`, `PARLEY_TOKEN_WARNING_LEAD_SECONDS`,
 * `PARLEY_TWILSOCK_AUTH_FAILURE_LIMIT`, `PARLEY_TWILSOCK_MAX_FRAME_BYTES`, `PARLEY_TWILSOCK_OUTBOUND_QUEUE_BYTES`,
 * `PARLEY_HEARTBEAT_INTERVAL_MS`, `PARLEY_AUTH_DEADLINE_MS`, `PARLEY_MAX_SESSIONS_PER_IDENTITY`.
 *
 * @param options - explicit values (CLI flags, tests); they win over the environment.
 * @param env - the environment to read; defaults to `process.env`. Pass `{}` for a hermetic config.
 * @throws {ConfigError} when a value is malformed or out of range; the message names the setting.
 *
 * @example
 * ```ts
 * const config = loadConfig({ port: 0, dataDir: tmp }, {})
 * ```
 */
export function loadConfig(
  options: ConfigOptions = {},
  env: Readonly<Record<string, string | undefined>> = processEnv,
): Config {
  const pick = (opt: string | number | undefined, name: string): string | number | undefined => {
    if (opt !== undefined) return opt
    const v = env[name]
    return v === undefined || v === '' ? undefined : v
  }

  const host = String(pick(options.host, 'PARLEY_HOST') ?? '127.0.0.1')
  if (!/^[A-Za-z0-9.\-:[\]]+$/.test(host)) {
    throw new ConfigError(`host: "${shown(host)}" is not a host name or IP address`)
  }
  const port = toInt('port', pick(options.port, 'PARLEY_PORT') ?? 3210, 0, 65535)
  const dataDir = String(pick(options.dataDir, 'PARLEY_DATA_DIR') ?? './.parley')
  if (dataDir.includes('\0')) throw new ConfigError('dataDir: must not contain NUL')

  const level = String(pick(options.logLevel, 'PARLEY_LOG_LEVEL') ?? 'info').toLowerCase()
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError(`logLevel: "${level}" is not one of ${LOG_LEVELS.join(', ')}`)
  }

  const rawPublic = pick(options.publicUrl, 'PARLEY_PUBLIC_URL')
  let publicUrl: string | undefined
  if (rawPublic !== undefined) {
    let u: URL
    try {
      u = new URL(String(rawPublic))
    } catch {
      throw new ConfigError(`publicUrl: "${shown(String(rawPublic))}" is not an absolute URL`)
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new ConfigError('publicUrl: must be an http:// or https:// URL')
    }
    if (u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') {
      throw new ConfigError('publicUrl: must not carry credentials, a query or a fragment')
    }
    publicUrl = u.origin + u.pathname.replace(/\/+$/, '')
  }

  const rawKey = pick(options.masterKey, 'PARLEY_MASTER_KEY')
  const masterKey = rawKey === undefined ? undefined : String(rawKey)
  if (masterKey !== undefined && !isMasterKey(masterKey)) {
    // The key itself is never echoed.
    throw new ConfigError(
      'masterKey (PARLEY_MASTER_KEY): must be 32 bytes written as 64 hex characters or as base64 ' +
        '(e.g. the output of `openssl rand -hex 32`)',
    )
  }

  // One table walk for both groups: an explicit option wins, then the variable, then the default.
  const readInts = <K extends string>(
    group: string,
    defaults: Readonly<Record<K, number>>,
    names: Readonly<Record<K, string>>,
    ranges: Readonly<Record<K, readonly [number, number]>>,
    given: Partial<Record<K, number | string>> | undefined,
  ): Record<K, number> => {
    const out = {} as Record<K, number>
    for (const key of Object.keys(defaults) as K[]) {
      const [min, max] = ranges[key]
      const raw = pick(given?.[key], names[key])
      out[key] =
        raw === undefined ? defaults[key] : toInt(`${group}.${key} (${names[key]})`, raw, min, max)
    }
    return out
  }
  const limits = readInts('limits', DEFAULT_LIMITS, LIMIT_ENV, LIMIT_RANGE, options.limits)
  const realtimeLimits = readInts(
    'realtime',
    DEFAULT_REALTIME_LIMITS,
    REALTIME_ENV,
    REALTIME_RANGE,
    options.realtime,
  )

  const rawOrigins = options.allowedOrigins ?? pickString(env['PARLEY_ALLOWED_ORIGINS'])
  const allowedOrigins = rawOrigins === undefined ? undefined : parseOrigins(rawOrigins)

  const rawSecret = options.continuationSecret ?? pickString(env['PARLEY_CONTINUATION_SECRET'])
  if (rawSecret !== undefined && decodeSecret(rawSecret, 32) === undefined) {
    // The secret itself is never echoed.
    throw new ConfigError(
      'continuationSecret (PARLEY_CONTINUATION_SECRET): must be at least 32 bytes written as hex or base64 ' +
        '(e.g. the output of `openssl rand -hex 32`)',
    )
  }

  const socketProcess = toBool(
    'socketProcess (PARLEY_SOCKET_PROCESS)',
    options.socketProcess ?? pickString(env['PARLEY_SOCKET_PROCESS']),
    false,
  )

  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new ConfigError(
      'limits.headersTimeoutMs: must not be larger than limits.requestTimeoutMs',
    )
  }

  return Object.freeze({
    host,
    port,
    dataDir,
    logLevel: level as LogLevel,
    publicUrl,
    masterKey,
    limits: Object.freeze(limits as Limits),
    realtime: Object.freeze({
      ...(realtimeLimits as RealtimeLimits),
      allowedOrigins,
      continuationSecret: rawSecret?.trim(),
      socketProcess,
    }),
    fault: parseFault(env['PARLEY_FAULT']),
  })
}

/** `PARLEY_FAULT`: `crash_after_commit` or `crash_after_commit:N` (N ≥ 1). */
function parseFault(raw: string | undefined): Fault | undefined {
  if (raw === undefined || raw.trim() === '') return undefined
  const m = /^crash_after_commit(?::(\d{1,9}))?$/.exec(raw.trim())
  const n = m === null ? NaN : Number(m[1] ?? 1)
  if (!(n >= 1)) {
    throw new ConfigError(
      `fault (PARLEY_FAULT): expected crash_after_commit or crash_after_commit:N with N ≥ 1, got ${shown(raw)}`,
    )
  }
  return Object.freeze({ kind: 'crash_after_commit', afterMessages: n })
}

/** A yes/no setting: `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off` (any case); `def` when unset. */
function toBool(name: string, raw: boolean | string | undefined, def: boolean): boolean {
  if (raw === undefined) return def
  if (typeof raw === 'boolean') return raw
  const v = raw.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off'].includes(v)) return false
  throw new ConfigError(`${name}: expected true or false (1/0), got ${shown(raw)}`)
}

/**
 * A configuration value as it may appear in an error message: bounded, and without the userinfo of a URL, which may
 * be a password (`https://user:secret@host`).
 */
function shown(v: string): string {
  const clean = v.replace(/[^/@]*@/, '***@')
  return clean.length > 100 ? clean.slice(0, 100) + '…' : clean
}

function pickString(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v
}

/**
 * Parse `PARLEY_ALLOWED_ORIGINS`: `*`, or origins like `https://chat.example.com` (scheme, host and non-default port;
 * no path, query or credentials). Returns them in their serialised form (lower-case host, default port dropped), the
 * form browsers send in `Origin`.
 */
function parseOrigins(raw: string | readonly string[]): readonly string[] {
  const items = (typeof raw === 'string' ? raw.split(',') : raw)
    .map((s) => s.trim())
    .filter((s) => s !== '')
  if (items.length === 0) {
    throw new ConfigError(
      'allowedOrigins (PARLEY_ALLOWED_ORIGINS): give at least one origin such as https://chat.example.com, or *',
    )
  }
  const out: string[] = []
  for (const item of items) {
    if (item === '*') {
      out.push('*')
      continue
    }
    let u: URL | undefined
    try {
      u = new URL(item)
    } catch {
      u = undefined
    }
    if (
      u === undefined ||
      (u.protocol !== 'http:' && u.protocol !== 'https:') ||
      u.username !== '' ||
      u.password !== '' ||
      u.search !== '' ||
      u.hash !== '' ||
      // `new URL` turns a bare origin's empty path into `/`; anything longer is a path.
      u.pathname !== '/'
    ) {
      throw new ConfigError(
        `allowedOrigins (PARLEY_ALLOWED_ORIGINS): "${shown(item)}" is not an origin ` +
          '(expected scheme://host[:port], e.g. https://chat.example.com, or *)',
      )
    }
    out.push(u.origin)
  }
  return Object.freeze(out)
}

/** Decode a secret given as hex or base64/base64url; undefined when malformed or shorter than `minBytes`. */
function decodeSecret(v: string, minBytes: number): Buffer | undefined {
  const t = v.trim()
  let b: Buffer
  if (/^(?:[0-9a-fA-F]{2})+$/.test(t)) b = Buffer.from(t, 'hex')
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t))
    b = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64')
  else return undefined
  return b.length >= minBytes ? b : undefined
}

/**
 * The bytes of a continuation secret accepted by {@link loadConfig} (hex or base64, at least 32 bytes).
 *
 * @throws {ConfigError} when the value is malformed or too short.
 */
export function parseContinuationSecret(value: string): Buffer {
  const b = decodeSecret(value, 32)
  if (b === undefined) {
    throw new ConfigError('continuation secret: must be at least 32 bytes written as hex or base64')
  }
  return b
}

function isMasterKey(v: string): boolean {
  return decodeSecret(v, 32)?.length === 32
}

function toInt(name: string, raw: string | number, min: number, max: number): number {
  const n = typeof raw === 'number' ? raw : /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name}: "${String(raw)}" is not an integer between ${min} and ${max}`)
  }
  return n
}
