import assert from 'node:assert/strict'
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { harness, rejectsCode } from './harness.ts'

test('bootstrap returns an AC + auth token, an SK + secret and a default service, once', async () => {
  const h = await harness()
  const { account, authToken, apiKey, service } = h.boot
  assert.match(account.sid, /^AC[0-9a-f]{32}$/)
  assert.match(authToken, /^[0-9a-f]{32}$/)
  assert.match(apiKey.sid, /^SK[0-9a-f]{32}$/)
  assert.match(apiKey.secret, /^[0-9a-f]{32}$/)
  assert.equal(service.accountSid, account.sid)
  assert.equal(await h.core.hasAccounts(), true)
  const fetched = await h.core.keys.fetch(h.admin, apiKey.sid)
  assert.equal('secret' in fetched, false)
  await h.close()
})

test('authenticateBasic accepts AC:authToken and SK:secret, and fails uniformly with 20003', async () => {
  const h = await harness()
  const { account, authToken, apiKey } = h.boot
  assert.deepEqual(await h.core.authenticateBasic(account.sid, authToken), {
    accountSid: account.sid,
    via: 'account',
    keySid: null,
  })
  assert.deepEqual(await h.core.authenticateBasic(apiKey.sid, apiKey.secret), {
    accountSid: account.sid,
    via: 'key',
    keySid: apiKey.sid,
  })
  const failures = [
    [account.sid, 'wrong'],
    [account.sid, ''],
    [apiKey.sid, authToken],
    ['AC' + '0'.repeat(32), authToken],
    ['SK' + '0'.repeat(32), apiKey.secret],
    ['nobody', 'x'],
    ['', ''],
  ] as const
  const messages = new Set<string>()
  for (const [u, p] of failures) {
    try {
      await h.core.authenticateBasic(u, p)
      assert.fail(`accepted ${u}`)
    } catch (e) {
      assert.equal((e as { code: number }).code, 20003)
      messages.add((e as Error).message)
    }
  }
  assert.equal(messages.size, 1)
  await h.close()
})

test('resolveApiKey returns the decrypted secret; deleting the key revokes it and publishes key_revoked', async () => {
  const h = await harness()
  const { account, apiKey } = h.boot
  assert.deepEqual(await h.core.resolveApiKey(apiKey.sid), {
    secret: apiKey.secret,
    accountSid: account.sid,
  })
  assert.equal(await h.core.resolveApiKey('SK' + '1'.repeat(32)), undefined)
  assert.equal(await h.core.resolveApiKey('garbage'), undefined)
  assert.equal(await h.core.resolveAuthToken(account.sid), h.boot.authToken)
  const k2 = await h.core.keys.create(h.admin, { friendlyName: 'second' })
  assert.equal((await h.core.keys.list(h.admin)).items.length, 2)
  const renamed = await h.core.keys.update(h.admin, k2.sid, { friendlyName: 'renamed' })
  assert.equal(renamed.friendlyName, 'renamed')
  await rejectsCode(h.core.keys.create(h.admin, { friendlyName: 'x'.repeat(65) }), 20001)
  h.published.length = 0
  await h.core.keys.delete(h.admin, apiKey.sid)
  assert.equal(await h.core.resolveApiKey(apiKey.sid), undefined)
  await rejectsCode(h.core.authenticateBasic(apiKey.sid, apiKey.secret), 20003)
  await rejectsCode(h.core.keys.fetch(h.admin, apiKey.sid), 20404)
  assert.deepEqual(
    h.published.find((m) => m.type === 'key_revoked'),
    { type: 'key_revoked', accountSid: account.sid, keySid: apiKey.sid },
  )
  const log = await h.core.events.readStream(`keys:${account.sid}`, 0)
  assert.deepEqual(
    log.map((e) => [e.type, e.key]),
    [['key_removed', apiKey.sid]],
  )
  // Keys of another account are invisible.
  const other = await h.core.accounts.create({})
  await rejectsCode(
    h.core.keys.fetch({ kind: 'admin', accountSid: other.account.sid }, k2.sid),
    20404,
  )
  await h.close()
})

test('no secret, auth token or credential secret appears in the database files in plaintext', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-secrets-'))
  try {
    const h = await harness({ dataDir: dir })
    const k = await h.core.keys.create(h.admin, { friendlyName: 'k' })
    await h.core.credentials.create(h.admin, { type: 'fcm', secret: 'fcm-server-key-7d1f0c2b9e' })
    const secrets = [h.boot.authToken, h.boot.apiKey.secret, k.secret, 'fcm-server-key-7d1f0c2b9e']
    const check = () => {
      for (const f of readdirSync(dir)) {
        const bytes = readFileSync(join(dir, f))
        for (const s of secrets) {
          assert.equal(bytes.includes(Buffer.from(s)), false, `${f} contains a secret`)
          if (/^[0-9a-f]{32}$/.test(s)) {
            assert.equal(
              bytes.includes(Buffer.from(s, 'hex')),
              false,
              `${f} contains a secret (binary)`,
            )
          }
        }
      }
    }
    check() // WAL still holds the pages
    await h.close()
    check() // after checkpoint into the main file
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
