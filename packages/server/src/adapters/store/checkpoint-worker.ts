/**
 * The worker thread of {@link ./checkpointer.ts}: its own connection to the database, a PASSIVE checkpoint every
 * `intervalMs`, and a clean stop on request (never in the middle of a checkpoint: the worker's loop is synchronous).
 *
 * @module
 */
import Database from 'better-sqlite3'
import { parentPort, workerData } from 'node:worker_threads'
import type { CheckpointerMessage } from './checkpointer.ts'

const { filename, intervalMs } = workerData as { filename: string; intervalMs: number }
const port = parentPort!
const post = (m: CheckpointerMessage): void => port.postMessage(m)

const db = new Database(filename, { fileMustExist: true })
// Give up at once when another checkpoint (the store's TRUNCATE) runs: the next interval tries again.
db.pragma('busy_timeout = 0')
db.pragma('synchronous = NORMAL')
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')

const timer = setInterval(() => {
  try {
    const r = checkpoint.get() as { busy: number; log: number; checkpointed: number }
    post({ type: 'ran', checkpointed: Math.max(0, r.checkpointed) })
  } catch {
    post({ type: 'failed' })
  }
}, intervalMs)

port.on('message', (m: { type: string }) => {
  if (m.type !== 'stop') return
  clearInterval(timer)
  db.close()
  post({ type: 'stopped' })
  port.close()
})
post({ type: 'ready' })
