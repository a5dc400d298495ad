/**
 * The realtime settings reach the Twilsock gateway (the warning lead from `parley serve`'s environment is tested in
 * serve.test.ts): the continuation secret persisted in the data directory (mode 0600) across restarts, and the WebSocket Origin
 * policy.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, type ConfigOptions } from '../src/config.ts'
import { CONTINUATION_SECRET_FILE, createParleyServer } from '../src/main.ts'
import { benchKeys, mintToken } from '../bench/support/twilsock-client.ts'
import { RawClient } from './twilsock/support.ts'

function wsUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, 'ws') + '/v3/wsconnect'
}

test('the continuation secret is persisted with mode 0600 (data directory 0700), so derived endpoint ids survive a restart', async () => {
  const root = mkdtempSync(join(tmpdir(), 'parley-cont-'))
  // A directory that does not exist yet: createParleyServer creates it owner-only.
  const data = join(root, 'data')
  const start = (opts: ConfigOptions = {}) =>
    createParleyServer(
      loadConfig({ port: 0, host: '127.0.0.1', dataDir: data, logLevel: 'silent', ...opts }, {}),
      { bootstrap: true },
    )
  try {
    // 1. First start: init without a continuation token gets a new one (and a derived endpoint id).
    const p1 = await start()
    const b = p1.bootstrapped!
    const creds = benchKeys(b)
    const c1 = await RawClient.connect(wsUrl(p1.url))
    const r1 = await c1.init(mintToken(creds, 'alice'))
    const token = r1.header['continuation_token'] as string
    const storage1 = (r1.header['offline_storage'] as Record<string, { storage_id: string }>)[
      'ip_messaging'
    ]?.storage_id
    assert.equal(typeof token, 'string')
    assert.match(storage1 ?? '', /^parley:/)
    c1.close()
    await c1.closed
    await p1.close()

    assert.equal(statSync(data).mode & 0o777, 0o700)
    const secretPath = join(data, CONTINUATION_SECRET_FILE)
    assert.equal(statSync(secretPath).mode & 0o777, 0o600)
    assert.equal(statSync(join(data, 'master.key')).mode & 0o777, 0o600)
    // 2. Someone loosened the key files (a copy, an unpack): the next start makes them owner-only again.
    chmodSync(secretPath, 0o644)
    chmodSync(join(data, 'master.key'), 0o640)

    // 3. Restart: the same continuation token is accepted, same endpoint.
    const p2 = await start()
    assert.equal(statSync(secretPath).mode & 0o777, 0o600)
    assert.equal(statSync(join(data, 'master.key')).mode & 0o777, 0o600)
    const c2 = await RawClient.connect(wsUrl(p2.url))
    const r2 = await c2.init(mintToken(creds, 'alice'), { continuation_token: token })
    assert.deepEqual(r2.header['continuation_token_status'], { reissued: false })
    assert.equal(r2.header['continuation_token'], token)
    assert.equal(
      (r2.header['offline_storage'] as Record<string, { storage_id: string }>)['ip_messaging']
        ?.storage_id,
      storage1,
    )
    c2.close()
    await c2.closed
    await p2.close()

    // 4. Control: with another secret (PARLEY_CONTINUATION_SECRET) the old token is not honoured.
    const p3 = await start({ continuationSecret: 'cd'.repeat(32) })
    const c3 = await RawClient.connect(wsUrl(p3.url))
    const r3 = await c3.init(mintToken(creds, 'alice'), { continuation_token: token })
    assert.deepEqual(r3.header['continuation_token_status'], { reissued: true })
    c3.close()
    await c3.closed
    await p3.close()
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})

test('WebSocket Origin policy: by default loopback and same-origin pages only; PARLEY_ALLOWED_ORIGINS replaces it', async () => {
  const statusOf = async (url: string, origin: string | undefined): Promise<number> => {
    try {
      const c = await RawClient.connect(url, origin === undefined ? {} : { headers: { origin } })
      c.close()
      await c.closed
      return 101
    } catch (err) {
      return (err as { statusCode?: number }).statusCode ?? -1
    }
  }
  const start = (env: Record<string, string>) =>
    createParleyServer(loadConfig({ port: 0, host: '127.0.0.1', logLevel: 'silent' }, env), {
      storage: 'memory',
    })

  // 1. Default.
  const p1 = await start({})
  try {
    const url = wsUrl(p1.url)
    const self = new URL(p1.url).origin
    assert.equal(await statusOf(url, undefined), 101)
    assert.equal(await statusOf(url, self), 101)
    assert.equal(await statusOf(url, 'http://localhost:3000'), 101)
    assert.equal(await statusOf(url, 'http://127.0.0.1:5173'), 101)
    assert.equal(await statusOf(url, 'https://evil.example'), 403)
    assert.equal(await statusOf(url, 'null'), 403)
  } finally {
    await p1.close()
  }

  // 2. An explicit list: only those (plus same-origin and non-browser clients).
  const p2 = await start({ PARLEY_ALLOWED_ORIGINS: 'https://chat.example.com' })
  try {
    const url = wsUrl(p2.url)
    assert.equal(await statusOf(url, undefined), 101)
    assert.equal(await statusOf(url, 'https://chat.example.com'), 101)
    assert.equal(await statusOf(url, new URL(p2.url).origin), 101)
    assert.equal(await statusOf(url, 'http://localhost:3000'), 403)
    assert.equal(await statusOf(url, 'https://evil.example'), 403)
  } finally {
    await p2.close()
  }

  // 3. `*`: every origin.
  const p3 = await start({ PARLEY_ALLOWED_ORIGINS: '*' })
  try {
    assert.equal(await statusOf(wsUrl(p3.url), 'https://evil.example'), 101)
  } finally {
    await p3.close()
  }
})

test('realtime limits from the environment reach the gateway: sessions per identity, frame size, failed inits per address', async () => {
  const parley = await createParleyServer(
    loadConfig(
      { port: 0, host: '127.0.0.1', logLevel: 'silent' },
      {
        PARLEY_MAX_SESSIONS_PER_IDENTITY: '1',
        PARLEY_TWILSOCK_MAX_FRAME_BYTES: '1024',
        PARLEY_TWILSOCK_AUTH_FAILURE_LIMIT: '2',
        // A day-long window: the budget does not refill while the test runs, however slow the machine.
        PARLEY_AUTH_FAILURE_WINDOW_MS: '86400000',
      },
    ),
    { storage: 'memory', bootstrap: true },
  )
  const open: RawClient[] = []
  try {
    const b = parley.bootstrapped!
    const creds = benchKeys(b)
    const url = wsUrl(parley.url)
    const connect = async (): Promise<RawClient> => {
      const c = await RawClient.connect(url)
      open.push(c)
      return c
    }
    const code = (p: { header: Record<string, unknown> }): number =>
      (p.header['status'] as { code: number }).code

    // 1. One session per identity: the second init for alice is refused with 429.
    assert.equal(code(await (await connect()).init(mintToken(creds, 'alice'))), 200)
    assert.equal(code(await (await connect()).init(mintToken(creds, 'alice'))), 429)

    // 2. A frame over 1 KiB closes the socket with 1009.
    const big = await connect()
    big.sendRaw(Buffer.alloc(2048, 0x20))
    assert.equal((await big.closed).code, 1009)

    // 3. Two rejected inits from this address use up its budget; the next upgrade gets HTTP 429.
    const forged = mintToken(creds, 'bob').slice(0, -4) + 'AAAA'
    assert.equal(code(await (await connect()).init(forged)), 401)
    assert.equal(code(await (await connect()).init(forged)), 401)
    await assert.rejects(
      RawClient.connect(url),
      (e: { statusCode?: number }) => e.statusCode === 429,
    )
  } finally {
    for (const c of open) c.close()
    await Promise.all(open.map((c) => c.closed))
    await parley.close()
  }
})

test('GET /metrics shows the realtime gateway, the store and (when on) the socket process', async () => {
  const root = mkdtempSync(join(tmpdir(), 'parley-metrics-'))
  try {
    for (const socketProcess of [false, true]) {
      const parley = await createParleyServer(
        loadConfig(
          {
            port: 0,
            host: '127.0.0.1',
            dataDir: join(root, String(socketProcess)),
            logLevel: 'silent',
            socketProcess,
          },
          {},
        ),
        { bootstrap: true },
      )
      try {
        const scrape = async (): Promise<Map<string, number>> => {
          const text = await (await fetch(`${parley.url}/metrics`)).text()
          const m = new Map<string, number>()
          for (const line of text.split('\n')) {
            const [name, value] = line.split(' ')
            if (name && value && !line.startsWith('#')) m.set(name, Number(value))
          }
          return m
        }
        const before = await scrape()
        assert.equal(before.get('parley_twilsock_sessions'), 0)
        assert.equal(before.get('parley_twilsock_connections'), 0)
        assert.equal(before.get('parley_sync_subscriptions'), 0)
        assert.ok(
          (before.get('parley_store_wal_syncs_total') ?? -1) > 0,
          'bootstrap writes were synced',
        )
        assert.ok(before.has('parley_store_wal_bytes'))
        assert.equal(before.has('parley_socket_process_starts_total'), socketProcess)

        const c = await RawClient.connect(wsUrl(parley.url))
        await c.init(mintToken(benchKeys(parley.bootstrapped!), 'alice'))
        const during = await scrape()
        assert.equal(during.get('parley_twilsock_sessions'), 1)
        assert.equal(during.get('parley_twilsock_connections'), 1)
        if (socketProcess) {
          assert.equal(during.get('parley_socket_process_starts_total'), 1)
          assert.equal(during.get('parley_socket_process_connections'), 1)
        }
        c.close()
        await c.closed
      } finally {
        await parley.close()
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})
