import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import { startCheckpointer } from '../../src/adapters/store/checkpointer.ts'

test('the checkpoint worker copies WAL frames into the database file off the event loop, and stops cleanly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-ckpt-'))
  try {
    const filename = join(dir, 'x.db')
    const db = new Database(filename)
    db.pragma('journal_mode = WAL')
    db.pragma('wal_autocheckpoint = 0')
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)')
    const cp = await startCheckpointer({ filename, intervalMs: 10 })
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)')
    for (let i = 0; i < 200; i++) ins.run('x'.repeat(2000))
    const deadline = Date.now() + 20_000
    while (cp.stats().framesCheckpointed === 0) {
      if (Date.now() > deadline) throw new Error('no checkpoint ran')
      await new Promise((r) => setTimeout(r, 10))
    }
    assert.equal(cp.stats().failures, 0)
    await cp.stop()
    await cp.stop()
    // Everything is still there, and the database file holds the checkpointed pages.
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n, 200)
    db.close()
    const again = new Database(filename, { readonly: true })
    assert.equal((again.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n, 200)
    again.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a checkpointer for a missing database fails to start instead of creating one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-ckpt-'))
  try {
    await assert.rejects(startCheckpointer({ filename: join(dir, 'missing.db') }))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
