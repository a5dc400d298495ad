/**
 * `parley serve`: run the Chat Service on the embedded SQLite store.
 *
 * On the first start (no account in the data directory) it creates an account, an API key and a default chat
 * service, writes them to `<data>/credentials.json` (mode 0600) and prints them once in a banner with a ready
 * `parley token mint …` line. Later starts print only where it listens. SIGTERM / SIGINT shut down gracefully and
 * exit 0; a second process on the same data directory is refused with one line and exit code 1.
 *
 * @module
 */
import { chmodSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import process from 'node:process'
import { StoreLockedError } from '../adapters/store/sqlite.ts'
import { ConfigError, loadConfig, type ConfigOptions } from '../config.ts'
import type { BootstrapResult } from '../core/types.ts'
import { CREDENTIALS_FILE, createParleyServer, type ParleyServer } from '../main.ts'

const HELP = `Usage: parley serve [options]

Run the Parley Chat Service (Twilio Programmable Chat REST API v2 + realtime) on embedded SQLite.

Options:
  --host <addr>         interface to listen on (default 127.0.0.1, env PARLEY_HOST)
  --port <n>            TCP port, 0 = any free port (default 3210, env PARLEY_PORT)
  --data <dir>          data directory (default ./.parley, env PARLEY_DATA_DIR)
  --log-level <level>   debug | info | warn | error | silent (default info, env PARLEY_LOG_LEVEL)
  --public-url <url>    base URL used in returned links (default http://<Host header>, env PARLEY_PUBLIC_URL)
  --allowed-origins <list>
                        comma-separated browser origins allowed on the WebSocket endpoint, or * (default: same
                        origin and loopback pages only, env PARLEY_ALLOWED_ORIGINS)
  --token-warning-lead <seconds>
                        tell realtime clients their token is about to expire this long before exp
                        (default 180, env PARLEY_TOKEN_WARNING_LEAD_SECONDS)
  -h, --help            show this help

More settings (realtime limits, the continuation secret) are environment variables; see the README.

The first start creates an account, an API key and a chat service, prints them once and saves them to
<data>/credentials.json (mode 0600). Logs are JSON lines on stderr. Stop with Ctrl-C or SIGTERM.
`

export { CREDENTIALS_FILE }

/** Parse `serve` flags into config options. @throws {ConfigError} on an unknown or incomplete flag. */
export function parseServeArgs(args: readonly string[]): ConfigOptions | 'help' {
  const opts: ConfigOptions = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    if (arg === '-h' || arg === '--help') return 'help'
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    const take = (): string => {
      if (eq !== -1) return arg.slice(eq + 1)
      const v = args[++i]
      if (v === undefined || v.startsWith('--')) throw new ConfigError(`${name} needs a value`)
      return v
    }
    switch (name) {
      case '--host':
        opts.host = take()
        break
      case '--port':
        opts.port = take()
        break
      case '--data':
      case '--data-dir':
        opts.dataDir = take()
        break
      case '--log-level':
        opts.logLevel = take()
        break
      case '--public-url':
        opts.publicUrl = take()
        break
      case '--allowed-origins':
        opts.allowedOrigins = take()
        break
      case '--token-warning-lead':
        opts.realtime = { ...opts.realtime, tokenWarningLeadSeconds: take() }
        break
      default:
        throw new ConfigError(`unknown option ${name.slice(0, 40)} (run "parley serve --help")`)
    }
  }
  return opts
}

/** The credentials file content (snake_case, like the REST API). */
export function credentialsJson(b: BootstrapResult, url: string): string {
  return (
    JSON.stringify(
      {
        account_sid: b.account.sid,
        auth_token: b.authToken,
        api_key_sid: b.apiKey.sid,
        api_key_secret: b.apiKey.secret,
        service_sid: b.service.sid,
        url,
        created_at: new Date(b.account.createdAt).toISOString(),
      },
      null,
      2,
    ) + '\n'
  )
}

/** Write `<dataDir>/credentials.json` atomically with mode 0600. */
export function writeCredentials(dataDir: string, content: string): string {
  const path = join(dataDir, CREDENTIALS_FILE)
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, content, { mode: 0o600 })
  chmodSync(tmp, 0o600)
  renameSync(tmp, path)
  return path
}

/** The first-start banner. Secrets appear here and in the credentials file only. */
export function banner(
  b: BootstrapResult,
  url: string,
  credentialsPath: string,
  dataDir: string,
): string {
  // `parley token mint` reads credentials.json from --data (default ./.parley).
  const dataFlag =
    dataDir === './.parley' || dataDir === '.parley' ? '' : ` --data ${shellQuote(dataDir)}`
  const mint = `npx parley token mint${dataFlag} --identity alice`
  const mintExplicit =
    `npx parley token mint --account-sid ${b.account.sid} --api-key ${b.apiKey.sid} ` +
    `--api-secret ${b.apiKey.secret} --service-sid ${b.service.sid} --identity alice`
  return [
    '',
    `  Parley Chat Service is running at ${url}`,
    '',
    '  First start: created an account, an API key and a chat service.',
    `  The secrets below are shown only this once; they are also saved in ${credentialsPath} (mode 0600).`,
    '',
    `    Account SID      ${b.account.sid}`,
    `    Auth Token       ${b.authToken}`,
    `    API Key SID      ${b.apiKey.sid}`,
    `    API Key Secret   ${b.apiKey.secret}`,
    `    Chat Service SID ${b.service.sid}`,
    '',
    '  Mint an Access Token for a user (reads credentials.json; the second form works from anywhere):',
    `    ${mint}`,
    `    ${mintExplicit}`,
    '',
    '  Call the REST API (Twilio Chat v2):',
    `    curl -u ${b.account.sid}:${b.authToken} ${url}/v2/Services`,
    '',
    '  Point the Twilio Chat / Conversations SDKs at the realtime endpoint:',
    `    { twilsock: { uri: '${url.replace(/^http/, 'ws')}/v3/wsconnect' } }`,
    '',
  ].join('\n')
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./@:+-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`
}

/**
 * Run `parley serve`. Resolves with the process exit code once the server has stopped (after SIGTERM / SIGINT),
 * or right away on a configuration or startup error.
 */
export async function runServe(args: readonly string[]): Promise<number> {
  let opts: ConfigOptions | 'help'
  let config
  try {
    opts = parseServeArgs(args)
    if (opts === 'help') {
      process.stdout.write(HELP)
      return 0
    }
    config = loadConfig(opts)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`parley serve: ${err.message}\n`)
      return 2
    }
    throw err
  }

  let parley: ParleyServer
  try {
    // createParleyServer creates the data directory owner-only (it holds the database, keys and credentials.json).
    parley = await createParleyServer(config, { bootstrap: true })
  } catch (err) {
    if (err instanceof StoreLockedError) {
      process.stderr.write(
        `parley serve: ${resolve(config.dataDir)} is already in use by another Parley process` +
          `${err.pid === null ? '' : ` (pid ${err.pid})`}; stop it first or use another --data directory\n`,
      )
      return 1
    }
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EADDRINUSE') {
      process.stderr.write(
        `parley serve: ${config.host}:${config.port} is already in use; choose another --port\n`,
      )
      return 1
    }
    if (e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
      process.stderr.write(
        `parley serve: cannot listen on ${config.host}:${config.port} (${e.code})\n`,
      )
      return 1
    }
    throw err
  }

  // The signal handlers go in before the banner: whoever waits for it may signal at once.
  const stopped = new Promise<number>((done) => {
    let stopping = false
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`parley serve: ${signal} again, exiting immediately\n`)
        done(1)
        return
      }
      stopping = true
      parley.close().then(
        () => done(0),
        (err: unknown) => {
          process.stderr.write(
            `parley serve: shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`,
          )
          done(1)
        },
      )
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })

  const b = parley.bootstrapped
  if (b !== undefined) {
    const path = writeCredentials(config.dataDir, credentialsJson(b, parley.url))
    process.stdout.write(banner(b, parley.url, path, config.dataDir) + '\n')
  } else {
    process.stdout.write(
      `Parley Chat Service is running at ${parley.url} ` +
        `(data in ${resolve(config.dataDir)}; first-start credentials in ${join(config.dataDir, CREDENTIALS_FILE)})\n`,
    )
  }
  return stopped
}
