import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { sqliteStore, StoreLockedError, type SqliteStore } from '../../src/adapters/store/sqlite.ts'
import { storeContract } from './store-contract.ts'

const root = mkdtempSync(join(tmpdir(), 'parley-sqlite-'))
after(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0

storeContract('sqlite :memory:', () => sqliteStore({ filename: ':memory:' }))
storeContract('sqlite :memory:, row cache off', () =>
  sqliteStore({ filename: ':memory:', rowCache: false }),
)
storeContract('sqlite file, row cache off', () =>
  sqliteStore({ dataDir: join(root, `n${++dirs}`), rowCache: false }),
)
storeContract('sqlite file, row cache of 3 entries', () =>
  sqliteStore({ dataDir: join(root, `t${++dirs}`), rowCache: { maxEntries: 3 } }),
)
storeContract('sqlite file (WAL)', () => sqliteStore({ dataDir: join(root, `c${++dirs}`) }))
storeContract('sqlite file, batches of 1', () =>
  sqliteStore({ dataDir: join(root, `b${++dirs}`), maxBatch: 1 }),
)
storeContract('sqlite file, durability full', () =>
  sqliteStore({ dataDir: join(root, `f${++dirs}`), durability: 'full' }),
)
// fsync-async with a slow sync, so batches pipeline behind it.
storeContract('sqlite file, slow async fsync, batches of 2', () =>
  sqliteStore({
    dataDir: join(root, `s${++dirs}`),
    maxBatch: 2,
    fsync: () => new Promise<void>((r) => setTimeout(r, 2)),
  }),
)

test('a second open of the same data directory is refused with StoreLockedError', async () => {
  const dir = join(root, 'lock')
  const a = sqliteStore({ dataDir: dir })
  assert.throws(
    () => sqliteStore({ dataDir: dir }),
    (e: unknown) => e instanceof StoreLockedError && e.pid === process.pid,
  )
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

test('the file database uses WAL, durability fsync-async by default, and passes integrity_check', async () => {
  const dir = join(root, 'pragmas')
  const s = sqliteStore({ dataDir: dir })
  assert.equal(s.durability, 'fsync-async')
  assert.equal(sqliteStore({ filename: ':memory:' }).durability, 'normal')
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
  assert.deepEqual(
    await Promise.all(writes),
    Array.from({ length: 20 }, (_, i) => i + 1),
  )
  const again = sqliteStore({ dataDir: join(root, 'drain') })
  assert.equal(await again.read((tx) => tx.events.lastSeq('drain')), 20)
  await again.close()
})

/** Appends `n` events of about 1 KiB each to `stream` in one write. */
function appendBulk(s: SqliteStore, stream: string, n: number): Promise<void> {
  return s.write(async (tx) => {
    for (let i = 0; i < n; i++) {
      await tx.events.append({
        stream,
        streamSeq: (await tx.events.lastSeq(stream)) + 1,
        type: 'channel_updated',
        key: null,
        data: { pad: 'x'.repeat(1024) },
        accountSid: 'AC' + '0'.repeat(32),
        serviceSid: null,
        createdAt: 1,
      })
    }
  })
}

async function until(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

test('a new database file and its WAL and shared-memory files are created with mode 0600', async () => {
  const dir = join(root, 'modes')
  const s = sqliteStore({ dataDir: dir, walCheckpointBytes: 0 })
  await appendBulk(s, 'm', 1)
  for (const f of ['parley.db', 'parley.db-wal', 'parley.db-shm', 'parley.db.lock']) {
    assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f)
  }
  await s.close()
})

test('the WAL is checkpointed and truncated by itself once it passes walCheckpointBytes', async () => {
  const s = sqliteStore({
    dataDir: join(root, 'wal'),
    walCheckpointBytes: 256 * 1024,
    walCheckIntervalMs: 10,
  })
  // Below the threshold: left alone.
  await appendBulk(s, 'w', 20)
  const small = s.walBytes()
  assert.ok(small > 0 && small < 256 * 1024, String(small))
  await new Promise((r) => setTimeout(r, 60))
  assert.equal(s.walBytes(), small)
  // Past it: truncated to zero at the next check, and the data is intact.
  await appendBulk(s, 'w', 600)
  await until(() => s.walBytes() === 0)
  assert.equal(await s.read((tx) => tx.events.lastSeq('w')), 620)
  assert.equal(s.integrityCheck(), 'ok')
  await s.close()
})

test('WAL checkpoints run on the worker thread (not inside COMMIT), and the worker stops with the store', async () => {
  const dir = join(root, 'walworker')
  const s = sqliteStore({ dataDir: dir, walCheckpointBytes: 0 })
  await until(() => s.checkpointerStats() !== undefined)
  await appendBulk(s, 'k', 300)
  await until(() => (s.checkpointerStats()?.framesCheckpointed ?? 0) > 0)
  // Under a steady stream of writes the worker completes its checkpoints by pausing the writer between two batches
  // for its last round (otherwise the WAL could never be reused and would grow).
  let n = 300
  const deadline = Date.now() + 30_000
  while (!(
    (s.checkpointerStats()?.pauses ?? 0) > 0 && (s.checkpointerStats()?.completed ?? 0) > 0
  )) {
    if (Date.now() > deadline)
      throw new Error(`no paused checkpoint: ${JSON.stringify(s.checkpointerStats())}`)
    await Promise.all([appendBulk(s, 'k', 5), appendBulk(s, 'k', 5)])
    n += 10
  }
  assert.equal(s.checkpointerStats()?.failures, 0)
  await appendBulk(s, 'k', 300)
  n += 300
  await s.close()
  assert.equal(s.checkpointerStats(), undefined)
  const again = sqliteStore({ dataDir: dir, checkpointWorker: false })
  assert.equal(await again.read((tx) => tx.events.lastSeq('k')), n)
  assert.equal(again.integrityCheck(), 'ok')
  assert.equal(again.checkpointerStats(), undefined)
  await again.close()
  const mem = sqliteStore({ filename: ':memory:' })
  assert.equal(mem.checkpointerStats(), undefined)
  await mem.close()
})

test('a size-triggered checkpoint held up by a reader gives up (writes go on), then completes after it', async () => {
  const dir = join(root, 'walbusy')
  const s = sqliteStore({ dataDir: dir, walCheckpointBytes: 64 * 1024, walCheckIntervalMs: 40 })
  await appendBulk(s, 'b', 10)
  // 1. Another process's reader holds a snapshot: no checkpoint can reset the WAL behind it.
  const Database = (await import('better-sqlite3')).default
  const reader = new Database(join(dir, 'parley.db'), { readonly: true })
  reader.prepare('BEGIN').run()
  reader.prepare('SELECT COUNT(*) FROM events').get()
  try {
    // 2. The WAL passes the threshold; every check now finds the reader in the way, gives up (after at most
    //    CHECKPOINT_BUSY_MS) and leaves the WAL alone, while writes go on committing.
    for (let i = 0; i < 15; i++) {
      await appendBulk(s, 'b', 40)
      await new Promise((r) => setTimeout(r, 30))
    }
    assert.ok(s.walBytes() > 64 * 1024)
  } finally {
    // 3. The reader goes away: the next check truncates the WAL.
    reader.prepare('COMMIT').run()
    reader.close()
  }
  await until(() => s.walBytes() === 0)
  assert.equal(await s.read((tx) => tx.events.lastSeq('b')), 610)
  await s.close()
})

test('checkpoint() reports the result; close() still checkpoints with the size trigger off', async () => {
  const dir = join(root, 'walclose')
  const s = sqliteStore({ dataDir: dir, walCheckpointBytes: 0 })
  await appendBulk(s, 'c', 50)
  assert.ok(s.walBytes() > 0)
  assert.deepEqual(s.checkpoint(), { busy: 0, log: 0, checkpointed: 0 })
  assert.equal(s.walBytes(), 0)
  await appendBulk(s, 'c', 50)
  await s.close()
  assert.equal(
    existsSync(join(dir, 'parley.db-wal')) ? statSync(join(dir, 'parley.db-wal')).size : 0,
    0,
  )
  assert.equal(sqliteStore({ filename: ':memory:' }).checkpoint(), undefined)
})
