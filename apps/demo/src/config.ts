/**
 * The demo server's configuration: the only module of the demo that reads `process.env`.
 *
 * Parley credentials come from `<PARLEY_DATA_DIR>/credentials.json` (written by `parley serve`), and each field can be
 * overridden by an environment variable, so the demo runs against any Parley service, local or remote.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { env as processEnv } from 'node:process'

/** The Parley credentials the demo needs to mint Access Tokens. */
export interface ParleyCredentials {
  /** `AC…`: the token's `sub`. */
  readonly accountSid: string
  /** `SK…`: the token's `iss`, the key that signs it. */
  readonly apiKeySid: string
  /** The API key secret: the HMAC key. Never logged, never sent to a browser. */
  readonly apiKeySecret: string
  /** `IS…`: the chat grant's `service_sid`. */
  readonly serviceSid: string
}

/** The validated configuration of the demo server. */
export interface DemoConfig extends ParleyCredentials {
  /** Interface to listen on (`DEMO_HOST`, default `127.0.0.1`). */
  readonly host: string
  /** TCP port (`DEMO_PORT`, default 3000; 0 picks a free one). */
  readonly port: number
  /**
   * Base URL of the Parley service: `PARLEY_URL`, else `PARLEY_PUBLIC_URL`, else `http://127.0.0.1:$PARLEY_PORT`, else
   * the `url` in credentials.json, else `http://127.0.0.1:3210`.
   */
  readonly parleyUrl: string
  /** The Twilsock URL given to the browser (`PARLEY_TWILSOCK_URL`, default `ws(s)://<parley host>/v3/wsconnect`). */
  readonly twilsockUrl: string
  /**
   * Lifetime of minted tokens in seconds (`DEMO_TOKEN_TTL`, default 3600, 10…86400; short values are for testing the
   * token lifecycle).
   */
  readonly tokenTtl: number
  /** Lifetime of a sign-in session in seconds (`DEMO_SESSION_TTL`, default 7 days). */
  readonly sessionTtl: number
  /** Directory of `demo.db` and the generated session key (`DEMO_DATA_DIR`, default `<PARLEY_DATA_DIR>/demo`). */
  readonly dataDir: string
  /** Key that signs session cookies (`DEMO_SESSION_SECRET`); unset = a random key kept in the data directory. */
  readonly sessionSecret: string | undefined
  /**
   * The demo's externally visible origin (`DEMO_PUBLIC_ORIGIN`, e.g. `https://chat.example.com`). When set, it is the
   * only origin accepted on state-changing requests, and an `https:` origin makes cookies `Secure`.
   */
  readonly publicOrigin: string | undefined
  /** Trust `X-Forwarded-Proto`/`X-Forwarded-Host` from a reverse proxy (`DEMO_TRUST_PROXY=1`). Default false. */
  readonly trustProxy: boolean
  /** Application name used in `endpoint_id` (`DEMO_APP_NAME`, default `ParleyDemo`). */
  readonly appName: string
}

/** A missing or malformed setting. The message names the setting and says what is expected. */
export class ConfigError extends Error {
  override name = 'ConfigError'
  /** True when credentials are absent (rather than malformed): waiting for `parley serve` may fix it. */
  readonly missing: boolean
  constructor(message: string, options?: { missing?: boolean }) {
    super(message)
    this.missing = options?.missing ?? false
  }
}

/**
 * The directory relative paths are resolved against: where the user ran npm (`INIT_CWD`, set by `npm run` / `npm
 * start -w`, which otherwise switch to the package directory), else the process's working directory. So
 * `npm start -w @parley/demo` from the repository root finds the same `./.parley` as `parley serve` run there.
 */
export function workingDirectory(
  env: Readonly<Record<string, string | undefined>> = processEnv,
): string {
  return nonEmpty(env['INIT_CWD']) ?? process.cwd()
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The environment to read; defaults to `process.env`. Pass `{}` for a hermetic config. */
  env?: Readonly<Record<string, string | undefined>>
  /** Directory that relative paths are resolved against; defaults to {@link workingDirectory}. */
  cwd?: string
  /** Reads a file as UTF-8, or returns `undefined` when it does not exist (tests inject one). */
  readFile?: (path: string) => string | undefined
}

const SID = {
  accountSid: /^AC[0-9a-f]{32}$/,
  apiKeySid: /^SK[0-9a-f]{32}$/,
  serviceSid: /^IS[0-9a-f]{32}$/,
} as const

/** The credentials.json fields, as Parley writes them (snake_case on disk). */
const FILE_FIELDS = {
  accountSid: 'account_sid',
  apiKeySid: 'api_key_sid',
  apiKeySecret: 'api_key_secret',
  serviceSid: 'service_sid',
} as const satisfies Record<keyof ParleyCredentials, string>

const ENV_FIELDS = {
  accountSid: 'PARLEY_ACCOUNT_SID',
  apiKeySid: 'PARLEY_API_KEY_SID',
  apiKeySecret: 'PARLEY_API_KEY_SECRET',
  serviceSid: 'PARLEY_SERVICE_SID',
} as const satisfies Record<keyof ParleyCredentials, string>

function defaultReadFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim()
  return t ? t : undefined
}

function parseInteger(
  name: string,
  raw: string | undefined,
  dflt: number,
  min: number,
  max: number,
): number {
  if (raw === undefined || raw.trim() === '') return dflt
  if (!/^\d+$/.test(raw.trim()))
    throw new ConfigError(`${name}: expected a whole number, got "${raw}"`)
  const n = Number(raw.trim())
  if (n < min || n > max)
    throw new ConfigError(`${name}: expected a number from ${min} to ${max}, got ${n}`)
  return n
}

function parseBoolean(name: string, raw: string | undefined): boolean {
  if (raw === undefined || raw.trim() === '') return false
  const v = raw.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off'].includes(v)) return false
  throw new ConfigError(`${name}: expected 1/0 or true/false, got "${raw}"`)
}

function parseHttpUrl(name: string, raw: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(`${name}: expected an http(s) URL, got "${raw}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name}: expected an http(s) URL, got "${raw}"`)
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(`${name}: must not carry credentials, a query or a fragment`)
  }
  return url
}

/**
 * The Twilsock URL for a Parley base URL: same host, `ws:`/`wss:` for `http:`/`https:`, path `/v3/wsconnect` below any
 * base path (a Parley mounted at `https://example.com/chat/` gets `wss://example.com/chat/v3/wsconnect`).
 *
 * @example
 * twilsockUrlFor('http://127.0.0.1:3210') // 'ws://127.0.0.1:3210/v3/wsconnect'
 */
export function twilsockUrlFor(parleyUrl: string): string {
  const url = new URL(parleyUrl)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v3/wsconnect`
  return url.toString()
}

/** `<PARLEY_DATA_DIR>/credentials.json` parsed (an empty object when the file does not exist). */
function readCredentialsFile(options: LoadConfigOptions): {
  file: string
  data: Record<string, unknown>
} {
  const env = options.env ?? processEnv
  const cwd = options.cwd ?? workingDirectory(env)
  const readFile = options.readFile ?? defaultReadFile
  const parleyDataDir = resolve(cwd, nonEmpty(env['PARLEY_DATA_DIR']) ?? '.parley')
  const file = join(parleyDataDir, 'credentials.json')
  const text = readFile(file)
  if (text === undefined) return { file, data: {} }
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return { file, data: parsed as Record<string, unknown> }
    }
  } catch {
    /* reported below */
  }
  throw new ConfigError(`${file}: not a JSON object`)
}

/**
 * Read the Parley credentials from `credentials.json`, with each field overridable by its environment variable
 * (`PARLEY_ACCOUNT_SID`, `PARLEY_API_KEY_SID`, `PARLEY_API_KEY_SECRET`, `PARLEY_SERVICE_SID`).
 *
 * @throws {ConfigError} when a field is missing from both or malformed; the message says where to look.
 */
export function loadCredentials(options: LoadConfigOptions = {}): ParleyCredentials {
  const env = options.env ?? processEnv
  const { file, data: fromFile } = readCredentialsFile(options)

  const out: Partial<Record<keyof ParleyCredentials, string>> = {}
  const missing: string[] = []
  for (const key of Object.keys(FILE_FIELDS) as (keyof ParleyCredentials)[]) {
    const fileValue = fromFile[FILE_FIELDS[key]]
    const value =
      nonEmpty(env[ENV_FIELDS[key]]) ??
      (typeof fileValue === 'string' ? nonEmpty(fileValue) : undefined)
    if (value === undefined) {
      missing.push(ENV_FIELDS[key])
      continue
    }
    const pattern = key === 'apiKeySecret' ? undefined : SID[key]
    if (pattern && !pattern.test(value)) {
      // The value itself is a SID, not a secret, but keep messages free of configured values anyway.
      throw new ConfigError(
        `${ENV_FIELDS[key]}: expected ${pattern.source.slice(1, 3)} followed by 32 hex digits`,
      )
    }
    out[key] = value
  }
  if (missing.length > 0) {
    throw new ConfigError(
      `Parley credentials are missing (${missing.join(', ')}): start \`parley serve\` so that it writes ${file}, ` +
        'or set these environment variables',
      { missing: true },
    )
  }
  return out as ParleyCredentials
}

/**
 * Build and validate the demo's configuration from `credentials.json` and the environment.
 *
 * Environment variables: `PARLEY_URL`, `PARLEY_TWILSOCK_URL`, `PARLEY_DATA_DIR`, `PARLEY_ACCOUNT_SID`,
 * `PARLEY_API_KEY_SID`, `PARLEY_API_KEY_SECRET`, `PARLEY_SERVICE_SID`, `DEMO_HOST`, `DEMO_PORT`, `DEMO_TOKEN_TTL`,
 * `DEMO_SESSION_TTL`, `DEMO_DATA_DIR`, `DEMO_SESSION_SECRET`, `DEMO_PUBLIC_ORIGIN`, `DEMO_TRUST_PROXY`, `DEMO_APP_NAME`.
 *
 * @throws {ConfigError} when a value is missing or malformed.
 * @example
 * const config = loadConfig({ env: { PARLEY_URL: 'https://parley.example.com', ...creds } })
 */
export function loadConfig(options: LoadConfigOptions = {}): DemoConfig {
  const env = options.env ?? processEnv
  const cwd = options.cwd ?? workingDirectory(env)
  const credentials = loadCredentials(options)

  // The URL: PARLEY_URL, else PARLEY_PUBLIC_URL, else a local server on PARLEY_PORT when that is set (the same
  // variable `parley serve` reads), else the `url` that `parley serve` wrote next to the credentials, else port 3210.
  const fileUrl = readCredentialsFile(options).data['url']
  // PARLEY_PORT=0 (any free port) says nothing about where Parley is: the file's url tells.
  const rawPort = nonEmpty(env['PARLEY_PORT'])
  const port = rawPort === '0' ? undefined : rawPort
  const sources: [string, string | undefined][] = [
    ['PARLEY_URL', nonEmpty(env['PARLEY_URL'])],
    ['PARLEY_PUBLIC_URL', nonEmpty(env['PARLEY_PUBLIC_URL'])],
    [
      'PARLEY_PORT',
      port === undefined
        ? undefined
        : `http://127.0.0.1:${parseInteger('PARLEY_PORT', port, 3210, 1, 65535)}`,
    ],
    ['credentials.json url', typeof fileUrl === 'string' ? nonEmpty(fileUrl) : undefined],
  ]
  const [urlSource, urlValue] = sources.find(([, v]) => v !== undefined) ?? [
    'default',
    'http://127.0.0.1:3210',
  ]
  const parleyUrl = parseHttpUrl(urlSource, urlValue ?? '')

  let twilsockUrl = twilsockUrlFor(parleyUrl.toString())
  const twilsockRaw = nonEmpty(env['PARLEY_TWILSOCK_URL'])
  if (twilsockRaw !== undefined) {
    let url: URL | undefined
    try {
      url = new URL(twilsockRaw)
    } catch {
      url = undefined
    }
    if (!url || (url.protocol !== 'ws:' && url.protocol !== 'wss:')) {
      throw new ConfigError(`PARLEY_TWILSOCK_URL: expected a ws(s) URL, got "${twilsockRaw}"`)
    }
    twilsockUrl = url.toString()
  }

  let publicOrigin: string | undefined
  const originRaw = nonEmpty(env['DEMO_PUBLIC_ORIGIN'])
  if (originRaw !== undefined) publicOrigin = parseHttpUrl('DEMO_PUBLIC_ORIGIN', originRaw).origin

  const appName = nonEmpty(env['DEMO_APP_NAME']) ?? 'ParleyDemo'
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(appName)) {
    throw new ConfigError('DEMO_APP_NAME: expected 1 to 64 letters, digits, "_", "." or "-"')
  }
  const sessionSecret = nonEmpty(env['DEMO_SESSION_SECRET'])
  if (sessionSecret !== undefined && sessionSecret.length < 32) {
    throw new ConfigError('DEMO_SESSION_SECRET: expected at least 32 characters')
  }
  const parleyDataDir = resolve(cwd, nonEmpty(env['PARLEY_DATA_DIR']) ?? '.parley')

  return Object.freeze({
    ...credentials,
    host: nonEmpty(env['DEMO_HOST']) ?? '127.0.0.1',
    port: parseInteger('DEMO_PORT', env['DEMO_PORT'], 3000, 0, 65535),
    parleyUrl: parleyUrl.toString(),
    twilsockUrl,
    tokenTtl: parseInteger('DEMO_TOKEN_TTL', env['DEMO_TOKEN_TTL'], 3600, 10, 86400),
    sessionTtl: parseInteger(
      'DEMO_SESSION_TTL',
      env['DEMO_SESSION_TTL'],
      7 * 24 * 3600,
      60,
      365 * 24 * 3600,
    ),
    dataDir: resolve(cwd, nonEmpty(env['DEMO_DATA_DIR']) ?? join(parleyDataDir, 'demo')),
    sessionSecret,
    publicOrigin,
    trustProxy: parseBoolean('DEMO_TRUST_PROXY', env['DEMO_TRUST_PROXY']),
    appName,
  })
}
