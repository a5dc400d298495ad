/**
 * WAL checkpoints off the event loop: a worker thread with its own SQLite connection runs
 * `PRAGMA wal_checkpoint(PASSIVE)` on a short interval, so the writer connection can turn SQLite's automatic
 * checkpoint off (`wal_autocheckpoint = 0`).
 *
 * Why: SQLite's automatic checkpoint runs inside the `COMMIT` that takes the WAL past 1,000 pages, on the thread
 * that commits, i.e. the event loop. It copies those pages into the database file and syncs the WAL and the database
 * file: about 10 ms (measured here) with every socket of the process waiting, several times a second under load.
 *
 * **Completing a checkpoint.** The writer reuses the WAL from its start only when, at the start of a write
 * transaction, a checkpoint has copied *every* frame; otherwise the WAL keeps growing. Under a steady write load a
 * concurrent checkpoint never quite gets there (frames commit while it copies). So the worker first copies in rounds
 * until only a few frames are left, then asks the writer to pause between two batches (a shared `Int32Array` state:
 * {@link STATE_RUNNING} → {@link STATE_PAUSE_REQUESTED} by the worker → {@link STATE_PAUSED} by the store when it is
 * between batches and takes the request, {@link Checkpointer.takePause}); with no commit in between, its last round
 * copies the rest, and it hands the writer back ({@link STATE_RUNNING}, then a `resume` message). The store's event
 * loop never blocks for this: its next batch just starts when the worker says so, typically well under a millisecond
 * later (a few frames to copy, plus the syncs below). If the writer stays idle the worker's own round completes.
 *
 * Safety: a PASSIVE checkpoint never blocks the writer or readers (it copies only frames that no reader still needs,
 * and gives up where it would have to wait). With `synchronous=NORMAL` on the worker's connection SQLite syncs the
 * WAL before copying frames and syncs the database file after a completed checkpoint, before the WAL may be reused,
 * exactly as for the automatic checkpoint it replaces. The store's size-triggered `wal_checkpoint(TRUNCATE)` stays as
 * the safety valve.
 *
 * @module
 */
import { Worker } from 'node:worker_threads'

/** {@link Checkpointer} state word: the writer runs batches freely. */
export const STATE_RUNNING = 0
/** The worker asks the writer to pause before its next batch. */
export const STATE_PAUSE_REQUESTED = 1
/** The writer is paused (between batches) until the worker sets {@link STATE_RUNNING} and posts `resume`. */
export const STATE_PAUSED = 2

/** Default {@link CheckpointerOptions.intervalMs}. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 100

/** Options of {@link startCheckpointer}. */
export interface CheckpointerOptions {
  /** The database file (not `:memory:`). */
  filename: string
  /**
   * How often the worker checkpoints. Default {@link DEFAULT_CHECKPOINT_INTERVAL_MS}: shorter rounds write less into
   * the database file at a time, so its sync holds up the WAL's syncs (the writes' latency) for less (fan-out bench:
   * p99 at 2,000 deliveries/s 5.3–6.0 ms at 100 ms against 5.8–6.1 ms at 250 ms and 7.0–8.0 ms at 1 s).
   */
  intervalMs?: number
  /** Called when the worker hands the writer back after {@link Checkpointer.takePause} (or when the worker dies). */
  onResume?: () => void
}

/** Counters of the worker's checkpoints. */
export interface CheckpointerStats {
  /** Checkpoint runs (each of one or more PASSIVE rounds). */
  runs: number
  /** Runs that copied every frame of the WAL (the writer then reuses it from its start). */
  completed: number
  /** Runs that paused the writer for their last round. */
  pauses: number
  /** Total and longest time the writer was held by those pauses, in milliseconds. */
  pauseMsTotal: number
  pauseMsMax: number
  /** Pauses longer than 10 ms. */
  pausesOver10Ms: number
  /**
   * Sum over all runs of the frames the WAL had copied at the end of the run (SQLite's count since the WAL was last
   * reused): a measure of checkpoint work, not a count of distinct frames.
   */
  framesCheckpointed: number
  /** Runs that failed (I/O trouble; the next run tries again). */
  failures: number
}

/** A running checkpointer. */
export interface Checkpointer {
  stats(): CheckpointerStats
  /**
   * Called by the writer between batches: true when the worker asked for a pause and the writer now has it (start no
   * batch until `onResume`); false otherwise.
   */
  takePause(): boolean
  /** Waits for a checkpoint in progress, then stops the worker and closes its connection. */
  stop(): Promise<void>
}

/** Messages from the worker. */
export type CheckpointerMessage =
  | { type: 'ready' }
  | { type: 'ran'; copied: number; completed: boolean; paused: boolean; pauseMs: number }
  | { type: 'resume' }
  | { type: 'failed' }
  | { type: 'stopped' }

/** What the worker gets. */
export interface CheckpointerWorkerData {
  filename: string
  intervalMs: number
  /** One Int32: STATE_*. */
  state: SharedArrayBuffer
}

/**
 * Starts the worker and resolves once its connection is open. Rejects when the worker cannot start (the caller then
 * keeps SQLite's automatic checkpoint).
 */
export function startCheckpointer(options: CheckpointerOptions): Promise<Checkpointer> {
  const shared = new SharedArrayBuffer(4)
  const state = new Int32Array(shared)
  const data: CheckpointerWorkerData = {
    filename: options.filename,
    intervalMs: Math.max(10, options.intervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS),
    state: shared,
  }
  const worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), {
    workerData: data,
  })
  const stats: CheckpointerStats = {
    runs: 0,
    completed: 0,
    pauses: 0,
    pauseMsTotal: 0,
    pauseMsMax: 0,
    pausesOver10Ms: 0,
    framesCheckpointed: 0,
    failures: 0,
  }
  const resume = (): void => options.onResume?.()
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
          takePause() {
            if (
              Atomics.compareExchange(state, 0, STATE_PAUSE_REQUESTED, STATE_PAUSED) !==
              STATE_PAUSE_REQUESTED
            )
              return false
            // Writes wait for the worker's `resume` now: it must keep the process alive until then.
            if (stopped === undefined) worker.ref()
            Atomics.notify(state, 0)
            return true
          },
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
        stats.framesCheckpointed += m.copied
        if (m.completed) stats.completed++
        if (m.paused) {
          stats.pauses++
          stats.pauseMsTotal += m.pauseMs
          stats.pauseMsMax = Math.max(stats.pauseMsMax, m.pauseMs)
          if (m.pauseMs > 10) stats.pausesOver10Ms++
        }
      } else if (m.type === 'resume') {
        if (stopped === undefined) worker.unref()
        resume()
      } else if (m.type === 'failed') {
        stats.runs++
        stats.failures++
      }
    })
    worker.once('error', (err) => {
      if (!ready) reject(err)
    })
    worker.once('exit', (code) => {
      if (!ready) {
        reject(new Error(`checkpoint worker exited with code ${code}`))
        return
      }
      // Never leave the writer paused behind a worker that is gone.
      Atomics.store(state, 0, STATE_RUNNING)
      resume()
    })
  })
}
