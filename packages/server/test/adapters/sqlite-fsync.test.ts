/**
 * The `fsync-async` durability mode: COMMIT without fsync, then an fdatasync of the WAL off the event loop, and only
 * then do the batch's promises settle — in commit order, with pipelined batches behind a pending fsync.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { isChatError } from '@parley/token'
import { sqliteStore, type SqliteStore } from '../../src/adapters/store/sqlite.ts'

const root = mkdtempSync(join(tmpdir(), 'parley-fsync-'))
after(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0

const AC = 'AC' + '0'.repeat(32)
/** A hang is a failure, never a stuck run. */
const T = { timeout: 60_000 }

/** Appends one event to `stream` and returns its stream sequence number. */
function append(s: SqliteStore, stream: string, data: unknown = {}): Promise<number> {
  return s.write(async (tx) => {
    const seq = (await tx.events.lastSeq(stream)) + 1
    await tx.events.append({
      stream,
      streamSeq: seq,
      type: 'channel_updated',
      key: null,
      data,
      accountSid: AC,
      serviceSid: null,
      createdAt: 1,
    })
    return seq
  })
}

/** A controllable fsync: every call is recorded and waits until the test resolves or rejects it. */
function manualFsync() {
  const calls: { fd: number; resolve: () => void; reject: (e: unknown) => void }[] = []
  let wake: (() => void) | undefined
  return {
    calls,
    fsync: (fd: number) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ fd, resolve, reject })
        wake?.()
      }),
    /** Resolves once at least `n` fsyncs have been requested. */
    async called(n: number): Promise<void> {
      while (calls.length < n) await new Promise<void>((r) => (wake = r))
      wake = undefined
    },
  }
}

/** Lets the event loop run several turns (setImmediate batches, promise chains). */
async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
}

/** Polls `cond` every event-loop turn (the test fails by the runner's timeout if it never holds). */
async function until(cond: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await cond())) await new Promise((r) => setImmediate(r))
}

function track<T>(p: Promise<T>, log: string[], name: string): Promise<T> {
  p.then(
    () => log.push(`${name} ok`),
    () => log.push(`${name} err`),
  )
  return p
}

test(
  'no write settles before its batch’s fsync resolves; writes queue behind a pending fsync, full batches pipeline',
  T,
  async () => {
    const m = manualFsync()
    const s = sqliteStore({ dataDir: join(root, `d${++dirs}`), fsync: m.fsync, maxBatch: 2 })
    const log: string[] = []
    const head = () => s.read((tx) => tx.events.lastSeq('x'))
    // Batch 1: two writes in one turn, one of which fails (its rejection waits for the fsync too).
    const a = track(append(s, 'x'), log, 'a')
    const bad = track(
      s.write(async () => {
        throw new Error('op failed')
      }),
      log,
      'bad',
    )
    await m.called(1)
    assert.ok(m.calls[0]!.fd >= 0)
    // Committed (visible to readers) but not acknowledged.
    assert.equal(await head(), 1)
    await turns()
    assert.deepEqual(log, [])

    // Batch 2 is full (maxBatch writes): it runs and commits behind the pending fsync (pipelining), but no second fsync
    // starts before the first ends.
    const b1 = track(append(s, 'x'), log, 'b1')
    const b2 = track(append(s, 'x'), log, 'b2')
    await until(async () => (await head()) === 3)
    // A lone write waits for the fsync to end before it runs.
    const c = track(append(s, 'x'), log, 'c')
    await turns()
    assert.equal(await head(), 3)
    assert.equal(m.calls.length, 1)
    assert.deepEqual(log, [])

    // fsync 1 completes: batch 1 settles; batch 2 waits for an fsync that started after its COMMIT; c runs now, so
    // the next fsync covers batch 2 and c.
    m.calls[0]!.resolve()
    assert.equal(await a, 1)
    await assert.rejects(bad, /op failed/)
    await m.called(2)
    assert.equal(await head(), 4)
    await turns()
    assert.deepEqual(log, ['a ok', 'bad err'])

    m.calls[1]!.resolve()
    assert.deepEqual(await Promise.all([b1, b2, c]), [2, 3, 4])
    assert.deepEqual(log, ['a ok', 'bad err', 'b1 ok', 'b2 ok', 'c ok'])
    await s.close()
  },
)

test('acknowledgements stay in commit order across many pipelined batches', T, async () => {
  // Syncs of varying length, so several batches commit behind each one.
  let k = 0
  const s = sqliteStore({
    dataDir: join(root, `d${++dirs}`),
    maxBatch: 3,
    fsync: () => new Promise<void>((r) => (k++ % 3 === 0 ? setTimeout(r, 1) : setImmediate(r))),
  })
  const settled: number[] = []
  const writes: Promise<unknown>[] = []
  for (let i = 0; i < 300; i++) {
    const p =
      i % 7 === 3
        ? s.write(async () => {
            throw new Error(`no ${i}`)
          })
        : append(s, 'o', { i })
    writes.push(
      p.then(
        () => settled.push(i),
        () => settled.push(i),
      ),
    )
    // Spread the writes over event-loop turns, so batches form while earlier ones wait for their fsync.
    if (i % 5 === 0) await new Promise((r) => setImmediate(r))
  }
  await Promise.all(writes)
  assert.deepEqual(
    settled,
    Array.from({ length: 300 }, (_, i) => i),
  )
  assert.ok(k > 1, `only ${k} fsyncs`)
  await s.close()
  const again = sqliteStore({ dataDir: s.filename.replace(/\/parley\.db$/, '') })
  assert.equal(
    await again.read((tx) => tx.events.lastSeq('o')),
    300 - Math.floor((300 - 4) / 7) - 1,
  )
  assert.equal(again.integrityCheck(), 'ok')
  await again.close()
})

test(
  'an fsync error rejects its batch and every later one with 52001, then the store refuses writes (fail-stop)',
  T,
  async () => {
    const m = manualFsync()
    // Batches of 1: every write is a full batch, so the second one commits behind the pending fsync.
    const s = sqliteStore({ dataDir: join(root, `d${++dirs}`), fsync: m.fsync, maxBatch: 1 })
    assert.equal(
      await (async () => {
        const p = append(s, 'e')
        await m.called(1)
        m.calls[0]!.resolve()
        return p
      })(),
      1,
    )

    const a = append(s, 'e')
    await m.called(2)
    const b = append(s, 'e') // commits behind the pending fsync
    await until(async () => (await s.read((tx) => tx.events.lastSeq('e'))) === 3)
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })
    m.calls[1]!.reject(eio)
    const isSyncFailure = (e: unknown): boolean =>
      isChatError(e) &&
      e.code === 52001 &&
      /syncing the write-ahead log to disk failed/.test(e.message) &&
      e.cause === eio
    await assert.rejects(a, isSyncFailure)
    await assert.rejects(b, isSyncFailure)
    await assert.rejects(append(s, 'e'), isSyncFailure)
    assert.equal(m.calls.length, 2)
    // Reads go on.
    assert.equal(await s.read((tx) => tx.events.lastSeq('e')), 3)
    await s.close()
  },
)

test('writes queued behind a failing fsync reject with it too', T, async () => {
  const m = manualFsync()
  const s = sqliteStore({ dataDir: join(root, `d${++dirs}`), fsync: m.fsync })
  const a = append(s, 'q')
  await m.called(1)
  const queued = append(s, 'q') // not a full batch: waits for the fsync before it runs
  await turns()
  m.calls[0]!.reject(new Error('EIO'))
  const is52001 = (e: unknown): boolean => isChatError(e) && e.code === 52001
  await assert.rejects(a, is52001)
  await assert.rejects(queued, is52001)
  assert.equal(await s.read((tx) => tx.events.lastSeq('q')), 1)
  await s.close()
})

test('close() waits for the in-flight fsync', T, async () => {
  const m = manualFsync()
  const s = sqliteStore({ dataDir: join(root, `d${++dirs}`), fsync: m.fsync })
  const log: string[] = []
  const w = track(append(s, 'c'), log, 'write')
  await m.called(1)
  const closing = s.close().then(() => log.push('closed'))
  await turns()
  assert.deepEqual(log, [])
  m.calls[0]!.resolve()
  await closing
  assert.equal(await w, 1)
  assert.deepEqual(log, ['write ok', 'closed'])
})

test('durability full and normal never call the async fsync', T, async () => {
  for (const durability of ['full', 'normal'] as const) {
    let calls = 0
    const s = sqliteStore({
      dataDir: join(root, `d${++dirs}`),
      durability,
      fsync: async () => void calls++,
    })
    assert.equal(s.durability, durability)
    assert.equal(await append(s, 'n'), 1)
    await s.close()
    assert.equal(calls, 0)
  }
})
