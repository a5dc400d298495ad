/**
 * `parley token mint | decode | verify`: mint, inspect and check Access Tokens from the shell.
 *
 * Credentials come from, in order: flags, `PARLEY_*` variables, `TWILIO_*` variables, then
 * `<data>/credentials.json` (written by `parley serve`; data directory from `--data`, `PARLEY_DATA`,
 * `PARLEY_DATA_DIR`, default `./.parley`). Exit codes: 0 success, 1 the token is rejected (a JSON
 * `{"code","message"}` on stdout), 2 a wrong or missing argument (one line on stderr).
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import process from 'node:process'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import {
  AccessToken,
  decodeAccessToken,
  formatNumericDate,
  isChatError,
  MAX_ENDPOINT_ID_LENGTH,
  MAX_TTL_SECONDS,
  MIN_SECRET_BYTES,
  verifyAccessTokenSync,
  type AccessTokenPrincipal,
  type Algorithm,
} from '@parley/token'

/** Where the command reads its environment and writes its output (injectable for tests). */
export interface TokenCliIO {
  env: Readonly<Record<string, string | undefined>>
  stdout: { write(s: string): unknown }
  stderr: { write(s: string): unknown }
  /** Reads all of stdin (used when the token argument is `-`). */
  readStdin: () => string
}

const defaultIO: TokenCliIO = {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  readStdin: () => readFileSync(0, 'utf8'),
}

const HELP = `Usage: parley token <mint|decode|verify> [options]

  parley token mint --identity <id> [--ttl <s>] [--endpoint-id <id>] [--nbf <unix>] [--region <r>] [--alg <alg>]
                    [--account-sid AC…] [--key-sid SK…] [--secret <s>] [--service-sid IS…] [--data <dir>]
      Print a signed Access Token with a chat grant.
  parley token decode [--now <unix>] <jwt>
      Show the header and payload (NOT verified), with ISO times and the remaining lifetime.
  parley token verify [--secret <s>] [--account-sid AC…] [--key-sid SK…] [--now <unix>] [--data <dir>] <jwt>
      Verify strictly; print the principal as JSON (exit 0) or {"code","message"} (exit 1).

Credentials not given as flags come from PARLEY_ACCOUNT_SID, PARLEY_API_KEY_SID, PARLEY_API_KEY_SECRET,
PARLEY_SERVICE_SID, then TWILIO_ACCOUNT_SID, TWILIO_API_KEY, TWILIO_API_SECRET, TWILIO_CHAT_SERVICE_SID, then
<data>/credentials.json (written by "parley serve"; <data> from --data, PARLEY_DATA or PARLEY_DATA_DIR,
default ./.parley). A <jwt> of "-" is read from stdin.
`

const MINT_HELP = `Usage: parley token mint --identity <id> [options]

Options:
  --identity <id>       the user's identity (required)
  --ttl <seconds>       lifetime, 1..86400 (default 3600)
  --endpoint-id <id>    chat grant endpoint_id, e.g. app:identity:device
  --nbf <unix>          not-before time, seconds since the epoch
  --region <region>     region written to the header as twr (e.g. ie1)
  --alg <alg>           HS256 (default), HS384 or HS512
  --account-sid AC…     env PARLEY_ACCOUNT_SID / TWILIO_ACCOUNT_SID, or credentials.json
  --key-sid SK…         (alias --api-key) env PARLEY_API_KEY_SID / TWILIO_API_KEY, or credentials.json
  --secret <secret>     (alias --api-secret) env PARLEY_API_KEY_SECRET / TWILIO_API_SECRET, or credentials.json
  --service-sid IS…     env PARLEY_SERVICE_SID / TWILIO_CHAT_SERVICE_SID, or credentials.json
  --data <dir>          data directory holding credentials.json (env PARLEY_DATA, default ./.parley)
  -h, --help            show this help
`

const DECODE_HELP = `Usage: parley token decode [--now <unix>] <jwt>

Prints the header and payload as JSON with ISO times and the remaining lifetime. Nothing is verified:
never trust the output. Exit 1 with {"code","message"} when the token is malformed.
`

const VERIFY_HELP = `Usage: parley token verify [options] <jwt>

Verifies the token with the API key secret and prints the principal as one JSON object (exit 0), or
{"code","message"} with Twilio's error code (exit 1).

Options:
  --secret <secret>     (alias --api-secret) the API key secret; env or credentials.json when absent
  --account-sid AC…     the account that owns the key (required: flag, env or credentials.json). The token's
                        own sub is never trusted as the account.
  --key-sid SK…         (alias --api-key) the key the secret belongs to; when known from no source, the
                        token's iss is accepted (only a holder of the secret can sign)
  --now <unix>          verify as of this time (seconds since the epoch), default the clock
  --data <dir>          data directory holding credentials.json (env PARLEY_DATA, default ./.parley)
  -h, --help            show this help
`

/** A wrong or missing argument: printed as one line on stderr, exit code 2. */
class UsageError extends Error {}

const ACCOUNT_SID = /^AC[0-9a-f]{32}$/
const KEY_SID = /^SK[0-9a-f]{32}$/
const SERVICE_SID = /^IS[0-9a-f]{32}$/
const ALGORITHMS: readonly Algorithm[] = ['HS256', 'HS384', 'HS512']

const CREDENTIAL_OPTIONS = {
  'account-sid': { type: 'string' },
  'key-sid': { type: 'string' },
  'api-key': { type: 'string' },
  secret: { type: 'string' },
  'api-secret': { type: 'string' },
  'service-sid': { type: 'string' },
  data: { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options']

type Field = 'accountSid' | 'keySid' | 'secret' | 'serviceSid'

const ENV_NAMES: Record<Field, readonly [string, string]> = {
  accountSid: ['PARLEY_ACCOUNT_SID', 'TWILIO_ACCOUNT_SID'],
  keySid: ['PARLEY_API_KEY_SID', 'TWILIO_API_KEY'],
  secret: ['PARLEY_API_KEY_SECRET', 'TWILIO_API_SECRET'],
  serviceSid: ['PARLEY_SERVICE_SID', 'TWILIO_CHAT_SERVICE_SID'],
}
const FILE_FIELDS: Record<Field, string> = {
  accountSid: 'account_sid',
  keySid: 'api_key_sid',
  secret: 'api_key_secret',
  serviceSid: 'service_sid',
}
const FLAG_NAMES: Record<Field, string> = {
  accountSid: '--account-sid',
  keySid: '--key-sid',
  secret: '--secret',
  serviceSid: '--service-sid',
}

interface Resolved {
  value: string
  source: 'flag' | 'env' | 'file'
}

/** Resolves credentials field by field: flag, PARLEY_*, TWILIO_*, then `<data>/credentials.json` (read lazily). */
class Credentials {
  readonly #flags: Partial<Record<Field, string>>
  readonly #env: TokenCliIO['env']
  readonly #file: string
  #fileData: Record<string, unknown> | null | undefined

  constructor(values: Record<string, unknown>, env: TokenCliIO['env']) {
    const str = (...names: string[]) => {
      for (const n of names) if (typeof values[n] === 'string') return values[n] as string
      return undefined
    }
    const flags: Partial<Record<Field, string>> = {}
    const set = (f: Field, v: string | undefined) => {
      if (v !== undefined) flags[f] = v
    }
    set('accountSid', str('account-sid'))
    set('keySid', str('key-sid', 'api-key'))
    set('secret', str('secret', 'api-secret'))
    set('serviceSid', str('service-sid'))
    this.#flags = flags
    this.#env = env
    const dir =
      str('data', 'data-dir') ??
      nonEmpty(env['PARLEY_DATA']) ??
      nonEmpty(env['PARLEY_DATA_DIR']) ??
      '.parley'
    this.#file = join(dir, 'credentials.json')
  }

  get(field: Field): Resolved | undefined {
    const flag = this.#flags[field]
    if (flag !== undefined) {
      if (flag === '') throw new UsageError(`${FLAG_NAMES[field]} is empty`)
      return { value: flag, source: 'flag' }
    }
    for (const name of ENV_NAMES[field]) {
      const v = nonEmpty(this.#env[name])
      if (v !== undefined) return { value: v, source: 'env' }
    }
    const v = this.#readFile()?.[FILE_FIELDS[field]]
    return typeof v === 'string' && v !== '' ? { value: v, source: 'file' } : undefined
  }

  require(field: Field, what: string): Resolved {
    const r = this.get(field)
    if (r === undefined) {
      const [a, b] = ENV_NAMES[field]
      throw new UsageError(
        `missing ${FLAG_NAMES[field]} (${what}; or set ${a} or ${b}, or run "parley serve" to create ${this.#file})`,
      )
    }
    return r
  }

  /** The key SID recorded in credentials.json, to check that a secret taken from it is used with its own key. */
  fileKeySid(): unknown {
    return this.#readFile()?.['api_key_sid']
  }

  #readFile(): Record<string, unknown> | null {
    if (this.#fileData !== undefined) return this.#fileData
    let text: string
    try {
      text = readFileSync(this.#file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return (this.#fileData = null)
      throw new UsageError(`cannot read ${this.#file}: ${(err as Error).message}`)
    }
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch {
      throw new UsageError(`${this.#file} is not valid JSON`)
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new UsageError(`${this.#file} is not a JSON object`)
    }
    return (this.#fileData = data as Record<string, unknown>)
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v
}

function parse<O extends NonNullable<ParseArgsConfig['options']>>(
  args: readonly string[],
  options: O,
  allowPositionals: boolean,
) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals })
  } catch (err) {
    const e = err as { code?: string; message?: string }
    const first = String(e.message ?? err).split('\n')[0]!
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const m = /'([^']*)'/.exec(first)
      throw new UsageError(`unknown option ${m?.[1] ?? ''}`.trim())
    }
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new UsageError('unexpected argument (this command takes options only)')
    }
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const m = /'(--?[a-z-]+)/.exec(first)
      if (/ambiguous/.test(first)) {
        const opt = m?.[1] ?? '--option'
        throw new UsageError(`the value of ${opt} starts with "-"; write ${opt}=<value>`)
      }
      throw new UsageError(`${m?.[1] ?? 'an option'} needs a value`)
    }
    throw new UsageError(first)
  }
}

function integerArg(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined
  if (!/^-?\d+$/.test(value))
    throw new UsageError(`${name} must be an integer, got ${JSON.stringify(value.slice(0, 20))}`)
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`${name} must be from ${min} to ${max}`)
  return n
}

function checkSid(name: string, value: string, pattern: RegExp, prefix: string): string {
  if (!pattern.test(value)) {
    throw new UsageError(`${name} must be ${prefix} followed by 32 lower-case hex digits`)
  }
  return value
}

function checkSecret(secret: Resolved): string {
  if (Buffer.byteLength(secret.value, 'utf8') < MIN_SECRET_BYTES) {
    throw new UsageError(`--secret must be at least ${MIN_SECRET_BYTES} bytes`)
  }
  return secret.value
}

/** Reads the single `<jwt>` positional (or stdin for `-`). */
function tokenArg(positionals: string[], io: TokenCliIO): string {
  if (positionals.length === 0) throw new UsageError('missing <jwt> argument')
  if (positionals.length > 1) throw new UsageError('expected exactly one <jwt> argument')
  const arg = positionals[0]!
  // A token read from stdin may end with a newline; only that one is removed, never other whitespace.
  return arg === '-' ? io.readStdin().replace(/\r?\n$/, '') : arg
}

function mint(args: readonly string[], io: TokenCliIO): number {
  const { values } = parse(
    args,
    {
      ...CREDENTIAL_OPTIONS,
      identity: { type: 'string' },
      ttl: { type: 'string' },
      'endpoint-id': { type: 'string' },
      nbf: { type: 'string' },
      region: { type: 'string' },
      alg: { type: 'string' },
    },
    false,
  )
  if (values.help) {
    io.stdout.write(MINT_HELP)
    return 0
  }
  const identity = values.identity
  if (identity === undefined || identity === '') throw new UsageError('missing --identity')
  const ttl = integerArg('--ttl', values.ttl, 1, MAX_TTL_SECONDS)
  const nbf = integerArg('--nbf', values.nbf, 0, Number.MAX_SAFE_INTEGER)
  const alg = values.alg ?? 'HS256'
  if (!(ALGORITHMS as readonly string[]).includes(alg))
    throw new UsageError('--alg must be HS256, HS384 or HS512')
  const region = values.region
  if (region !== undefined && !/^[a-z0-9-]{1,32}$/.test(region)) {
    throw new UsageError('--region must be 1 to 32 lower-case letters, digits or dashes (e.g. ie1)')
  }
  const endpoint = values['endpoint-id']
  if (endpoint !== undefined && (endpoint === '' || endpoint.length > MAX_ENDPOINT_ID_LENGTH)) {
    throw new UsageError(`--endpoint-id must be 1 to ${MAX_ENDPOINT_ID_LENGTH} characters`)
  }

  const creds = new Credentials(values, io.env)
  const accountSid = checkSid(
    '--account-sid',
    creds.require('accountSid', 'the Account SID').value,
    ACCOUNT_SID,
    'AC',
  )
  const keySid = checkSid(
    '--key-sid',
    creds.require('keySid', 'the API Key SID').value,
    KEY_SID,
    'SK',
  )
  const secretR = creds.require('secret', 'the API Key secret')
  if (secretR.source === 'file' && creds.fileKeySid() !== keySid) {
    throw new UsageError(
      `the secret in credentials.json belongs to another key than ${keySid}; pass --secret`,
    )
  }
  const secret = checkSecret(secretR)
  const serviceSid = checkSid(
    '--service-sid',
    creds.require('serviceSid', 'the Chat Service SID').value,
    SERVICE_SID,
    'IS',
  )

  const token = new AccessToken(accountSid, keySid, secret, {
    identity,
    ...(ttl !== undefined && { ttl }),
    ...(nbf !== undefined && { nbf }),
    ...(region !== undefined && { region }),
  })
  token.addGrant(
    new AccessToken.ChatGrant({
      serviceSid,
      ...(endpoint !== undefined && { endpointId: endpoint }),
    }),
  )
  io.stdout.write(token.toJwt(alg as Algorithm) + '\n')
  return 0
}

function timeInfo(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value)
    ? formatNumericDate(value)
    : undefined
}

function decode(args: readonly string[], io: TokenCliIO): number {
  const { values, positionals } = parse(
    args,
    { now: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    true,
  )
  if (values.help) {
    io.stdout.write(DECODE_HELP)
    return 0
  }
  const now =
    integerArg('--now', values.now, 0, Number.MAX_SAFE_INTEGER) ?? Math.floor(Date.now() / 1000)
  const jwt = tokenArg(positionals, io)
  let decoded
  try {
    decoded = decodeAccessToken(jwt)
  } catch (err) {
    return rejection(err, io)
  }
  const { header, payload } = decoded
  const exp = payload['exp']
  const times: Record<string, string> = {}
  for (const claim of ['iat', 'nbf', 'exp']) {
    const iso = timeInfo(payload[claim])
    if (iso !== undefined) times[claim] = iso
  }
  const out: Record<string, unknown> = { header, payload, times, now: formatNumericDate(now) }
  if (typeof exp === 'number' && Number.isSafeInteger(exp)) {
    out['expires_in'] = exp - now
    out['expired'] = exp <= now
    const start = payload['iat'] ?? payload['nbf']
    if (typeof start === 'number' && Number.isSafeInteger(start)) out['lifetime'] = exp - start
  }
  out['verified'] = false
  io.stdout.write(JSON.stringify(out, null, 2) + '\n')
  return 0
}

function principalJson(p: AccessTokenPrincipal): Record<string, unknown> {
  return {
    identity: p.identity,
    account_sid: p.accountSid,
    key_sid: p.keySid,
    service_sid: p.serviceSid,
    endpoint_id: p.endpointId,
    issued_at: p.issuedAt,
    not_before: p.notBefore,
    expires_at: p.expiresAt,
    algorithm: p.algorithm,
    region: p.region,
    grant_key: p.grantKey,
    grants: p.grants,
  }
}

function rejection(err: unknown, io: TokenCliIO): number {
  if (!isChatError(err)) throw err
  io.stdout.write(JSON.stringify({ code: err.code, message: err.message }) + '\n')
  return 1
}

function verify(args: readonly string[], io: TokenCliIO): number {
  const { values, positionals } = parse(
    args,
    { ...CREDENTIAL_OPTIONS, now: { type: 'string' } },
    true,
  )
  if (values.help) {
    io.stdout.write(VERIFY_HELP)
    return 0
  }
  if (values['service-sid'] !== undefined) throw new UsageError('unknown option --service-sid')
  const now = integerArg('--now', values.now, 0, Number.MAX_SAFE_INTEGER)
  const jwt = tokenArg(positionals, io)
  const creds = new Credentials(values, io.env)
  const secretR = creds.require('secret', 'the API Key secret')
  const secret = checkSecret(secretR)
  const accountSid = checkSid(
    '--account-sid',
    creds.require('accountSid', "the account that owns the key; the token's sub is not trusted")
      .value,
    ACCOUNT_SID,
    'AC',
  )
  // The key SID is taken only from a source at least as specific as the secret's (a --secret flag is not paired
  // with a key SID from the environment or credentials.json, which may belong to another key).
  const keyR = creds.get('keySid')
  const rank = { flag: 0, env: 1, file: 2 } as const
  const keySid =
    keyR !== undefined && rank[keyR.source] <= rank[secretR.source]
      ? checkSid('--key-sid', keyR.value, KEY_SID, 'SK')
      : undefined
  if (secretR.source === 'file' && keySid !== undefined && creds.fileKeySid() !== keySid) {
    throw new UsageError(
      `the secret in credentials.json belongs to another key than ${keySid}; pass --secret`,
    )
  }
  const key = { secret, accountSid }
  try {
    const principal = verifyAccessTokenSync(jwt, {
      // Without a known key SID, the secret is tried for whichever SK… the token names.
      resolveKey: (sid) => (keySid === undefined || sid === keySid ? key : undefined),
      ...(now !== undefined && { now }),
    })
    io.stdout.write(JSON.stringify(principalJson(principal)) + '\n')
    return 0
  } catch (err) {
    return rejection(err, io)
  }
}

/**
 * Runs `parley token …` and resolves with the exit code.
 *
 * @param args - the arguments after `token`, e.g. `['mint', '--identity', 'alice']`
 * @param io - environment and output streams (default: the process's)
 */
export async function runToken(
  args: readonly string[],
  io: TokenCliIO = defaultIO,
): Promise<number> {
  const [sub, ...rest] = args
  const prefix =
    sub === 'mint' || sub === 'decode' || sub === 'verify' ? `parley token ${sub}` : 'parley token'
  try {
    switch (sub) {
      case 'mint':
        return mint(rest, io)
      case 'decode':
        return decode(rest, io)
      case 'verify':
        return verify(rest, io)
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(HELP)
        return 0
      case undefined:
        throw new UsageError(
          'missing subcommand: mint, decode or verify (run "parley token --help")',
        )
      default:
        throw new UsageError(`unknown subcommand "${sub.slice(0, 20)}" (mint, decode or verify)`)
    }
  } catch (err) {
    if (err instanceof UsageError) {
      const hint =
        sub === 'mint' || sub === 'decode' || sub === 'verify' ? ` (run "${prefix} --help")` : ''
      io.stderr.write(`${prefix}: ${err.message.replace(/\s+/g, ' ')}${hint}\n`)
      return 2
    }
    throw err
  }
}
