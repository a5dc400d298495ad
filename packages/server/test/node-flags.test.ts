/**
 * The server's node flags are written in three places that cannot import them (a shebang, an npm script, and the
 * list itself): they must stay equal. And the shebang must really start the command (`env -S`).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SERVER_NODE_FLAGS } from '../src/node-flags.ts'

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = resolve(pkgDir, 'bin', 'parley.js')
const flags = SERVER_NODE_FLAGS.join(' ')

test('the parley command and `npm run serve` start node with SERVER_NODE_FLAGS', () => {
  assert.ok(SERVER_NODE_FLAGS.length > 0)
  const shebang = readFileSync(bin, 'utf8').split('\n')[0]
  assert.equal(shebang, `#!/usr/bin/env -S node ${flags}`)
  const root = JSON.parse(readFileSync(resolve(pkgDir, '..', '..', 'package.json'), 'utf8')) as {
    scripts: Record<string, string>
  }
  assert.match(
    root.scripts['serve'] ?? '',
    new RegExp(`exec node ${flags} packages/server/dist/src/cli\\.js serve$`),
  )
})

test('the shebang runs: `parley --help` executed directly exits 0 with the usage', () => {
  const r = spawnSync(bin, ['--help'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^Usage: parley <command>/)
})
