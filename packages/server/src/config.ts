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
 * `PARLEY_AUTH_FAILURE_LIMIT`, `PARLEY_AUTH_FAILURE_WINDOW_MS`).
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
    throw new ConfigError(`host: "${host}" is not a host name or IP address`)
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
      throw new ConfigError(`publicUrl: "${String(rawPublic)}" is not an absolute URL`)
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

  const limits = {} as Record<keyof Limits, number>
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    const [min, max] = LIMIT_RANGE[key]
    const raw = pick(options.limits?.[key], LIMIT_ENV[key])
    limits[key] = raw === undefined ? DEFAULT_LIMITS[key] : toInt(`limits.${key}`, raw, min, max)
  }

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
  })
}

function isMasterKey(v: string): boolean {
  const t = v.trim()
  if (/^[0-9a-fA-F]{64}$/.test(t)) return true
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) return false
  return Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64').length === 32
}

function toInt(name: string, raw: string | number, min: number, max: number): number {
  const n = typeof raw === 'number' ? raw : /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name}: "${String(raw)}" is not an integer between ${min} and ${max}`)
  }
  return n
}
