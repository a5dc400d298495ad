/**
 * `npm start` = start-with-parley.js: parley serve and the demo together, the URL to open, and a clean stop.
 * Each launch runs in its own process group, so a Ctrl-C in a terminal (SIGINT to the whole group) can be reproduced.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'

const launcher = fileURLToPath(new URL('../src/start-with-parley.js', import.meta.url))
const parleyCli = fileURLToPath(
  new URL('../../../../packages/server/dist/src/cli.js', import.meta.url),
)
const skip = existsSync(parleyCli) ? false : `the Parley CLI is not built (${parleyCli})`

/** Generous ceiling for each step on a loaded machine; steps end as soon as their event happens. */
const STEP_MS = 60_000

const OPEN = /Open the demo chat in your browser:\s+(http:\/\/\S+)/
const PARLEY_AT = /Parley Chat Service is running at (http:\/\/\S+)/

/** Test output may end up in CI logs: keep the first-start secrets out of assertion messages. */
function redact(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/Secret|Auth Token|curl -u|--api-secret/.test(l))
    .join('\n')
}

interface Launch {
  child: ChildProcess
  output(): string
  waitFor(re: RegExp): Promise<RegExpExecArray>
  exited: Promise<number | null>
}

function launch(dir: string, env: Record<string, string> = {}): Launch {
  // Settings from a developer's shell must not leak in; INIT_CWD is what npm sets.
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(PARLEY|DEMO)_/.test(k)),
  )
  const child = spawn(process.execPath, [launcher, '--log-level', 'warn'], {
    cwd: dir,
    env: { ...base, PARLEY_PORT: '0', DEMO_PORT: '0', INIT_CWD: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, like a terminal's foreground job
  })
  let out = ''
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer): void => {
    out += chunk.toString()
    for (const l of listeners) l()
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  return {
    child,
    exited,
    output: () => out,
    waitFor(re) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const m = re.exec(out)
          if (!m) return false
          cleanup()
          resolve(m)
          return true
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`no ${re} within ${STEP_MS} ms in:\n${redact(out)}`))
        }, STEP_MS)
        const early = (): void => {
          if (check()) return
          cleanup()
          reject(new Error(`the launcher exited before ${re}:\n${redact(out)}`))
        }
        const cleanup = (): void => {
          clearTimeout(timer)
          listeners.delete(listener)
          child.off('exit', early)
        }
        const listener = (): void => void check()
        if (check()) return
        listeners.add(listener)
        child.once('exit', early)
      })
    },
  }
}

async function exitWithin(l: Launch): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`still running after ${STEP_MS} ms:\n${redact(l.output())}`)),
      STEP_MS,
    )
  })
  try {
    return await Promise.race([l.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function refused(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(10_000) })
    return false
  } catch {
    return true
  }
}

/** Cleanup after a failure: SIGTERM first (the launcher then stops its children, which run in their own process
 * groups), SIGKILL if it is still there after 20 s. */
async function kill(l: Launch): Promise<void> {
  if (l.child.exitCode !== null || l.child.signalCode !== null || l.child.pid === undefined) return
  l.child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  await Promise.race([l.exited, new Promise((r) => (timer = setTimeout(r, 20_000)))])
  clearTimeout(timer)
  if (l.child.exitCode === null && l.child.signalCode === null) {
    try {
      process.kill(-l.child.pid, 'SIGKILL')
    } catch {
      /* already gone */
    }
  }
}

void test(
  'npm start on a fresh clone: the first-start banner, then the URL to open; Ctrl-C stops both with exit 0; a later start works too',
  { skip, timeout: 5 * STEP_MS },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-start-'))
    let current: Launch | undefined
    try {
      assert.equal(existsSync(join(dir, '.parley')), false)

      // 1. first start: no .parley yet
      const first = (current = launch(dir))
      const demoUrl = (await first.waitFor(OPEN))[1]!
      const out1 = first.output()
      const parleyUrl = PARLEY_AT.exec(out1)?.[1]
      assert.ok(parleyUrl, redact(out1))
      assert.match(out1, /First start: created an account, an API key and a chat service/)
      // The URL to open comes after Parley's banner, not lost in the middle of it.
      assert.ok(out1.indexOf('Open the demo chat') > out1.indexOf('First start'))
      assert.ok(existsSync(join(dir, '.parley', 'credentials.json')))
      assert.ok(existsSync(join(dir, '.parley', 'demo', 'demo.db')))

      const page = await fetch(demoUrl)
      assert.equal(page.status, 200)
      assert.match(page.headers.get('content-type') ?? '', /text\/html/)
      const session = (await (await fetch(`${demoUrl}/api/session`)).json()) as {
        twilsockUrl: string
      }
      assert.equal(session.twilsockUrl, `${parleyUrl.replace(/^http/, 'ws')}/v3/wsconnect`)
      assert.equal((await fetch(`${parleyUrl}/healthz`)).status, 200)

      // 2. Ctrl-C in a terminal: SIGINT to the whole foreground process group
      process.kill(-first.child.pid!, 'SIGINT')
      assert.equal(await exitWithin(first), 0, redact(first.output()))
      assert.doesNotMatch(first.output(), /again, exiting immediately/)
      assert.ok(await refused(demoUrl), 'the demo stopped')
      assert.ok(await refused(`${parleyUrl}/healthz`), 'Parley stopped')

      // 3. a later start on the same data: no first-start banner; the demo follows Parley's new port
      const second = (current = launch(dir))
      const demoUrl2 = (await second.waitFor(OPEN))[1]!
      const out2 = second.output()
      const parleyUrl2 = PARLEY_AT.exec(out2)?.[1]
      assert.ok(parleyUrl2, redact(out2))
      assert.doesNotMatch(out2, /First start/)
      const session2 = (await (await fetch(`${demoUrl2}/api/session`)).json()) as {
        twilsockUrl: string
      }
      assert.equal(session2.twilsockUrl, `${parleyUrl2.replace(/^http/, 'ws')}/v3/wsconnect`)

      // 4. SIGTERM to the launcher alone (a service manager) stops both, exit 0
      second.child.kill('SIGTERM')
      assert.equal(await exitWithin(second), 0, redact(second.output()))
      assert.ok(await refused(demoUrl2), 'the demo stopped')
      assert.ok(await refused(`${parleyUrl2}/healthz`), 'Parley stopped')
    } finally {
      if (current) await kill(current)
      rmSync(dir, { recursive: true, force: true })
    }
  },
)

void test(
  'when the demo cannot start (its port is taken), the launcher says so in plain words, stops Parley and fails',
  { skip, timeout: 3 * STEP_MS },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-start-'))
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
    const port = (blocker.address() as AddressInfo).port
    const l = launch(dir, { DEMO_PORT: String(port) })
    try {
      const code = await exitWithin(l)
      const out = l.output()
      assert.notEqual(code, 0)
      assert.match(out, new RegExp(`127\\.0\\.0\\.1:${port} is already in use; set DEMO_PORT`))
      assert.doesNotMatch(out, /Open the demo chat/)
      const parleyUrl = PARLEY_AT.exec(out)?.[1]
      assert.ok(parleyUrl, redact(out))
      assert.ok(await refused(`${parleyUrl}/healthz`), 'Parley stopped')
    } finally {
      await kill(l)
      await new Promise((r) => blocker.close(r))
      rmSync(dir, { recursive: true, force: true })
    }
  },
)
