/**
 * Composition root of the demo: loads the configuration (waiting for `parley serve` to write `credentials.json` when
 * they start together), opens the demo database, loads the static files and listens.
 *
 * Run: `node apps/demo/dist/src/main.js` (or `npm start -w @parley/demo`).
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createDemoApp } from './app.ts'
import { ConfigError, loadConfig, type DemoConfig } from './config.ts'
import { openDemoStore } from './db.ts'
import { createNodeServer } from './node.ts'
import { loadStaticFiles } from './static-files.ts'

function logLine(line: Readonly<Record<string, unknown>>): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`)
}

/** The cookie-signing key: `DEMO_SESSION_SECRET`, or a random key created once in the data directory (mode 0600). */
function sessionKeyFor(config: DemoConfig): Buffer {
  if (config.sessionSecret !== undefined) return Buffer.from(config.sessionSecret, 'utf8')
  const file = join(config.dataDir, 'session.key')
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
    writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' })
  }
  chmodSync(file, 0o600)
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url')
  if (key.length < 32)
    throw new ConfigError(`${file}: the session key is too short; delete the file to regenerate it`)
  return key
}

async function loadConfigWaiting(timeoutMs: number): Promise<DemoConfig> {
  const deadline = Date.now() + timeoutMs
  let told = false
  for (;;) {
    try {
      return loadConfig()
    } catch (e) {
      if (!(e instanceof ConfigError) || !e.missing || Date.now() > deadline) throw e
      if (!told) logLine({ level: 'info', msg: `waiting for Parley credentials: ${e.message}` })
      told = true
      await new Promise((r) => setTimeout(r, 500))
    }
  }
}

async function main(): Promise<void> {
  const config = await loadConfigWaiting(60_000)
  const store = openDemoStore(join(config.dataDir, 'demo.db'))
  const app = createDemoApp({
    config,
    store,
    sessionKey: sessionKeyFor(config),
    files: loadStaticFiles(),
    log: logLine,
  })
  const server = createNodeServer(app)
  server.once('error', (e: NodeJS.ErrnoException) => {
    const where = `${config.host}:${config.port}`
    const msg =
      e.code === 'EADDRINUSE'
        ? `the demo cannot start: ${where} is already in use; set DEMO_PORT to another port (0 = any free port)`
        : e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL'
          ? `the demo cannot listen on ${where} (${e.code}); check DEMO_HOST and DEMO_PORT`
          : `the demo cannot listen on ${where}`
    logLine({ level: 'error', msg, error: String(e) })
    store.close()
    process.exit(1)
  })
  server.listen(config.port, config.host, () => {
    const address = server.address()
    const port = typeof address === 'object' && address ? address.port : config.port
    const host = config.host.includes(':') ? `[${config.host}]` : config.host
    const url = `http://${host}:${port}`
    logLine({
      level: 'info',
      msg: `demo listening on ${url}`,
      parley: config.parleyUrl,
      twilsock: config.twilsockUrl,
      service: config.serviceSid,
    })
    // Started by start-with-parley.js: tell it where to point people (it prints the URL to open).
    process.send?.({ type: 'demo-listening', url: openUrl(config, host, port) })
  })
  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    server.close(() => {
      store.close()
      process.exit(0)
    })
    server.closeAllConnections()
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  // The launcher went away without stopping us (e.g. it was killed): do not linger holding the port.
  process.on('disconnect', stop)
}

/** The address to open in a browser: the public origin when set; `localhost` for a wildcard bind. */
function openUrl(config: DemoConfig, host: string, port: number): string {
  if (config.publicOrigin !== undefined) return config.publicOrigin
  const wildcard = host === '0.0.0.0' || host === '[::]' || host === '[::0]'
  return `http://${wildcard ? 'localhost' : host}:${port}`
}

main().catch((e: unknown) => {
  logLine({
    level: 'error',
    msg: e instanceof ConfigError ? e.message : 'demo failed to start',
    error: String(e),
  })
  process.exit(1)
})
