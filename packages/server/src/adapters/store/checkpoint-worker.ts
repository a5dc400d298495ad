/**
 * The worker thread of {@link ./checkpointer.ts}: its own connection to the database, a PASSIVE checkpoint every
 * `intervalMs` (in rounds, with a writer pause for the last one; see the module doc there), and a clean stop on
 * request (never in the middle of a checkpoint: the worker's loop is synchronous).
 *
 * @module
 */
import Database from 'better-sqlite3'
import { closeSync, fdatasyncSync, openSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import {
  STATE_PAUSE_REQUESTED,
  STATE_PAUSED,
  STATE_RUNNING,
  type CheckpointerMessage,
  type CheckpointerWorkerData,
} from './checkpointer.ts'

const { filename, intervalMs, state: shared } = workerData as CheckpointerWorkerData
const state = new Int32Array(shared)
const port = parentPort!
const post = (m: CheckpointerMessage): void => port.postMessage(m)

/** Rounds while the writer runs, at most. */
const MAX_ROUNDS = 8
/** Few enough frames left to copy them with the writer paused (4 KiB pages: 1 MiB). */
const PAUSE_FRAMES = 256
/** How long the worker waits for the writer to take a pause request before it withdraws it. */
const PAUSE_WAIT_MS = 50

const db = new Database(filename, { fileMustExist: true })
/** Our own descriptor on the database file, only to flush it ahead of a pause (see `run`). */
const dbFd = openSync(filename, 'r')
// Give up at once when another checkpoint (the store's TRUNCATE) runs: the next interval tries again.
db.pragma('busy_timeout = 0')
db.pragma('synchronous = NORMAL')
const checkpointStmt = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')

interface Round {
  busy: number
  log: number
  checkpointed: number
}
const round = (): Round => checkpointStmt.get() as Round

/** Waits (blocking this thread only) until the writer takes the pause; false when it did not within the limit. */
function awaitPause(): boolean {
  const deadline = Date.now() + PAUSE_WAIT_MS
  for (;;) {
    const left = deadline - Date.now()
    if (left > 0) Atomics.wait(state, 0, STATE_PAUSE_REQUESTED, left)
    if (Atomics.load(state, 0) === STATE_PAUSED) return true
    if (Date.now() >= deadline) {
      // Withdraw the request, unless the writer took it just now.
      return (
        Atomics.compareExchange(state, 0, STATE_PAUSE_REQUESTED, STATE_RUNNING) === STATE_PAUSED
      )
    }
  }
}

/**
 * One run. A round's `log` is the WAL's size when that round started and `checkpointed` what it copied of those, so a
 * round is complete relative to its own start only: frames committed meanwhile show up in the next round's `log`.
 * The WAL is fully copied when a round finds no new frame since the previous one; short of that, once few frames
 * come in per round, the last round runs with the writer paused.
 */
function run(): void {
  let r = round()
  let completed = false
  let paused = false
  let pausedAt = 0
  let pauseMs = 0
  for (let i = 1; i < MAX_ROUNDS && r.busy === 0; i++) {
    const next = round()
    // A smaller log: the writer reused the WAL from its start after an earlier complete round.
    const fresh = next.log >= r.log ? next.log - r.log : next.log
    r = next
    if (r.busy !== 0) break
    if (fresh === 0 && r.checkpointed >= r.log) {
      completed = true
      break
    }
    if (fresh <= PAUSE_FRAMES) break
  }
  if (!completed && r.busy === 0) {
    // The paused round ends with SQLite syncing the database file; flush what the rounds so far copied now, so that
    // sync (and so the pause) is short.
    fdatasyncSync(dbFd)
    Atomics.store(state, 0, STATE_PAUSE_REQUESTED)
    paused = awaitPause()
    pausedAt = performance.now()
    try {
      // Paused: no commit can come in between, so this round copies the rest.
      r = round()
      completed = paused && r.busy === 0 && r.checkpointed >= r.log
    } finally {
      if (paused) {
        pauseMs = performance.now() - pausedAt
        Atomics.store(state, 0, STATE_RUNNING)
        post({ type: 'resume' })
      }
    }
  }
  post({ type: 'ran', copied: Math.max(0, r.checkpointed), completed, paused, pauseMs })
}

const timer = setInterval(() => {
  try {
    run()
  } catch {
    post({ type: 'failed' })
  }
}, intervalMs)

port.on('message', (m: { type: string }) => {
  if (m.type !== 'stop') return
  clearInterval(timer)
  db.close()
  closeSync(dbFd)
  post({ type: 'stopped' })
  port.close()
})
post({ type: 'ready' })
