#!/usr/bin/env node
// Runs every compiled test file with node:test. Node 20's `--test <dir>` does not find these reliably and
// treats helpers under test/ as tests, so the list is explicit: files named *.test.js under */dist/test.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

const roots = ['packages', 'apps']
const files = []
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (name === 'node_modules') continue
    const st = statSync(p)
    if (st.isDirectory()) walk(p)
    else if (name.endsWith('.test.js')) files.push(p)
  }
}
for (const root of roots) {
  let entries = []
  try {
    entries = readdirSync(root)
  } catch {
    continue
  }
  for (const pkg of entries) {
    const testDir = join(root, pkg, 'dist', 'test')
    try {
      if (statSync(testDir).isDirectory()) walk(testDir)
    } catch {
      /* package without tests */
    }
  }
}
const filter = process.argv.slice(2)
const selected = filter.length ? files.filter((f) => filter.some((s) => f.includes(s))) : files
if (selected.length === 0) {
  console.error('run-tests: no test files found (did the build run?)')
  process.exit(1)
}
for (const [name, env] of [
  ['PostgreSQL', 'PARLEY_TEST_PG_URL'],
  ['Redis', 'PARLEY_TEST_REDIS_URL'],
]) {
  if (process.env[env]) continue
  const users = selected.filter((f) => readFileSync(f, 'utf8').includes(env))
  if (users.length > 0)
    console.log(
      `run-tests: ${env} is not set, so the ${name} suites are skipped (${users.length} files)`,
    )
}
const r = spawnSync(
  process.execPath,
  // A test (or suite) without its own timeout fails after 3 min instead of hanging the run (the longest suite
  // takes ≈ 45 s here).
  [
    '--test',
    '--test-concurrency=2',
    '--test-timeout=180000',
    '--test-reporter=spec',
    ...selected.sort(),
  ],
  { stdio: 'inherit' },
)
process.exit(r.status ?? 1)
