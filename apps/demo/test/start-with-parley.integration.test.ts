import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'

const launcher = fileURLToPath(new URL('../src/start-with-parley.js', import.meta.url))
const parleyCli = fileURLToPath(
  new URL('../../../../packages/server/dist/src/cli.js', import.meta.url),
)

void test(
  'start-with-parley runs parley serve and the demo together, and SIGTERM stops both',
  {
    skip: existsSync(parleyCli) ? false : `the Parley CLI is not built (${parleyCli})`,
    timeout: 30_000,
  },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-start-'))
    // 1. both start on free ports; the demo waits for the credentials.json that parley serve writes
    const child = spawn(process.execPath, [launcher, '--log-level', 'warn'], {
      cwd: dir,
      env: { ...process.env, PARLEY_PORT: '0', DEMO_PORT: '0', INIT_CWD: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      let out = ''
      const demoUrl = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no demo URL in:\n${out}`)), 20_000)
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          const m = /demo listening on (http:\/\/[\d.:]+)/.exec(out)
          if (m) {
            clearTimeout(timer)
            resolve(m[1]!)
          }
        })
        child.once('exit', () => reject(new Error(`launcher exited early:\n${out}`)))
      })
      // PARLEY_PORT=0: the demo found Parley's real port in credentials.json
      const session = (await (await fetch(`${demoUrl}/api/session`)).json()) as {
        twilsockUrl: string
      }
      assert.match(session.twilsockUrl, /^ws:\/\/127\.0\.0\.1:\d+\/v3\/wsconnect$/)
      assert.doesNotMatch(session.twilsockUrl, /:0\//)
      assert.ok(existsSync(join(dir, '.parley', 'credentials.json')))
      assert.ok(existsSync(join(dir, '.parley', 'demo', 'demo.db')))
      // 2. SIGTERM stops both, exit code 0
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
      child.kill('SIGTERM')
      assert.equal(await exited, 0)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  },
)
