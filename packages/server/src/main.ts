/**
 * The composition root: the only place that picks adapters (SQLite store, memory bus, system clock, crypto ids,
 * AES-GCM vault), builds the core and the REST app, and serves them on node:http.
 *
 * Realtime gateways attach through {@link ParleyServer.onUpgrade} (or a {@link ParleyPlugin}), which receives the
 * same core, store and bus instances the REST API uses.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import process, { stderr } from 'node:process'
import { crashAfterCommit } from './adapters/bus/fault.ts'
import { memoryBus } from './adapters/bus/memory.ts'
import { systemClock } from './adapters/clock/system.ts'
import { cryptoIds } from './adapters/ids/crypto.ts'
import { sqliteStore, type SqliteStore } from './adapters/store/sqlite.ts'
import {
  aesGcmVault,
  loadOrCreateMasterKey,
  MASTER_KEY_FILE,
  parseMasterKey,
} from './adapters/vault/aes-gcm.ts'
import { twilioPlugin, type TwilioPluginOptions } from './compat/twilio/index.ts'
import { parseContinuationSecret, type Config } from './config.ts'
import type { Core } from './core/api.ts'
import { createCore } from './core/create-core.ts'
import type { BootstrapResult } from './core/types.ts'
import { createApp, type App } from './http/app.ts'
import { coreAuthenticator } from './http/auth.ts'
import { createLogger, type Logger } from './http/log.ts'
import type { MetricType } from './http/metrics.ts'
import { createNodeBridge, type UpgradeHandler } from './http/node.ts'
import { restRoutes } from './http/routes.ts'
import { originCheck } from './http/upgrade-origin.ts'
import type { Bus } from './ports/bus.ts'
import { refuseUpgrade } from './realtime/upgrade.ts'

/** Name of the credentials file `parley serve` writes in the data directory on first start. */
export const CREDENTIALS_FILE = 'credentials.json'
/** Name of the continuation secret file in the data directory (when `PARLEY_CONTINUATION_SECRET` is unset). */
export const CONTINUATION_SECRET_FILE = 'continuation.key'

/** What a {@link ParleyPlugin} gets: the shared instances and the upgrade hook. */
export interface PluginContext {
  readonly config: Config
  readonly core: Core
  readonly store: SqliteStore
  readonly bus: Bus
  readonly logger: Logger
  /** Register a WebSocket upgrade handler for an exact path (e.g. `/v3/wsconnect`). */
  onUpgrade(path: string, handler: UpgradeHandler): () => void
  /** Add a gauge or counter to `GET /metrics`, read at every scrape; returns a function that removes it. */
  metric(name: string, type: MetricType, help: string, read: () => number): () => void
}

/**
 * An add-on started with the server (e.g. the Twilsock gateway). Its `close` runs at shutdown, in parallel with the
 * HTTP drain and before the store closes.
 */
export type ParleyPlugin = (
  ctx: PluginContext,
) => { close?: () => Promise<void> } | Promise<{ close?: () => Promise<void> }> | void

/** Options of {@link createParleyServer} beyond the {@link Config}. */
export interface ParleyServerOptions {
  /** Where logs go. Default: JSON lines on stderr at `config.logLevel`. */
  logger?: Logger
  /** `memory` runs on a private in-memory SQLite database (tests). Default `disk` (`<dataDir>/parley.db`). */
  storage?: 'disk' | 'memory'
  /** On a store with no account, create one (with an API key and a default service) before accepting requests. */
  bootstrap?: boolean
  /**
   * The Twilio-compatible realtime gateway (Twilsock on `/v3/wsconnect`, so the unmodified `twilio-chat` and
   * `@twilio/conversations` SDKs can connect). On by default; `false` turns it off.
   */
  twilio?: false | TwilioPluginOptions
  /** More add-ons, started after the Twilio gateway. */
  plugins?: readonly ParleyPlugin[]
}

/** A running Parley server. */
export interface ParleyServer {
  /** The node:http server (already listening). Its `upgrade` event is routed by {@link ParleyServer.onUpgrade}. */
  readonly server: Server
  /** `http://host:port` it listens on. */
  readonly url: string
  readonly core: Core
  readonly store: SqliteStore
  readonly bus: Bus
  readonly app: App
  readonly logger: Logger
  /** Set when `bootstrap` created the first account during this start: the plaintext credentials, once. */
  readonly bootstrapped: BootstrapResult | undefined
  /** Register a WebSocket upgrade handler for an exact path; returns an unregister function. */
  onUpgrade(path: string, handler: UpgradeHandler): () => void
  /**
   * Graceful shutdown (reliability.md §2.9): readiness off, stop accepting, let in-flight requests finish (up to
   * `limits.shutdownTimeoutMs`), close plugins, the bus and the store. Idempotent.
   */
  close(): Promise<void>
}

/**
 * Build and start a Parley server.
 *
 * @throws {StoreLockedError} when another process holds the data directory.
 * @example
 * ```ts
 * const parley = await createParleyServer(loadConfig({ port: 0 }), { bootstrap: true })
 * console.log(parley.url)
 * await parley.close()
 * ```
 */
export async function createParleyServer(
  config: Config,
  options: ParleyServerOptions = {},
): Promise<ParleyServer> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, sink: stderr })
  const memory = options.storage === 'memory'
  // The data directory holds the database and the key files: owner-only when we create it (an existing one keeps its
  // mode; the key files inside are made 0600 below).
  if (!memory) mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })

  // An in-memory store dies with the process, so its secrets need no key that outlives it: use a fresh random one
  // rather than writing a key file.
  const masterKey =
    config.masterKey !== undefined
      ? parseMasterKey(config.masterKey)
      : memory
        ? randomBytes(32)
        : loadOrCreateMasterKey(config.dataDir)

  // Same rule for the continuation secret: persisted with the data, so derived endpoint ids survive restarts.
  const continuationSecret =
    config.realtime.continuationSecret !== undefined
      ? parseContinuationSecret(config.realtime.continuationSecret)
      : memory
        ? randomBytes(32)
        : loadOrCreateContinuationSecret(config.dataDir)
  if (!memory) tightenSecretFiles(config.dataDir, logger)

  const store = memory
    ? sqliteStore({ filename: ':memory:' })
    : sqliteStore({ dataDir: config.dataDir })
  const bus =
    config.fault === undefined
      ? memoryBus()
      : crashAfterCommit(memoryBus(), config.fault.afterMessages)
  if (config.fault !== undefined)
    logger.warn('fault injection is on (PARLEY_FAULT)', { ...config.fault })
  let core: Core
  try {
    core = createCore({
      store,
      bus,
      clock: systemClock(),
      ids: cryptoIds(),
      vault: aesGcmVault(masterKey),
    })
  } catch (err) {
    await store.close().catch(() => undefined)
    throw err
  }

  const app = createApp({
    routes: restRoutes(core),
    authenticate: coreAuthenticator(core, (err) =>
      logger.error('authentication backend failed', { err }),
    ),
    config,
    logger,
  })
  const bridge = createNodeBridge(app, config.limits)

  // Every WebSocket endpoint, built in or added, gets the same Origin policy before its own handler runs.
  const allowOrigin = originCheck(config.realtime.allowedOrigins, config.publicUrl)
  const onUpgrade = (path: string, handler: UpgradeHandler): (() => void) =>
    bridge.onUpgrade(path, (req, socket, head) => {
      if (allowOrigin(req)) handler(req, socket, head)
      else refuseUpgrade(socket, 403, 'Origin not allowed')
    })

  const pluginClosers: (() => Promise<void>)[] = []
  const metric = app.metrics.register.bind(app.metrics)
  registerStoreMetrics(metric, store)
  const ctx: PluginContext = { config, core, store, bus, logger, onUpgrade, metric }
  const plugins: ParleyPlugin[] = []
  if (options.twilio !== false) {
    const rt = config.realtime
    plugins.push(
      twilioPlugin({
        log: (level, msg, fields) => logger[level](msg, fields),
        onError: (err) => logger.error('twilio compat error', { err }),
        tokenWarningLeadMs: rt.tokenWarningLeadSeconds * 1000,
        continuationSecret,
        socketProcess: rt.socketProcess,
        ...(rt.authFailureLimit > 0
          ? {
              failedAuthPerAddress: {
                burst: rt.authFailureLimit,
                perSecond: rt.authFailureLimit / (config.limits.authFailureWindowMs / 1000),
              },
            }
          : {}),
        ...options.twilio,
        limits: {
          maxPayloadBytes: rt.maxFrameBytes,
          maxOutboundBytes: rt.outboundQueueBytes,
          maxUnackedBytes: rt.outboundQueueBytes,
          heartbeatIntervalMs: rt.heartbeatIntervalMs,
          authDeadlineMs: rt.authDeadlineMs,
          maxSessionsPerIdentity: rt.maxSessionsPerIdentity,
          maxUnauthenticatedPerAddress: rt.maxUnauthenticatedPerAddress,
          ...options.twilio?.limits,
        },
      }),
    )
  }
  plugins.push(...(options.plugins ?? []))

  let bootstrapped: BootstrapResult | undefined
  try {
    for (const plugin of plugins) {
      const r = await plugin(ctx)
      if (r && r.close) pluginClosers.push(r.close)
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err)
      bridge.server.once('error', onError)
      bridge.server.listen(config.port, config.host, () => {
        bridge.server.off('error', onError)
        resolve()
      })
    })
    // Bootstrap only once the port is ours: a start that cannot listen must not create credentials nobody sees.
    // Until `ready`, requests find no account and get 401; /healthz says 503.
    if (options.bootstrap === true && !(await core.hasAccounts())) {
      bootstrapped = await core.bootstrap({
        friendlyName: 'Parley',
        serviceFriendlyName: 'Default Chat Service',
      })
    }
  } catch (err) {
    await Promise.allSettled(pluginClosers.map((c) => c()))
    if (bridge.server.listening) await bridge.drain(0)
    await bus.close?.().catch(() => undefined)
    await store.close().catch(() => undefined)
    throw err
  }
  bridge.server.on('error', (err) => logger.error('http server error', { err }))

  const addr = bridge.server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  const url = `http://${host}:${addr.port}`
  app.ready = true
  logger.info('listening', { url, dataDir: memory ? ':memory:' : config.dataDir })

  let closing: Promise<void> | undefined
  return {
    server: bridge.server,
    url,
    core,
    store,
    bus,
    app,
    logger,
    bootstrapped,
    onUpgrade,
    close() {
      closing ??= (async () => {
        app.ready = false
        logger.info('shutting down')
        await Promise.allSettled([
          bridge.drain(config.limits.shutdownTimeoutMs),
          ...pluginClosers.map((c) =>
            c().catch((err: unknown) => logger.error('plugin close failed', { err })),
          ),
        ])
        await bus.close?.().catch((err: unknown) => logger.error('bus close failed', { err }))
        await store.close()
        logger.info('stopped')
      })()
      return closing
    },
  }
}

/**
 * Reads the continuation secret from `<dataDir>/continuation.key` (64 hex characters), creating it with mode 0600
 * on first start, like the master key.
 *
 * @throws {Error} when the file exists but does not hold a valid secret.
 */
export function loadOrCreateContinuationSecret(dataDir: string): Buffer {
  const path = join(dataDir, CONTINUATION_SECRET_FILE)
  try {
    return parseContinuationSecret(readFileSync(path, 'utf8'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      // The file's content is never echoed.
      throw new Error(
        `invalid continuation secret file ${path}: expected at least 32 bytes as hex`,
        {
          cause: err,
        },
      )
    }
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const secret = randomBytes(32)
  try {
    // `wx`: two processes starting at once must not overwrite each other's secret.
    writeFileSync(path, secret.toString('hex') + '\n', { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      return parseContinuationSecret(readFileSync(path, 'utf8'))
    }
    throw err
  }
  chmodSync(path, 0o600)
  return secret
}

/**
 * Make the secret-bearing files of the data directory owner-only (0600) when a copy, an unpack or an old version
 * left them readable by others, and say so in the log. Files that do not exist are skipped.
 */
function tightenSecretFiles(dataDir: string, logger: Logger): void {
  if (process.platform === 'win32') return
  for (const name of [MASTER_KEY_FILE, CONTINUATION_SECRET_FILE, CREDENTIALS_FILE]) {
    const path = join(dataDir, name)
    try {
      const mode = statSync(path).mode & 0o777
      if ((mode & 0o077) !== 0) {
        chmodSync(path, 0o600)
        logger.warn('secret file was readable by others; its mode is now 0600', {
          file: path,
          was: mode.toString(8),
        })
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        logger.warn('cannot check the mode of a secret file', {
          file: path,
          code: (err as NodeJS.ErrnoException).code,
        })
      }
    }
  }
}

/** The store's health on `GET /metrics`: WAL syncs (writes wait for them) and the checkpoint worker's pauses. */
function registerStoreMetrics(metric: PluginContext['metric'], store: SqliteStore): void {
  metric(
    'parley_store_wal_syncs_total',
    'counter',
    'WAL syncs (every acknowledged write waits for one).',
    () => store.syncStats().syncs,
  )
  metric(
    'parley_store_wal_sync_seconds_total',
    'counter',
    'Time spent in WAL syncs, in seconds.',
    () => store.syncStats().totalMs / 1000,
  )
  metric(
    'parley_store_wal_syncs_slow_total',
    'counter',
    'WAL syncs that took longer than 10 ms.',
    () => store.syncStats().over10Ms,
  )
  metric('parley_store_wal_bytes', 'gauge', 'Size of the write-ahead log, in bytes.', () =>
    store.walBytes(),
  )
  metric(
    'parley_store_checkpoint_pauses_total',
    'counter',
    'Times the checkpoint worker held the writer.',
    () => store.checkpointerStats()?.pauses ?? 0,
  )
}
