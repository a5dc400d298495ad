import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { sqliteStore, StoreLockedError } from '../../src/adapters/store/sqlite.ts'
import { storeContract } from './store-contract.ts'

const root = mkdtempSync(join(tmpdir(), 'parley-sqlite-'))
after(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0

storeContract('sqlite :memory:', () => sqliteStore({ filename: ':memory:' }))
storeContract('sqlite file (WAL)', () => sqliteStore({ dataDir: join(root, `c${++dirs}`) }))
storeContract('sqlite file, batches of 1', () => sqliteStore({ dataDir: join(root, `b${++dirs}`), maxBatch: 1 }))

test('a second open of the same data directory is refused with StoreLockedError', async () => {
  const dir = join(root, 'lock')
  const a = sqliteStore({ dataDir: dir })
  assert.throws(() => sqliteStore({ dataDir: dir }), (e: unknown) => e instanceof StoreLockedError && e.pid === process.pid)
  await a.close()
  assert.equal(existsSync(join(dir, 'parley.db.lock')), false)
  const b = sqliteStore({ dataDir: dir })
  await b.close()
})

test('a lock left by a dead process is taken over', async () => {
  const dir = join(root, 'stale')
  const a = sqliteStore({ dataDir: dir })
  await a.close()
  // A pid that cannot be alive (beyond pid_max on Linux).
  writeFileSync(join(dir, 'parley.db.lock'), '4194399\n')
  const b = sqliteStore({ dataDir: dir })
  assert.equal(readFileSync(join(dir, 'parley.db.lock'), 'utf8').trim(), String(process.pid))
  await b.close()
})

test('the file database uses WAL and synchronous=FULL and passes integrity_check', async () => {
  const dir = join(root, 'pragmas')
  const s = sqliteStore({ dataDir: dir })
  assert.equal(s.integrityCheck(), 'ok')
  await s.close()
  const Database = (await import('better-sqlite3')).default
  const db = new Database(join(dir, 'parley.db'))
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  assert.ok(Number(db.pragma('user_version', { simple: true })) >= 1)
  db.close()
})

test('close() drains every queued write, across several group-commit batches', async () => {
  const s = sqliteStore({ dataDir: join(root, 'drain'), maxBatch: 4 })
  const writes = Array.from({ length: 20 }, (_, i) =>
    s.write(async (tx) => {
      const seq = (await tx.events.lastSeq('drain')) + 1
      await tx.events.append({
        stream: 'drain',
        streamSeq: seq,
        type: 'channel_updated',
        key: null,
        data: { i },
        accountSid: 'AC' + '0'.repeat(32),
        serviceSid: null,
        createdAt: 1,
      })
      return seq
    }),
  )
  await s.close()
  assert.deepEqual(await Promise.all(writes), Array.from({ length: 20 }, (_, i) => i + 1))
  const again = sqliteStore({ dataDir: join(root, 'drain') })
  assert.equal(await again.read((tx) => tx.events.lastSeq('drain')), 20)
  await again.close()
})
