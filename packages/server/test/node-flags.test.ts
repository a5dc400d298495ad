/**
 * The server's node flags are written in three places that cannot import them (the `parley` shim's sh line, an npm
 * script, and the list itself): they must stay equal. And the shim must really start the command, also through a
 * symlink (as npm links bins).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SERVER_NODE_FLAGS } from '../src/node-flags.ts'

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = resolve(pkgDir, 'bin', 'parley.js')
const flags = SERVER_NODE_FLAGS.join(' ')

test('the parley command and `npm run serve` start node with SERVER_NODE_FLAGS', () => {
  assert.ok(SERVER_NODE_FLAGS.length > 0)
  const [shebang, execLine] = readFileSync(bin, 'utf8').split('\n')
  assert.equal(shebang, '#!/bin/sh')
  assert.equal(execLine, `':' //; exec node ${flags} "$0" "$@"`)
  const root = JSON.parse(readFileSync(resolve(pkgDir, '..', '..', 'package.json'), 'utf8')) as {
    scripts: Record<string, string>
  }
  assert.match(
    root.scripts['serve'] ?? '',
    new RegExp(`exec node ${flags} packages/server/dist/src/cli\\.js serve$`),
  )
})

test('the shim runs: `parley --help`, directly and through a symlink, exits 0 with the usage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bin-'))
  try {
    const link = join(dir, 'parley')
    symlinkSync(bin, link)
    for (const path of [bin, link]) {
      const r = spawnSync(path, ['--help'], { encoding: 'utf8' })
      assert.equal(r.status, 0, r.stderr)
      assert.match(r.stdout, /^Usage: parley <command>/)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
