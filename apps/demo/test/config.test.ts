import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { ConfigError, loadConfig, loadCredentials, twilsockUrlFor } from '../src/config.ts'
import { fakeCredentials } from './support/harness.ts'

/** A readFile double over an in-memory directory. */
function files(entries: Record<string, string>) {
  return (path: string) => entries[path]
}

void describe('loadCredentials', () => {
  void test('reads <PARLEY_DATA_DIR>/credentials.json (default ./.parley under cwd)', () => {
    const c = fakeCredentials()
    const cfg = loadCredentials({
      env: {},
      cwd: '/srv/app',
      readFile: files({ '/srv/app/.parley/credentials.json': JSON.stringify(c) }),
    })
    assert.deepEqual(cfg, {
      accountSid: c['account_sid'],
      apiKeySid: c['api_key_sid'],
      apiKeySecret: c['api_key_secret'],
      serviceSid: c['service_sid'],
    })
    const other = loadCredentials({
      env: { PARLEY_DATA_DIR: 'data' },
      cwd: '/srv/app',
      readFile: files({ '/srv/app/data/credentials.json': JSON.stringify(c) }),
    })
    assert.equal(other.serviceSid, c['service_sid'])
  })

  void test('environment variables win over the file, field by field', () => {
    const file = fakeCredentials()
    const env = fakeCredentials()
    const cfg = loadCredentials({
      env: { PARLEY_SERVICE_SID: env['service_sid'], PARLEY_API_KEY_SECRET: env['api_key_secret'] },
      cwd: '/x',
      readFile: files({ '/x/.parley/credentials.json': JSON.stringify(file) }),
    })
    assert.equal(cfg.serviceSid, env['service_sid'])
    assert.equal(cfg.apiKeySecret, env['api_key_secret'])
    assert.equal(cfg.accountSid, file['account_sid'])
    assert.equal(cfg.apiKeySid, file['api_key_sid'])
  })

  void test('works from the environment alone', () => {
    const c = fakeCredentials()
    const cfg = loadCredentials({
      env: {
        PARLEY_ACCOUNT_SID: c['account_sid'],
        PARLEY_API_KEY_SID: c['api_key_sid'],
        PARLEY_API_KEY_SECRET: c['api_key_secret'],
        PARLEY_SERVICE_SID: c['service_sid'],
      },
      readFile: () => undefined,
    })
    assert.equal(cfg.accountSid, c['account_sid'])
  })

  void test('missing credentials: a ConfigError marked missing that names the variables', () => {
    assert.throws(
      () => loadCredentials({ env: {}, cwd: '/x', readFile: () => undefined }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.missing &&
        /PARLEY_API_KEY_SECRET/.test(e.message) &&
        /\/x\/\.parley\/credentials\.json/.test(e.message),
    )
  })

  void test('malformed SIDs or JSON are ConfigErrors that do not echo the secret', () => {
    const c = fakeCredentials()
    const bad = { ...c, service_sid: 'MG' + c['service_sid']!.slice(2) }
    assert.throws(
      () =>
        loadCredentials({
          env: {},
          cwd: '/x',
          readFile: files({ '/x/.parley/credentials.json': JSON.stringify(bad) }),
        }),
      (e: unknown) =>
        e instanceof ConfigError &&
        !e.missing &&
        /PARLEY_SERVICE_SID/.test(e.message) &&
        !e.message.includes(c['api_key_secret']!),
    )
    assert.throws(
      () =>
        loadCredentials({
          env: {},
          cwd: '/x',
          readFile: files({ '/x/.parley/credentials.json': '{nope' }),
        }),
      ConfigError,
    )
  })

  void test('reads a real file from disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-demo-'))
    try {
      const c = fakeCredentials()
      writeFileSync(join(dir, 'credentials.json'), JSON.stringify(c))
      assert.equal(loadCredentials({ env: { PARLEY_DATA_DIR: dir } }).apiKeySid, c['api_key_sid'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

void describe('loadConfig', () => {
  const c = fakeCredentials()
  const creds = {
    PARLEY_ACCOUNT_SID: c['account_sid'],
    PARLEY_API_KEY_SID: c['api_key_sid'],
    PARLEY_API_KEY_SECRET: c['api_key_secret'],
    PARLEY_SERVICE_SID: c['service_sid'],
  }
  const load = (env: Record<string, string>) =>
    loadConfig({ env: { ...creds, ...env }, cwd: '/srv', readFile: () => undefined })

  void test('defaults: port 3000, TTL 3600, local Parley on 3210, data under .parley/demo', () => {
    const cfg = load({})
    assert.equal(cfg.port, 3000)
    assert.equal(cfg.host, '127.0.0.1')
    assert.equal(cfg.tokenTtl, 3600)
    assert.equal(cfg.parleyUrl, 'http://127.0.0.1:3210/')
    assert.equal(cfg.twilsockUrl, 'ws://127.0.0.1:3210/v3/wsconnect')
    assert.equal(cfg.dataDir, '/srv/.parley/demo')
    assert.equal(cfg.appName, 'ParleyDemo')
    assert.equal(cfg.trustProxy, false)
    assert.equal(cfg.publicOrigin, undefined)
  })

  void test('DEMO_PORT, DEMO_TOKEN_TTL, PARLEY_URL, DEMO_PUBLIC_ORIGIN and DEMO_DATA_DIR', () => {
    const cfg = load({
      DEMO_PORT: '8080',
      DEMO_TOKEN_TTL: '900',
      PARLEY_URL: 'https://chat.example.com/parley/',
      DEMO_PUBLIC_ORIGIN: 'https://demo.example.com/',
      DEMO_DATA_DIR: 'var/demo',
      DEMO_TRUST_PROXY: '1',
    })
    assert.equal(cfg.port, 8080)
    assert.equal(cfg.tokenTtl, 900)
    assert.equal(cfg.twilsockUrl, 'wss://chat.example.com/parley/v3/wsconnect')
    assert.equal(cfg.publicOrigin, 'https://demo.example.com')
    assert.equal(cfg.dataDir, '/srv/var/demo')
    assert.equal(cfg.trustProxy, true)
  })

  void test('without PARLEY_URL, the url that parley serve wrote to credentials.json is used', () => {
    const file = { ...fakeCredentials(), url: 'http://127.0.0.1:34263' }
    const read = (p: string) =>
      p === '/srv/.parley/credentials.json' ? JSON.stringify(file) : undefined
    const cfg = loadConfig({ env: {}, cwd: '/srv', readFile: read })
    assert.equal(cfg.twilsockUrl, 'ws://127.0.0.1:34263/v3/wsconnect')
    const over = loadConfig({
      env: { PARLEY_URL: 'https://p.example' },
      cwd: '/srv',
      readFile: read,
    })
    assert.equal(over.twilsockUrl, 'wss://p.example/v3/wsconnect')
    // PARLEY_PORT (which parley serve also reads) wins over a url left in the file by an earlier run.
    const port = loadConfig({ env: { PARLEY_PORT: '4000' }, cwd: '/srv', readFile: read })
    assert.equal(port.twilsockUrl, 'ws://127.0.0.1:4000/v3/wsconnect')
  })

  void test('PARLEY_TWILSOCK_URL overrides the derived URL and must be ws(s)', () => {
    assert.equal(
      load({ PARLEY_TWILSOCK_URL: 'wss://ws.example.com/v3/wsconnect' }).twilsockUrl,
      'wss://ws.example.com/v3/wsconnect',
    )
    assert.throws(() => load({ PARLEY_TWILSOCK_URL: 'http://x/v3/wsconnect' }), ConfigError)
  })

  void test('rejects out-of-range or malformed values with the setting named', () => {
    for (const [name, value] of [
      ['DEMO_TOKEN_TTL', '86401'],
      ['DEMO_TOKEN_TTL', '9'],
      ['DEMO_TOKEN_TTL', '1h'],
      ['DEMO_PORT', '70000'],
      ['PARLEY_URL', 'ftp://x'],
      ['PARLEY_URL', 'http://user:pw@x'],
      ['DEMO_TRUST_PROXY', 'maybe'],
      ['DEMO_SESSION_SECRET', 'too-short'],
      ['DEMO_APP_NAME', 'has:colon'],
    ] as const) {
      assert.throws(
        () => load({ [name]: value }),
        (e: unknown) => e instanceof ConfigError && e.message.startsWith(name),
        `${name}=${value}`,
      )
    }
  })

  void test('relative paths resolve against INIT_CWD (where npm was run) when set', () => {
    const c = fakeCredentials()
    const read = (p: string) =>
      p === '/repo/.parley/credentials.json' ? JSON.stringify(c) : undefined
    const cfg = loadConfig({ env: { INIT_CWD: '/repo' }, readFile: read })
    assert.equal(cfg.serviceSid, c['service_sid'])
    assert.equal(cfg.dataDir, '/repo/.parley/demo')
  })

  void test('twilsockUrlFor maps http→ws and https→wss, keeping a base path', () => {
    assert.equal(twilsockUrlFor('http://127.0.0.1:3210'), 'ws://127.0.0.1:3210/v3/wsconnect')
    assert.equal(twilsockUrlFor('https://x.example/'), 'wss://x.example/v3/wsconnect')
    assert.equal(twilsockUrlFor('https://x.example/chat'), 'wss://x.example/chat/v3/wsconnect')
  })
})
