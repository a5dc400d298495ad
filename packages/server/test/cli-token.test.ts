/**
 * `parley token mint | decode | verify`, run as a child process on the compiled CLI.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AccessToken, decodeAccessToken, verifyAccessTokenSync } from '@parley/token'

// dist/test/cli-token.test.js → dist/src/cli.js
const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli.js')

const AC = 'AC0123456789abcdef0123456789abcdef'
const AC2 = 'ACfedcba9876543210fedcba9876543210'
const SK = 'SK0123456789abcdef0123456789abcdef'
const SK2 = 'SKfedcba9876543210fedcba9876543210'
const IS = 'IS0123456789abcdef0123456789abcdef'
const SECRET = 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3Jh'
const SECRET2 = 'another-secret-of-32-characters!'
const FLAGS = ['--account-sid', AC, '--key-sid', SK, '--secret', SECRET, '--service-sid', IS]
const NOW = 1_800_000_000

const cwd = mkdtempSync(join(tmpdir(), 'parley-cli-token-'))
process.on('exit', () => rmSync(cwd, { recursive: true, force: true }))

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the CLI with a clean environment (no inherited PARLEY_* / TWILIO_*) in a temporary directory. */
function run(args: string[], env: Record<string, string> = {}, input?: string): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    encoding: 'utf8',
    ...(input !== undefined && { input }),
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const keys = new Map([
  [SK, { secret: SECRET, accountSid: AC }],
  [SK2, { secret: SECRET2, accountSid: AC2 }],
])
const verifyNow = (jwt: string, now = Math.floor(Date.now() / 1000)) =>
  verifyAccessTokenSync(jwt, { resolveKey: (sid) => keys.get(sid), now })

/** A usage error: exit 2, nothing on stdout, exactly one line on stderr. */
function assertUsage(r: Run, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`)
  assert.equal(r.stdout, '')
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr)
  assert.match(r.stderr, pattern)
}

function tokenAt(now: number, extra: { ttl?: number; nbf?: number } = {}): string {
  // Minted in-process with a pinned clock, so verify/decode tests do not depend on the wall clock.
  const realNow = Date.now
  Date.now = () => now * 1000
  try {
    const t = new AccessToken(AC, SK, SECRET, { identity: 'alice', ...extra })
    t.addGrant(new AccessToken.ChatGrant({ serviceSid: IS, endpointId: 'demo:alice:web' }))
    return t.toJwt()
  } finally {
    Date.now = realNow
  }
}

function dataDir(content: Record<string, unknown>): string {
  const dir = mkdtempSync(join(cwd, 'data-'))
  writeFileSync(join(dir, 'credentials.json'), JSON.stringify(content))
  return dir
}

const CREDENTIALS = {
  account_sid: AC,
  auth_token: 'f'.repeat(32),
  api_key_sid: SK,
  api_key_secret: SECRET,
  service_sid: IS,
}

// --- mint ---

test('token mint with flags prints one verifiable JWT and exits 0', () => {
  const r = run([
    'token',
    'mint',
    ...FLAGS,
    '--identity',
    'alice',
    '--endpoint-id',
    'demo:alice:web',
  ])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '')
  assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/)
  const p = verifyNow(r.stdout.trim())
  assert.equal(p.identity, 'alice')
  assert.equal(p.serviceSid, IS)
  assert.equal(p.endpointId, 'demo:alice:web')
  assert.equal(p.expiresAt - p.issuedAt!, 3600)
})

test('token mint honours --ttl, --nbf, --region and --alg', () => {
  const nbf = Math.floor(Date.now() / 1000)
  const r = run([
    'token',
    'mint',
    ...FLAGS,
    '--identity',
    'bob',
    '--ttl',
    '600',
    '--nbf',
    String(nbf),
    '--region',
    'ie1',
    '--alg',
    'HS512',
  ])
  assert.equal(r.code, 0, r.stderr)
  const { header, payload } = decodeAccessToken(r.stdout.trim())
  assert.deepEqual(header, { alg: 'HS512', typ: 'JWT', cty: 'twilio-fpa;v=1', twr: 'ie1' })
  assert.equal(payload['nbf'], nbf)
  assert.equal((payload['exp'] as number) - (payload['iat'] as number), 600)
  assert.equal(verifyNow(r.stdout.trim()).algorithm, 'HS512')
})

test('token mint takes credentials from PARLEY_* variables', () => {
  const r = run(['token', 'mint', '--identity', 'alice'], {
    PARLEY_ACCOUNT_SID: AC,
    PARLEY_API_KEY_SID: SK,
    PARLEY_API_KEY_SECRET: SECRET,
    PARLEY_SERVICE_SID: IS,
  })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(verifyNow(r.stdout.trim()).keySid, SK)
})

test('token mint takes credentials from TWILIO_* variables; PARLEY_* wins over TWILIO_*', () => {
  const twilio = {
    TWILIO_ACCOUNT_SID: AC2,
    TWILIO_API_KEY: SK2,
    TWILIO_API_SECRET: SECRET2,
    TWILIO_CHAT_SERVICE_SID: IS,
  }
  const r = run(['token', 'mint', '--identity', 'alice'], twilio)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(verifyNow(r.stdout.trim()).accountSid, AC2)
  const both = run(['token', 'mint', '--identity', 'alice'], {
    ...twilio,
    PARLEY_ACCOUNT_SID: AC,
    PARLEY_API_KEY_SID: SK,
    PARLEY_API_KEY_SECRET: SECRET,
  })
  assert.equal(both.code, 0, both.stderr)
  assert.equal(verifyNow(both.stdout.trim()).keySid, SK)
})

test('token mint falls back to <data>/credentials.json (--data, PARLEY_DATA, or ./.parley)', () => {
  const dir = dataDir(CREDENTIALS)
  const a = run(['token', 'mint', '--identity', 'alice', '--data', dir])
  assert.equal(a.code, 0, a.stderr)
  assert.equal(verifyNow(a.stdout.trim()).keySid, SK)
  const b = run(['token', 'mint', '--identity', 'alice'], { PARLEY_DATA: dir })
  assert.equal(b.code, 0, b.stderr)
  // Flags beat the file.
  const c = run([
    'token',
    'mint',
    '--identity',
    'alice',
    '--data',
    dir,
    '--account-sid',
    AC2,
    '--key-sid',
    SK2,
    '--secret',
    SECRET2,
  ])
  assert.equal(c.code, 0, c.stderr)
  assert.equal(verifyNow(c.stdout.trim()).accountSid, AC2)
})

test('token mint accepts the --api-key / --api-secret spelling printed by parley serve', () => {
  const r = run([
    'token',
    'mint',
    '--account-sid',
    AC,
    '--api-key',
    SK,
    '--api-secret',
    SECRET,
    '--service-sid',
    IS,
    '--identity',
    'alice',
  ])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(verifyNow(r.stdout.trim()).identity, 'alice')
})

test('token mint refuses a credentials.json secret for another key than the one given', () => {
  const dir = dataDir(CREDENTIALS)
  assertUsage(
    run(['token', 'mint', '--identity', 'a', '--data', dir, '--key-sid', SK2]),
    /belongs to another key/,
  )
})

test('token mint: wrong or missing arguments give one line on stderr and exit 2', () => {
  assertUsage(run(['token', 'mint', ...FLAGS]), /missing --identity/)
  assertUsage(run(['token', 'mint', '--identity', 'a']), /missing --account-sid/)
  assertUsage(run(['token', 'mint', '--identity', 'a', '--account-sid', AC]), /missing --key-sid/)
  assertUsage(
    run(['token', 'mint', ...FLAGS, '--identity', 'a', '--ttl', '86401']),
    /--ttl must be from 1 to 86400/,
  )
  assertUsage(
    run(['token', 'mint', ...FLAGS, '--identity', 'a', '--ttl', '1h']),
    /--ttl must be an integer/,
  )
  assertUsage(run(['token', 'mint', ...FLAGS, '--identity', 'a', '--ttl']), /--ttl needs a value/)
  assertUsage(
    run(['token', 'mint', ...FLAGS, '--identity', 'a', '--alg', 'RS256']),
    /--alg must be/,
  )
  assertUsage(
    run(['token', 'mint', ...FLAGS, '--identity', 'a', '--bogus']),
    /unknown option --bogus/,
  )
  assertUsage(run(['token', 'mint', ...FLAGS, '--identity', '-x']), /--identity=<value>/)
  assertUsage(run(['token', 'mint', ...FLAGS, '--identity', 'a', 'extra']), /unexpected argument/)
  assertUsage(
    run(['token', 'mint', ...FLAGS, '--identity', 'a', '--account-sid', 'ACnope']),
    /--account-sid must be AC/,
  )
  assertUsage(
    run(['token', 'mint', ...FLAGS, '--identity', 'a', '--service-sid', 'MG' + '0'.repeat(32)]),
    /--service-sid must be IS/,
  )
  assertUsage(
    run(['token', 'mint', ...FLAGS, '--identity', 'a', '--secret', 'short']),
    /at least 16 bytes/,
  )
  assertUsage(run(['token', 'mint', ...FLAGS, '--identity', 'a', '--region', 'IE 1']), /--region/)
  assertUsage(
    run(['token', 'mint', '--identity', 'a', '--data', dataDir({}).replace(/$/, '/missing')]),
    /missing --account-sid/,
  )
})

test('token mint: a malformed credentials.json is a usage error', () => {
  const dir = mkdtempSync(join(cwd, 'bad-'))
  writeFileSync(join(dir, 'credentials.json'), '{not json')
  assertUsage(run(['token', 'mint', '--identity', 'a', '--data', dir]), /not valid JSON/)
})

test('the secret never appears on stderr', () => {
  const r = run(['token', 'mint', ...FLAGS, '--identity', 'a', '--ttl', 'x'])
  assert.ok(!r.stderr.includes(SECRET))
})

// --- decode ---

test('token decode prints header, payload, ISO times and the remaining lifetime', () => {
  const jwt = tokenAt(NOW, { ttl: 3600 })
  const r = run(['token', 'decode', '--now', String(NOW + 600), jwt])
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.deepEqual(out.header, { alg: 'HS256', typ: 'JWT', cty: 'twilio-fpa;v=1' })
  assert.equal(out.payload.sub, AC)
  assert.deepEqual(out.times, { iat: '2027-01-15T08:00:00Z', exp: '2027-01-15T09:00:00Z' })
  assert.equal(out.expires_in, 3000)
  assert.equal(out.expired, false)
  assert.equal(out.lifetime, 3600)
  assert.equal(out.verified, false)
})

test('token decode reports an expired token and reads "-" from stdin', () => {
  const jwt = tokenAt(NOW, { ttl: 60 })
  const r = run(['token', 'decode', '--now', String(NOW + 100), '-'], {}, jwt + '\n')
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.expires_in, -40)
  assert.equal(out.expired, true)
})

test('token decode of a malformed token exits 1 with {code, message}', () => {
  const r = run(['token', 'decode', 'not-a-token'])
  assert.equal(r.code, 1)
  assert.deepEqual(Object.keys(JSON.parse(r.stdout)), ['code', 'message'])
  assert.equal(JSON.parse(r.stdout).code, 20101)
  assertUsage(run(['token', 'decode']), /missing <jwt>/)
  assertUsage(run(['token', 'decode', 'a', 'b']), /exactly one <jwt>/)
})

// --- verify ---

test('token verify prints the principal as one snake_case JSON object and exits 0', () => {
  const jwt = tokenAt(NOW)
  const r = run([
    'token',
    'verify',
    '--secret',
    SECRET,
    '--account-sid',
    AC,
    '--key-sid',
    SK,
    '--now',
    String(NOW + 10),
    jwt,
  ])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.split('\n').filter(Boolean).length, 1)
  const out = JSON.parse(r.stdout)
  assert.deepEqual(
    { ...out, grants: undefined },
    {
      identity: 'alice',
      account_sid: AC,
      key_sid: SK,
      service_sid: IS,
      endpoint_id: 'demo:alice:web',
      issued_at: NOW,
      not_before: null,
      expires_at: NOW + 3600,
      algorithm: 'HS256',
      region: null,
      grant_key: 'chat',
      grants: undefined,
    },
  )
})

test('token verify rejects with exit 1 and {code, message}: expired, not yet valid, bad signature, other account', () => {
  const jwt = tokenAt(NOW)
  const base = ['token', 'verify', '--secret', SECRET, '--account-sid', AC]
  const cases: [string[], number][] = [
    [[...base, '--now', String(NOW + 3600 + 60), jwt], 20104],
    [[...base, '--now', String(NOW - 61), jwt], 20105],
    [
      ['token', 'verify', '--secret', SECRET2, '--account-sid', AC, '--now', String(NOW), jwt],
      20107,
    ],
    [[...base, '--key-sid', SK2, '--now', String(NOW), jwt], 20107],
    [
      ['token', 'verify', '--secret', SECRET, '--account-sid', AC2, '--now', String(NOW), jwt],
      20103,
    ],
    [[...base, '--now', String(NOW), jwt.slice(0, -3)], 20107],
  ]
  for (const [args, code] of cases) {
    const r = run(args)
    assert.equal(r.code, 1, `${code}: ${r.stderr}`)
    const out = JSON.parse(r.stdout)
    assert.deepEqual(Object.keys(out), ['code', 'message'])
    assert.equal(out.code, code, out.message)
    assert.ok(!r.stdout.includes(SECRET) && !r.stdout.includes(jwt.split('.')[1]!))
  }
  const expired = JSON.parse(run([...base, '--now', String(NOW + 3600 + 125), jwt]).stdout)
  assert.equal(expired.message, 'token expired at 2027-01-15T09:00:00Z (125 s ago)')
})

test('token verify needs the account: from --account-sid, the environment or credentials.json, never the token', () => {
  const jwt = tokenAt(NOW)
  assertUsage(
    run(['token', 'verify', '--secret', SECRET, jwt]),
    /missing --account-sid .*sub is not trusted/,
  )
  const env = run(['token', 'verify', '--secret', SECRET, '--now', String(NOW), jwt], {
    PARLEY_ACCOUNT_SID: AC,
  })
  assert.equal(env.code, 0, env.stderr)
  const dir = dataDir(CREDENTIALS)
  const file = run(['token', 'verify', '--data', dir, '--now', String(NOW), jwt])
  assert.equal(file.code, 0, file.stderr)
  assert.equal(JSON.parse(file.stdout).key_sid, SK)
})

test('token verify: a --secret flag is not paired with a key SID from credentials.json', () => {
  // credentials.json names SK; a token signed by SK2 with --secret SECRET2 must still verify.
  const realNow = Date.now
  Date.now = () => NOW * 1000
  const t = new AccessToken(AC2, SK2, SECRET2, { identity: 'b' })
  t.addGrant(new AccessToken.ChatGrant({ serviceSid: IS }))
  const jwt = t.toJwt()
  Date.now = realNow
  const dir = dataDir(CREDENTIALS)
  const r = run([
    'token',
    'verify',
    '--data',
    dir,
    '--secret',
    SECRET2,
    '--account-sid',
    AC2,
    '--now',
    String(NOW),
    jwt,
  ])
  assert.equal(r.code, 0, r.stdout + r.stderr)
})

test('token verify: wrong or missing arguments exit 2', () => {
  const jwt = tokenAt(NOW)
  assertUsage(run(['token', 'verify', '--account-sid', AC, jwt]), /missing --secret/)
  assertUsage(run(['token', 'verify', '--secret', SECRET, '--account-sid', AC]), /missing <jwt>/)
  assertUsage(
    run(['token', 'verify', '--secret', SECRET, '--account-sid', AC, '--now', 'soon', jwt]),
    /--now must be an integer/,
  )
  assertUsage(
    run(['token', 'verify', '--secret', SECRET, '--account-sid', AC, '--key-sid', 'SK1', jwt]),
    /--key-sid must be SK/,
  )
  assertUsage(
    run(['token', 'verify', '--secret', 'short', '--account-sid', AC, jwt]),
    /at least 16 bytes/,
  )
})

// --- dispatcher ---

test('parley token without a subcommand, or with an unknown one, exits 2; --help exits 0', () => {
  assertUsage(run(['token']), /missing subcommand/)
  assertUsage(run(['token', 'frobnicate']), /unknown subcommand/)
  for (const args of [
    ['token', '--help'],
    ['token', 'mint', '--help'],
    ['token', 'decode', '-h'],
    ['token', 'verify', '--help'],
  ]) {
    const r = run(args)
    assert.equal(r.code, 0, args.join(' '))
    assert.match(r.stdout, /Usage: parley token/)
  }
})
