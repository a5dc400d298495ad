/**
 * Security properties of the REST layer and its configuration, on a real server: the 401 is the same bytes for every
 * kind of bad credentials, no log line carries a credential, a token or a query string, and configuration errors do
 * not echo URL credentials.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AccessToken, ChatGrant } from '@parley/token'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { createLogger } from '../../src/http/log.ts'
import { createParleyServer, type ParleyServer } from '../../src/main.ts'
import { RawClient } from '../twilsock/support.ts'

const basic = (user: string, pass: string): string =>
  'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64')

async function start(lines: string[]): Promise<ParleyServer> {
  return createParleyServer(
    loadConfig({ port: 0, host: '127.0.0.1', limits: { authFailureLimit: 0 } }, {}),
    {
      storage: 'memory',
      bootstrap: true,
      logger: createLogger({ level: 'debug', sink: { write: (l: string) => lines.push(l) } }),
    },
  )
}

test('the 401 for an unknown SID, a wrong secret, a malformed or missing header is byte-identical', async () => {
  const parley = await start([])
  try {
    const b = parley.bootstrapped!
    const cases: [string, Record<string, string>][] = [
      ['unknown account SID', { authorization: basic('AC' + '0'.repeat(32), b.authToken) }],
      ['known account, wrong token', { authorization: basic(b.account.sid, 'x'.repeat(32)) }],
      ['unknown key SID', { authorization: basic('SK' + '0'.repeat(32), b.apiKey.secret) }],
      ['known key, wrong secret', { authorization: basic(b.apiKey.sid, 'y'.repeat(32)) }],
      ['key SID with the auth token', { authorization: basic(b.apiKey.sid, b.authToken) }],
      ['not a SID', { authorization: basic('alice', 'secret') }],
      ['malformed header', { authorization: 'Bearer abc' }],
      ['no header', {}],
    ]
    const seen: { name: string; status: number; headers: string; body: string }[] = []
    for (const [name, headers] of cases) {
      const r = await fetch(`${parley.url}/v2/Services/${b.service.sid}`, { headers })
      const h = [...r.headers].filter(([k]) => k !== 'date' && k !== 'keep-alive')
      seen.push({ name, status: r.status, headers: JSON.stringify(h), body: await r.text() })
    }
    for (const s of seen) {
      assert.equal(s.status, 401, s.name)
      assert.equal(s.body, seen[0]!.body, s.name)
      assert.equal(s.headers, seen[0]!.headers, s.name)
    }
  } finally {
    await parley.close()
  }
})

test('no log line carries an Authorization header, a secret, an Access Token or a query string', async () => {
  const lines: string[] = []
  const parley = await start(lines)
  const b = parley.bootstrapped!
  const secrets: string[] = [b.authToken, b.apiKey.secret]
  let client: RawClient | undefined
  try {
    // 1. REST: good and bad credentials, a query with a secret-looking value, a token in the path, a 404.
    const good = basic(b.account.sid, b.authToken)
    const bad = basic(b.account.sid, 'wrong-secret-value-123')
    secrets.push(good, bad, 'wrong-secret-value-123')
    const token = new AccessToken(b.account.sid, b.apiKey.sid, b.apiKey.secret, {
      identity: 'alice',
      ttl: 600,
    })
    token.addGrant(new ChatGrant({ serviceSid: b.service.sid }))
    const jwt = token.toJwt()
    secrets.push(jwt, 'querysecret42')
    for (const [path, auth] of [
      [`/v2/Services?PageSize=5&Token=querysecret42`, good],
      [`/v2/Services?Token=querysecret42`, bad],
      [`/v2/Services/${jwt}`, good],
      [`/v2/Nope?Token=querysecret42`, good],
    ] as const) {
      await (await fetch(parley.url + path, { headers: { authorization: auth } })).arrayBuffer()
    }

    // 2. Twilsock: a good init, a bad one, a query string on the upgrade URL.
    const ws = parley.url.replace(/^http/, 'ws') + '/v3/wsconnect?token=querysecret42'
    client = await RawClient.connect(ws)
    const ok = await client.init(jwt)
    assert.equal((ok.header['status'] as { code: number }).code, 200)
    const forged = jwt.slice(0, -4) + 'AAAA'
    secrets.push(forged)
    const other = await RawClient.connect(ws)
    const rejected = await other.init(forged)
    assert.equal((rejected.header['status'] as { code: number }).code, 401)
    other.close()
    await other.closed
  } finally {
    client?.close()
    await client?.closed
    await parley.close()
  }

  // 3. Every line is JSON, the request lines are there, and none holds a secret.
  assert.ok(lines.some((l) => l.includes('"path":"/v2/Services"')))
  assert.ok(
    lines.some((l) => l.includes('[redacted]')),
    'a token-like path segment is redacted',
  )
  const all = lines.join('')
  for (const l of lines) JSON.parse(l)
  for (const s of secrets)
    assert.ok(!all.includes(s), `a secret leaked into the logs: ${s.slice(0, 6)}…`)
  assert.ok(!/authorization/i.test(all), 'an Authorization header was logged')
  assert.ok(!all.includes('PageSize=') && !all.includes('token='), 'a query string was logged')
})

test('configuration errors never echo the credentials of a URL', () => {
  const cases: Record<string, string>[] = [
    { PARLEY_PUBLIC_URL: 'not a url://user:hunter2@x' },
    { PARLEY_ALLOWED_ORIGINS: 'https://user:hunter2@chat.example.com' },
    { PARLEY_HOST: 'user:hunter2@example.com' },
  ]
  for (const env of cases) {
    assert.throws(
      () => loadConfig({}, env),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('hunter2'),
      JSON.stringify(env),
    )
  }
})
