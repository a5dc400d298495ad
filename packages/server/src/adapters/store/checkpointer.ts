/**
 * WAL checkpoints off the event loop: a worker thread with its own SQLite connection runs
 * `PRAGMA wal_checkpoint(PASSIVE)` on a short interval, so the writer connection can turn SQLite's automatic
 * checkpoint off (`wal_autocheckpoint = 0`).
 *
 * Why: SQLite's automatic checkpoint runs inside the `COMMIT` that takes the WAL past 1,000 pages, on the thread
 * that commits, i.e. the event loop. It copies those pages into the database file and syncs the WAL and the database
 * file: several milliseconds with every socket of the process waiting. Under a steady write load that happens
 * several times a second and shows up directly as latency spikes.
 *
 * Safety: a PASSIVE checkpoint never blocks the writer or readers (it copies only frames that no reader still
 * needs, and gives up where it would have to wait). With `synchronous=NORMAL` on the worker's connection SQLite syncs
 * the WAL before copying frames and syncs the database file after a completed checkpoint, before the WAL may be
 * reused, exactly as for the automatic checkpoint it replaces; the writer restarts the WAL from its start once a
 * checkpoint has caught up, as before. The store's size-triggered `wal_checkpoint(TRUNCATE)` stays as the safety
 * valve.
 *
 * @module
 */
import { Worker } from 'node:worker_threads'

/** Options of {@link startCheckpointer}. */
export interface CheckpointerOptions {
  /** The database file (not `:memory:`). */
  filename: string
  /** How often the worker checkpoints. Default 250 ms. */
  intervalMs?: number
}

/** Counters of the worker's checkpoints. */
export interface CheckpointerStats {
  /** Checkpoints run. */
  runs: number
  /** WAL frames copied into the database file, summed over all runs. */
  framesCheckpointed: number
  /** Runs that failed (I/O trouble; the next run tries again). */
  failures: number
}

/** A running checkpointer. */
export interface Checkpointer {
  stats(): CheckpointerStats
  /** Waits for a checkpoint in progress, then stops the worker and closes its connection. */
  stop(): Promise<void>
}

/** Messages from the worker. */
export type CheckpointerMessage =
  | { type: 'ready' }
  | { type: 'ran'; checkpointed: number }
  | { type: 'failed' }
  | { type: 'stopped' }

/**
 * Starts the worker and resolves once its connection is open. Rejects when the worker cannot start (the caller then
 * keeps SQLite's automatic checkpoint).
 */
export function startCheckpointer(options: CheckpointerOptions): Promise<Checkpointer> {
  const worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), {
    workerData: { filename: options.filename, intervalMs: Math.max(10, options.intervalMs ?? 250) },
  })
  const stats: CheckpointerStats = { runs: 0, framesCheckpointed: 0, failures: 0 }
  let stopped: Promise<void> | undefined
  return new Promise((resolve, reject) => {
    let ready = false
    worker.on('message', (m: CheckpointerMessage) => {
      if (m.type === 'ready') {
        ready = true
        // The worker must never keep the process alive on its own.
        worker.unref()
        resolve({
          stats: () => ({ ...stats }),
          stop() {
            stopped ??= new Promise<void>((done) => {
              // Keep the process alive until the worker has closed its connection.
              worker.ref()
              worker.once('exit', () => done())
              worker.postMessage({ type: 'stop' })
            })
            return stopped
          },
        })
      } else if (m.type === 'ran') {
        stats.runs++
        stats.framesCheckpointed += m.checkpointed
      } else if (m.type === 'failed') {
        stats.runs++
        stats.failures++
      }
    })
    worker.once('error', (err) => {
      if (!ready) reject(err)
    })
    worker.once('exit', (code) => {
      if (!ready) reject(new Error(`checkpoint worker exited with code ${code}`))
    })
  })
}
