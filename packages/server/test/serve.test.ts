/**
 * `parley serve` as a real process: first-start banner and credentials.json (mode 0600), readiness on /healthz,
 * the credentials work, SIGTERM exits 0, a second process on the same data directory is refused, and a restart
 * does not print secrets again.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AccessToken, ChatGrant } from '@parley/token'
import { RawClient } from './twilsock/support.ts'

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli.js')

interface Proc {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exit: Promise<number | null>
}

function run(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PARLEY_LOG_LEVEL: 'info', ...env },
  })
  let out = ''
  let err = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  return { child, stdout: () => out, stderr: () => err, exit }
}

async function waitFor<T>(fn: () => T | undefined, ms = 15_000): Promise<T> {
  const t0 = Date.now()
  for (;;) {
    const v = fn()
    if (v !== undefined) return v
    if (Date.now() - t0 > ms) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 50))
  }
}

test('parley serve: banner, credentials.json 0600, healthz, SIGTERM → 0, second process refused, quiet restart', async () => {
  const data = mkdtempSync(join(tmpdir(), 'parley-serve-'))
  try {
    // 1. First start prints the banner with the secrets once.
    const p1 = run(['serve', '--port', '0', '--data', data])
    const url = await waitFor(() => /running at (http:\/\/127\.0\.0\.1:\d+)/.exec(p1.stdout())?.[1])
    const health = await fetch(`${url}/healthz`)
    assert.equal(health.status, 200)

    const credsPath = join(data, 'credentials.json')
    assert.equal(statSync(credsPath).mode & 0o777, 0o600)
    const creds = JSON.parse(readFileSync(credsPath, 'utf8')) as Record<string, string>
    for (const k of ['account_sid', 'auth_token', 'api_key_sid', 'api_key_secret', 'service_sid']) {
      assert.equal(typeof creds[k], 'string', k)
    }
    assert.match(creds['account_sid']!, /^AC[0-9a-f]{32}$/)
    assert.match(creds['api_key_sid']!, /^SK[0-9a-f]{32}$/)
    assert.match(creds['service_sid']!, /^IS[0-9a-f]{32}$/)
    const banner = p1.stdout()
    assert.ok(banner.includes(creds['auth_token']!))
    assert.ok(banner.includes(creds['api_key_secret']!))
    assert.match(banner, /parley token mint .*--identity/)

    // 2. The printed credentials work, and logs never contain them.
    const auth =
      'Basic ' + Buffer.from(`${creds['account_sid']}:${creds['auth_token']}`).toString('base64')
    const svc = await fetch(`${url}/v2/Services/${creds['service_sid']}`, {
      headers: { authorization: auth },
    })
    assert.equal(svc.status, 200)
    const keyAuth =
      'Basic ' +
      Buffer.from(`${creds['api_key_sid']}:${creds['api_key_secret']}`).toString('base64')
    assert.equal(
      (await fetch(`${url}/v2/Services`, { headers: { authorization: keyAuth } })).status,
      200,
    )
    await waitFor(() => (p1.stderr().includes('"path":"/v2/Services"') ? true : undefined))
    const logs = p1.stderr()
    for (const secret of [creds['auth_token']!, creds['api_key_secret']!, auth, keyAuth]) {
      assert.ok(!logs.includes(secret), 'a secret leaked into the logs')
    }
    for (const line of logs.trim().split('\n')) JSON.parse(line)

    // 3. A second process on the same data directory is refused with one line and a non-zero exit.
    const p2 = run(['serve', '--port', '0', '--data', data])
    const code2 = await p2.exit
    assert.notEqual(code2, 0)
    assert.equal(p2.stderr().trim().split('\n').length, 1, p2.stderr())
    assert.match(p2.stderr(), /already in use/)

    // 4. SIGTERM: clean exit 0.
    p1.child.kill('SIGTERM')
    assert.equal(await p1.exit, 0)

    // 5. Restart: no secrets printed again, same account.
    const p3 = run(['serve', '--port', '0', '--data', data])
    const url3 = await waitFor(
      () => /running at (http:\/\/127\.0\.0\.1:\d+)/.exec(p3.stdout())?.[1],
    )
    assert.ok(!p3.stdout().includes(creds['auth_token']!))
    assert.ok(!p3.stdout().includes(creds['api_key_secret']!))
    const again = await fetch(`${url3}/v2/Services/${creds['service_sid']}`, {
      headers: { authorization: auth },
    })
    assert.equal(again.status, 200)
    p3.child.kill('SIGINT')
    assert.equal(await p3.exit, 0)
  } finally {
    rmSync(data, { recursive: true, force: true })
  }
})

test('parley serve rejects bad flags with exit 2 and one line', async () => {
  const p = run(['serve', '--port', 'seventy'])
  assert.equal(await p.exit, 2)
  assert.match(p.stderr(), /port/)
  const q = run(['serve', '--bogus'])
  assert.equal(await q.exit, 2)
  assert.match(q.stderr(), /unknown option --bogus/)
})

test('parley serve on a busy port exits 1 with one line and creates no credentials; the next start prints them', async () => {
  const data = mkdtempSync(join(tmpdir(), 'parley-serve-busy-'))
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
  const port = (blocker.address() as AddressInfo).port
  try {
    const p = run(['serve', '--port', String(port), '--data', data])
    assert.equal(await p.exit, 1)
    assert.equal(p.stderr().trim().split('\n').length, 1, p.stderr())
    assert.match(p.stderr(), /already in use/)
    assert.equal(existsSync(join(data, 'credentials.json')), false)

    const q = run(['serve', '--port', '0', '--data', data])
    await waitFor(() => (/Auth Token/.test(q.stdout()) ? true : undefined))
    assert.equal(existsSync(join(data, 'credentials.json')), true)
    q.child.kill('SIGTERM')
    assert.equal(await q.exit, 0)
  } finally {
    blocker.close()
    rmSync(data, { recursive: true, force: true })
  }
})

test('PARLEY_TOKEN_WARNING_LEAD_SECONDS given to parley serve makes the gateway send token_about_to_expire early', async () => {
  const data = mkdtempSync(join(tmpdir(), 'parley-lead-'))
  // 1. A lead (1 day) longer than the token's lifetime (1 hour): the warning is due right after init. With the
  //    default 180 s lead it would come 57 minutes later.
  const p = run(['serve', '--port', '0', '--data', data], {
    PARLEY_TOKEN_WARNING_LEAD_SECONDS: '86400',
  })
  let client: RawClient | undefined
  try {
    const url = await waitFor(
      () => /running at (http:\/\/127\.0\.0\.1:\d+)/.exec(p.stdout())?.[1],
      30_000,
    )
    const creds = JSON.parse(readFileSync(join(data, 'credentials.json'), 'utf8')) as Record<
      string,
      string
    >
    const token = new AccessToken(
      creds['account_sid']!,
      creds['api_key_sid']!,
      creds['api_key_secret']!,
      { identity: 'alice', ttl: 3600 },
    )
    token.addGrant(new ChatGrant({ serviceSid: creds['service_sid']! }))

    // 2. init; the warning follows at once.
    client = await RawClient.connect(url.replace(/^http/, 'ws') + '/v3/wsconnect')
    const id = client.send({
      method: 'init',
      token: token.toJwt(),
      continuation_token: null,
      metadata: { ver: '0.12.2', env: 'Node.js', type: 'chat', sdk: 'JS', sdkv: '6.0.0' },
      registrations: [],
      capabilities: ['client_update'],
    })
    const reply = await client.reply(id, 30_000)
    assert.equal((reply.header['status'] as { code: number }).code, 200)
    const cu = await client.waitFor(
      (pkt) =>
        pkt.header['method'] === 'client_update' &&
        pkt.header['client_update_type'] === 'token_about_to_expire',
      30_000,
    )
    assert.ok(cu)
  } finally {
    client?.close()
    if (p.child.exitCode === null) p.child.kill('SIGTERM')
    await p.exit
    rmSync(data, { recursive: true, force: true })
  }
})
