/**
 * Keeps the server's dependency direction honest (docs/architecture.md, style.md §5) by scanning the import
 * specifiers and a few forbidden calls in `src/`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve, dirname, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

// dist/test/architecture.test.js → packages/server
const pkgRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const srcRoot = join(pkgRoot, 'src')

function files(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...files(p))
    else if (name.endsWith('.ts')) out.push(p)
  }
  return out
}

interface Source {
  path: string // relative to src, with '/'
  text: string
  imports: string[] // resolved to src-relative paths for relative specifiers, else the bare specifier
}

const sources: Source[] = files(srcRoot).map((abs) => {
  const text = readFileSync(abs, 'utf8')
  const imports: string[] = []
  for (const m of text.matchAll(
    /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
  )) {
    const spec = (m[1] ?? m[2])!
    if (spec.startsWith('.'))
      imports.push(
        relative(srcRoot, resolve(dirname(abs), spec))
          .split(sep)
          .join('/'),
      )
    else imports.push(spec)
  }
  return { path: relative(srcRoot, abs).split(sep).join('/'), text, imports }
})

const inDir = (p: string, dir: string) => p.startsWith(dir + '/')
const code = (s: Source) => s.text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')

test('src/ has sources to check', () => {
  assert.ok(sources.length > 0)
})

test('core/ imports only ports/, core/ and @parley/token, and does no IO', () => {
  for (const s of sources.filter((s) => inDir(s.path, 'core'))) {
    for (const i of s.imports) {
      const ok =
        inDir(i, 'core') ||
        inDir(i, 'ports') ||
        i === '@parley/token' ||
        i.startsWith('@parley/token/')
      assert.ok(ok, `${s.path} imports ${i}`)
    }
    assert.doesNotMatch(
      code(s),
      /\bDate\.now\(|\bMath\.random\(|\bprocess\./,
      `${s.path} reads the clock, randomness or process`,
    )
  }
})

test('ports/ are interfaces only: they import nothing but other ports and @parley/token types', () => {
  for (const s of sources.filter((s) => inDir(s.path, 'ports'))) {
    for (const i of s.imports) {
      assert.ok(
        inDir(i, 'ports') || i.startsWith('@parley/token') || inDir(i, 'core'),
        `${s.path} imports ${i}`,
      )
    }
  }
})

test('adapters/ never import http/, realtime/, compat/ or each other across kinds', () => {
  for (const s of sources.filter((s) => inDir(s.path, 'adapters'))) {
    const kind = s.path.split('/')[1]
    for (const i of s.imports) {
      assert.ok(!/^(http|realtime|compat)\//.test(i), `${s.path} imports ${i}`)
      if (inDir(i, 'adapters')) {
        assert.equal(i.split('/')[1], kind, `${s.path} imports another adapter kind: ${i}`)
      }
    }
  }
})

test('http/ does not import realtime/ or compat/; realtime/ does not import http/ or compat/', () => {
  for (const s of sources) {
    for (const i of s.imports) {
      if (inDir(s.path, 'http'))
        assert.ok(!/^(realtime|compat)\//.test(i), `${s.path} imports ${i}`)
      if (inDir(s.path, 'realtime'))
        assert.ok(!/^(http|compat)\//.test(i), `${s.path} imports ${i}`)
    }
  }
})

test('only config.ts and the CLI read process.env', () => {
  for (const s of sources) {
    if (s.path === 'config.ts' || s.path === 'cli.ts' || inDir(s.path, 'cli')) continue
    assert.doesNotMatch(code(s), /process\.env/, `${s.path} reads process.env`)
  }
})

test('only main.ts and the CLI choose adapters', () => {
  for (const s of sources) {
    if (
      inDir(s.path, 'adapters') ||
      s.path === 'main.ts' ||
      s.path === 'cli.ts' ||
      inDir(s.path, 'cli')
    )
      continue
    for (const i of s.imports) assert.ok(!inDir(i, 'adapters'), `${s.path} imports ${i}`)
  }
})
