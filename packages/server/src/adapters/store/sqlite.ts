/**
 * The default {@link Store}: SQLite through better-sqlite3 12, with group commit.
 *
 * Durability and concurrency (reliability.md §2.8):
 * - `journal_mode=WAL`, `busy_timeout=5000`, write transactions start with `BEGIN IMMEDIATE`.
 * - **Group commit.** `write(fn)` calls queued during one event-loop turn (at most `maxBatch`, default 256) run in one
 *   SQLite transaction, each inside its own `SAVEPOINT`, so an op that throws rolls back only itself. Every promise of
 *   the batch settles after the single `COMMIT` has been made durable (see below), so one fsync covers the batch.
 * - **Durability modes** (`durability` option):
 *   - `'fsync-async'` (default): `synchronous=NORMAL`, so `COMMIT` only `write()`s the WAL frames (no fsync on the
 *     event loop); the store then `fdatasync`s the `-wal` file on libuv's threadpool and settles the batch's promises
 *     only when that completes. An acknowledged write therefore survives `kill -9` *and* power loss, as with `FULL`.
 *   - `'full'`: `synchronous=FULL`: SQLite fsyncs the WAL inside `COMMIT`, on the event loop (the previous default).
 *   - `'normal'`: `synchronous=NORMAL` and no fsync: acks survive `kill -9` but not power loss. Benchmarks only.
 * - **Pipelining (fsync-async).** At most one fsync is in flight. Writes that arrive meanwhile queue up (the event
 *   loop stays free) and run as one batch as soon as it ends; only a full batch (`maxBatch` writes) runs and commits
 *   at once, pipelined behind the fsync. Batches committed during an fsync wait for the next one, which starts as soon
 *   as it ends and covers all of them. (Committing every turn's writes right away measured more CPU per write: many
 *   small transactions rewrite the same pages into the WAL, for no latency gain, since they wait for the next fsync
 *   anyway.) Batches settle strictly in commit order (an fsync covers a prefix of the committed batches), so batch N's
 *   promises never settle before batch N−1's — including rejections of ops that threw, and batches whose `COMMIT`
 *   failed. An op may read (inside its write transaction) data of an earlier batch that is committed but not yet
 *   synced; that is safe, because it cannot be acknowledged before that earlier batch is.
 * - **Why the async fsync is as durable as `FULL`** (SQLite's os_unix/wal.c, Linux):
 *   - fsync/fdatasync act on the inode, not on the descriptor: syncing our own fd on `<db>-wal` flushes the frames
 *     SQLite `write()`s through its fd. `fdatasync` also flushes the file size (an append's metadata).
 *   - *WAL file identity.* SQLite never unlinks or recreates `-wal` while a connection has the database open: it is
 *     deleted only by the last connection's close (after `close()` has waited for every fsync), or on opening a
 *     database of zero pages (never ours after migrations), or when leaving WAL mode (we never do).
 *     `wal_checkpoint(TRUNCATE)` and `journal_size_limit` (64 MiB) shrink the same inode with `ftruncate`. A WAL
 *     restart after a full checkpoint overwrites the same file from offset 0. As a belt-and-braces check, before an
 *     fsync (at most every {@link WAL_IDENTITY_CHECK_MS}) the store compares the path's inode with its fd's; a
 *     mismatch fails the batch (below) and stops writes instead of going on syncing a stale file.
 *   - *Checkpoints.* With `synchronous=NORMAL` SQLite still syncs the WAL before copying frames into the database
 *     file and syncs the database file after a completed checkpoint, before the WAL can be reset, truncated or
 *     restarted; so a checkpoint (the automatic one inside `COMMIT`, or ours) never loses a frame, acknowledged or
 *     not. An fsync of ours that races a truncation is harmless: those frames are already synced into the database.
 *     After a WAL restart, a power loss before our fsync can only lose frames written after the restart (not yet
 *     acknowledged); the new header's salts make recovery ignore any stale frames.
 *   - *First write / new WAL file.* A new `-wal` file's directory entry must be durable too (SQLite's own first sync
 *     of a new WAL also syncs the directory; under NORMAL that first sync would only come at a checkpoint). The store
 *     opens its fd on `-wal` right after opening and migrating (the WAL exists by then: reading page 1 of a WAL-mode
 *     database creates it), and syncs that file and its directory once, synchronously, at startup. If it somehow does
 *     not exist yet, the fd is opened (and the directory synced) before the first fsync, after the first `COMMIT`.
 *   - *Readers* (the read-only connection, and ops of later batches) can see committed data whose fsync has not
 *     completed yet, i.e. before it is acknowledged. Such a write can be lost only by a power loss or kernel crash in
 *     that window (never by `kill -9`: the page cache survives the process), and its writer was never acknowledged,
 *     so it retries (`clientMessageId` makes sends idempotent). The guarantee of reliability.md §2.8 is about
 *     acknowledged writes, so this is accepted; holding reads back would cost every read a wait on the disk.
 *     Publication to the bus happens after `write()` resolves, i.e. after the fsync.
 *   - *fsync errors are fatal* ("fsyncgate": after a failed fsync the kernel may have dropped the dirty pages, so a
 *     retry that succeeds proves nothing). The batches covered by the failed fsync — and every batch committed after
 *     it, which may depend on it — reject with ChatError 52001; the store then refuses every further write with
 *     52001 (fail-stop; restart the process, which recovers from the WAL on disk). Reads go on (they may show data
 *     that did not reach the disk, as in the window above).
 *   - Checked with strace on Linux: in this mode no fsync/fdatasync runs on the main thread during writes (one
 *     fdatasync per batch group on threadpool threads); a checkpoint fsyncs the WAL, then the database file.
 *   - `close()` drains queued writes and waits for every in-flight fsync before checkpointing and closing.
 * - Reads use a second, read-only connection (file databases), so they never see a batch's uncommitted savepoints.
 *   With `:memory:` there is only one connection; reads wait until no batch is open. `:memory:` never fsyncs.
 * - **Exclusive lock.** A file database is owned by one process: `<filename>.lock` is created with `O_EXCL` and holds
 *   the owner's pid. A second process gets {@link StoreLockedError}; a lock left by a dead process (kill -9) is taken
 *   over. The lock file is removed by `close()`.
 * - **Private files.** A new database file is created with mode 0600 (SQLite gives its `-wal` and `-shm` files the
 *   database file's mode); the lock file is 0600 too.
 * - **WAL size.** SQLite's automatic checkpoints keep the WAL small while nothing holds an old snapshot; when one does
 *   (a long read, an external `sqlite3` shell), the WAL grows. Every `walCheckIntervalMs` the store looks at the WAL
 *   and, past `walCheckpointBytes`, runs `wal_checkpoint(TRUNCATE)` between two batches with a busy timeout of
 *   {@link CHECKPOINT_BUSY_MS}, so writers wait at most that long; a checkpoint that finds readers in the way gives up
 *   and is tried again at the next check. `close()` always checkpoints.
 * - **Checkpoints off the event loop** (`checkpointWorker` option, on by default for file databases;
 *   `checkpointer.ts`). SQLite's automatic checkpoint runs inside the `COMMIT` that takes the WAL past 1,000 pages, on
 *   the committing thread, i.e. the event loop: it copies the pages into the database file and syncs both files,
 *   milliseconds during which no socket is served. Instead a worker thread with its own connection runs
 *   `wal_checkpoint(PASSIVE)` every 100 ms, and once it is up the writer sets `wal_autocheckpoint = 0`. A PASSIVE
 *   checkpoint never blocks the writer or readers, and syncs exactly as the automatic one does (see *Checkpoints*
 *   above: the worker's connection runs with `synchronous=NORMAL`). The WAL is reused from its start only after a
 *   checkpoint that copied every frame, which a concurrent one never does under steady writes; so for its last
 *   round the worker asks the store to hold its next batch (no event-loop blocking: the batch just starts when the
 *   worker resumes it, typically within a millisecond; the worker flushes the database file beforehand so the pause
 *   stays short). If the worker cannot start, the automatic checkpoint stays on. `close()` stops the worker before its
 *   own final checkpoint.
 * - **Row cache** (`rowCache` option, on by default; `row-cache.ts`). Point reads of hot rows skip SQLite: `get(sid)` of
 *   every table, `userChannels.get(user, channel)`, and the unique lookups `users.getByIdentity`,
 *   `channels.getByUniqueName`, `members.getByIdentity`, `invites.getByIdentity`, "not found" answers included. An
 *   entry holds the row's `data` JSON (or "absent"), decoded on first use; every call gets its own copy of the decoded
 *   row (a spread, deeper only where a value is an object), so callers get a fresh object as without the cache. Each
 *   stream's last sequence number (`events.lastSeq`) is cached too, as text. Lists, counts, the other message lookups
 *   and the rest of the event log are not cached.
 *   - *Invariant: an entry is the committed state of its key*, except while a batch that wrote the key is open, when
 *     it is the state before that batch (still the committed state). Reads of the read connection use and fill the
 *     cache freely: that connection sees committed data only. In a write transaction, every key a write may change is
 *     marked dirty in the same synchronous step as the statement that writes it (before it, or right after it when it
 *     succeeded: nothing can read in between): the primary key, the lookup keys of the row's new version and of its
 *     current version (read from the write connection, so a renamed channel's old name or a deleted member's
 *     (channel, identity) is included); a bulk `deleteByChannel` marks the whole table. Write-transaction reads of a
 *     dirty key (or table) bypass the cache and do not fill it; of any other key they see the committed state, so
 *     they may use and fill it. Rows an op wrote stay dirty if its savepoint rolls back (evicting too much is safe).
 *   - *End of batch.* Right after `COMMIT` (or a failed `COMMIT`, or `ROLLBACK`), synchronously, every dirty key and
 *     table is evicted. Then, after a successful `COMMIT` only, a key that was cached when the batch wrote it gets
 *     the value that write stored (the row's new JSON), unless anything later in the batch marked it dirty again (a
 *     write in an op that rolled back, a put that failed, a bulk delete of its table): then it stays evicted. So a
 *     row written by every message (its channel) stays cached. A stream's last sequence number is installed the same
 *     way when an append stores the number right after the one the connection last read or appended (which is then
 *     the greatest); any other append just evicts it. Reads that ran during the batch (interleaved at its awaits;
 *     `:memory:` reads wait for it instead) may have filled dirty keys with pre-batch values: the eviction removes
 *     them. No stale value can come back afterwards, because an entry is only ever filled synchronously with the
 *     answer of the statement just run (no await between reading SQLite and filling the entry), or right after
 *     `COMMIT` with what the batch's last write of the key stored, and from then on SQLite answers that state.
 *   - *Visibility* is the read connection's: an entry reflects `COMMIT`, not the fsync after it, so with pipelined
 *     batches a later batch's rows can be served before an earlier batch's fsync settles, exactly as the read
 *     connection would show them (see *Readers* above). After a failed fsync reads likewise go on from the cache.
 *   - Keys whose strings are not well-formed UTF-16 are never cached (SQLite reads a lone surrogate back differently,
 *     so a row's key columns would not name its cache key). The cache assumes this process is the only writer, which
 *     the lock file ensures; a change made behind the store's back (an external `sqlite3` shell) is not seen until
 *     the entry is evicted.
 *   - *Limits.* At most `maxEntries` entries (default 100 000) and `maxChars` UTF-16 code units of keys and JSON
 *     (default 64 Mi; a row's JSON counts twice, for the decoded copy kept beside it); past either the oldest entries
 *     are evicted (first in, first out). `rowCache: false` turns the cache off. Cost on writes: one extra point read
 *     of the row's columns per put or delete of a user, channel, member or invite (which also lets a put that changes
 *     only `data` update that column alone).
 *
 * @module
 */
import Database from 'better-sqlite3'
import {
  closeSync,
  fdatasync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import { ChatError, isChatError } from '@parley/token'
import type {
  Binding,
  Channel,
  ChannelWebhook,
  ChatEvent,
  EventType,
  Invite,
  Member,
  Message,
  Role,
  Service,
  User,
  UserChannel,
} from '../../core/types.ts'
import {
  StoreConflictError,
  type AccountRow,
  type ApiKeyRow,
  type CredentialRow,
  type NewEvent,
  type PageQuery,
  type ReadRepos,
  type Store,
  type WriteRepos,
} from '../../ports/store.ts'
import { MIGRATIONS } from './migrations.ts'
import { cacheKey, RowCache, type CacheView } from './row-cache.ts'
import { startCheckpointer, type Checkpointer, type CheckpointerStats } from './checkpointer.ts'

type DB = Database.Database
type Param = string | number | null

/** Options of {@link sqliteStore}. Give exactly one of `filename` and `dataDir`. */
export interface SqliteStoreOptions {
  /** A database file path, or `':memory:'` for a private in-memory database (tests). */
  filename?: string
  /** A data directory: the database is `<dataDir>/parley.db`, created with the directory if missing. */
  dataDir?: string
  /** Maximum writes per group-commit transaction. Default 256. */
  maxBatch?: number
  /**
   * How an acknowledged write is made durable (see the module doc). Default `'fsync-async'`: `synchronous=NORMAL`
   * plus an fdatasync of the WAL on the threadpool before the batch settles. `'full'`: `synchronous=FULL` (fsync on
   * the event loop). `'normal'`: no fsync at all (acks may be lost on power loss; benchmarks only).
   */
  durability?: SqliteDurability
  /** @deprecated Use `durability`. `'FULL'` = `durability: 'full'`, `'NORMAL'` = `durability: 'normal'`. */
  synchronous?: 'FULL' | 'NORMAL'
  /**
   * The asynchronous sync of `fsync-async` mode (tests inject one to delay or fail it). Default: `fs.fdatasync` on the
   * threadpool. It receives the fd of the `-wal` file and must resolve only once that file's data is on stable storage.
   */
  fsync?: (fd: number) => Promise<void>
  /** Checkpoint and truncate the WAL once it is larger than this (reliability.md §2.8). Default 64 MiB; 0 = never. */
  walCheckpointBytes?: number
  /** How often the WAL size is looked at. Default 5 s. */
  walCheckIntervalMs?: number
  /**
   * The row cache (see the module doc): `true` (default) with the default limits, limits to override, or `false` to
   * turn it off. `maxEntries` (default {@link DEFAULT_ROW_CACHE_ENTRIES}) bounds the entries over every table and
   * lookup ("not found" answers included); `maxChars` (default {@link DEFAULT_ROW_CACHE_CHARS}) the UTF-16 code units
   * of their keys and JSON, each row's JSON counted twice (the decoded copy kept beside it is about as large). Past
   * either, the oldest entries are evicted.
   */
  rowCache?: boolean | { maxEntries?: number; maxChars?: number }
  /**
   * Run WAL checkpoints on a worker thread instead of inside `COMMIT` on the event loop (see the module doc). Default
   * true; ignored for `:memory:`.
   */
  checkpointWorker?: boolean
}

/** Default {@link SqliteStoreOptions.rowCache} `maxEntries`. */
export const DEFAULT_ROW_CACHE_ENTRIES = 100_000

/**
 * Default {@link SqliteStoreOptions.rowCache} `maxChars`: 64 Mi code units, i.e. up to 32 Mi of JSON (32 to 64 MiB of
 * string data, and about as much again for the decoded rows).
 */
export const DEFAULT_ROW_CACHE_CHARS = 64 * 1024 * 1024

/** {@link SqliteStoreOptions.durability}. */
export type SqliteDurability = 'fsync-async' | 'full' | 'normal'

/** Default {@link SqliteStoreOptions.walCheckpointBytes}: 64 MiB. */
export const DEFAULT_WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024

/** The busy timeout of a size-triggered checkpoint: the longest it waits for readers (and so blocks writers). */
export const CHECKPOINT_BUSY_MS = 50

const BUSY_TIMEOUT_MS = 5000
/** Row cache tag of a stream's last sequence number (`events.lastSeq`). */
const LAST_SEQ_TAG = 'events|last|'
/** How often (at most) the store checks that `-wal` is still the file its fd syncs (module doc: WAL file identity). */
const WAL_IDENTITY_CHECK_MS = 250

/** Result of `PRAGMA wal_checkpoint`: `busy` 1 when readers or a writer kept it from completing; sizes in frames. */
export interface CheckpointResult {
  busy: number
  log: number
  checkpointed: number
}

/** Thrown by {@link sqliteStore} when another live process holds the database. */
export class StoreLockedError extends Error {
  override name = 'StoreLockedError'
  readonly pid: number | null
  readonly lockPath: string
  constructor(lockPath: string, pid: number | null) {
    super(
      `the database is in use by another Parley process${pid === null ? '' : ` (pid ${pid})`}; lock file ${lockPath}. ` +
        'Stop that process, or remove the lock file if it is certainly not running.',
    )
    this.pid = pid
    this.lockPath = lockPath
  }
}

/** A {@link Store} with SQLite-specific extras for operations and tests. */
export interface SqliteStore extends Store {
  /** The database file, or `:memory:`. */
  readonly filename: string
  /** `PRAGMA integrity_check` result (`'ok'` when healthy). */
  integrityCheck(): string
  /**
   * Checkpoints and truncates the WAL now, waiting up to 5 s for readers (`close()` does it too; the store also does
   * it by itself when the WAL outgrows `walCheckpointBytes`). Undefined for `:memory:`.
   */
  checkpoint(): CheckpointResult | undefined
  /** The WAL file's size in bytes (0 when there is none, and for `:memory:`). */
  walBytes(): number
  /** The durability mode in effect (`:memory:` reports `'normal'`: nothing is ever synced). */
  readonly durability: SqliteDurability
  /** Counters of the checkpoint worker; undefined while it is not running (`:memory:`, turned off, not up yet). */
  checkpointerStats(): CheckpointerStats | undefined
  /**
   * Counters of the WAL syncs of `fsync-async` mode since the store opened: how many, their total and longest
   * duration in milliseconds (writes wait for them: a slow disk shows here first).
   */
  syncStats(): SyncStats
}

/** {@link SqliteStore.syncStats}. */
export interface SyncStats {
  syncs: number
  totalMs: number
  maxMs: number
  /** Syncs that took longer than 10 ms. */
  over10Ms: number
}

/**
 * Opens (and migrates) a SQLite store.
 *
 * @throws {StoreLockedError} when another live process holds the database file.
 * @example
 * ```ts
 * const store = sqliteStore({ dataDir: '/var/lib/parley' })   // or { filename: ':memory:' }
 * await store.write(async (tx) => tx.events.head())
 * await store.close()
 * ```
 */
export function sqliteStore(options: SqliteStoreOptions): SqliteStore {
  const filename =
    options.filename ??
    (options.dataDir !== undefined ? join(options.dataDir, 'parley.db') : undefined) ??
    (() => {
      throw new TypeError('sqliteStore: give filename or dataDir')
    })()
  const memory = filename === ':memory:' || filename === ''
  if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true })
  else if (!memory) mkdirSync(dirname(filename), { recursive: true })

  const lockPath = memory ? null : `${filename}.lock`
  if (lockPath !== null) acquireLock(lockPath)

  const legacy =
    options.synchronous === 'FULL'
      ? 'full'
      : options.synchronous === 'NORMAL'
        ? 'normal'
        : undefined
  const durability: SqliteDurability = memory
    ? 'normal'
    : (options.durability ?? legacy ?? 'fsync-async')
  const asyncSync = durability === 'fsync-async'
  const walPath = `${filename}-wal`
  /** Our fd on `-wal` (fsync-async mode), and its inode. */
  let walFd: number | undefined
  let walIno = 0

  let db: DB
  let reader: DB
  try {
    if (!memory) createPrivateFile(filename)
    db = new Database(filename)
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    if (!memory) {
      db.pragma('journal_mode = WAL')
      // After each checkpoint, truncate the WAL back to at most 64 MiB (reliability.md §2.8).
      db.pragma('journal_size_limit = 67108864')
    }
    db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`)
    db.pragma('foreign_keys = OFF')
    migrate(db)
    if (memory) {
      reader = db
    } else {
      reader = new Database(filename, { readonly: true })
      reader.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    }
    // The WAL exists by now (reading page 1 of a WAL-mode database opens it); if not, the first fsync opens it.
    if (asyncSync) openWal()
  } catch (err) {
    if (walFd !== undefined) closeSync(walFd)
    if (lockPath !== null) releaseLock(lockPath)
    throw err
  }

  /**
   * Opens our fd on `-wal` and makes the file and its directory entry durable (synchronously: once per process).
   * Returns false when the file does not exist.
   */
  function openWal(): boolean {
    let fd: number
    try {
      fd = openSync(walPath, 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw err
    }
    try {
      fsyncSync(fd)
      const dirFd = openSync(dirname(walPath), 'r')
      try {
        fsyncSync(dirFd)
      } finally {
        closeSync(dirFd)
      }
      walIno = fstatSync(fd).ino
    } catch (err) {
      closeSync(fd)
      throw err
    }
    walFd = fd
    return true
  }

  const cacheOpt = options.rowCache ?? true
  const rowCache =
    cacheOpt === false
      ? undefined
      : new RowCache({
          maxEntries:
            (cacheOpt === true ? undefined : cacheOpt.maxEntries) ?? DEFAULT_ROW_CACHE_ENTRIES,
          maxChars: (cacheOpt === true ? undefined : cacheOpt.maxChars) ?? DEFAULT_ROW_CACHE_CHARS,
        })
  const writeRepos = makeRepos(db, rowCache?.writer)
  // With the cache, `:memory:` reads get their own repositories (same connection) using the cache's read view.
  const readRepos: ReadRepos =
    memory && rowCache === undefined ? writeRepos : makeRepos(reader, rowCache?.reader)
  const maxBatch = Math.max(1, options.maxBatch ?? 256)

  interface Op {
    fn: (tx: WriteRepos) => Promise<unknown>
    resolve: (v: unknown) => void
    reject: (e: unknown) => void
  }
  let queue: Op[] = []
  let scheduled = false
  let running = false
  /** The checkpoint worker holds the writer between two batches (see `checkpointer.ts`): start none until it resumes. */
  let pausedForCheckpoint = false
  let closed = false
  let idleWaiters: (() => void)[] = []
  /** Committed (or failed) batches waiting for an fsync before they settle, in commit order (fsync-async). */
  let unsynced: (() => void)[] = []
  /** Their rejections, used instead when the fsync fails. */
  let unsyncedFail: ((err: unknown) => void)[] = []
  let syncing = false
  /** When the WAL path's identity was last checked (see kickSync). */
  let walCheckedAt = -Infinity
  const syncStats: SyncStats = { syncs: 0, totalMs: 0, maxMs: 0, over10Ms: 0 }
  /** Set once an fsync failed: every later write rejects with it (fail-stop). */
  let failed: ChatError | undefined
  const doFsync =
    options.fsync ??
    ((fd: number) =>
      new Promise<void>((resolve, reject) => {
        fdatasync(fd, (err) => (err ? reject(err) : resolve()))
      }))
  const begin = db.prepare('BEGIN IMMEDIATE')
  const commit = db.prepare('COMMIT')
  const rollback = db.prepare('ROLLBACK')
  // Each op of a batch runs in its own savepoint: prepared once, not compiled again for every op.
  const savepoint = db.prepare('SAVEPOINT op')
  const release = db.prepare('RELEASE op')
  const rollbackOp = db.prepare('ROLLBACK TO op')

  function schedule(): void {
    if (scheduled || running || pausedForCheckpoint) return
    // fsync-async: while an fsync is in flight, let writes pile up into one batch that runs when it ends (same latency
    // as committing them now, since they would wait for the next fsync anyway, but fewer, larger transactions). Only a
    // full batch runs at once (pipelined behind the fsync), so the queue stays bounded.
    if (syncing && queue.length < maxBatch) return
    scheduled = true
    // setImmediate: every write queued during this turn of the event loop joins the batch.
    setImmediate(() => {
      scheduled = false
      void runBatch()
    })
  }

  async function runBatch(): Promise<void> {
    if (pausedForCheckpoint) return
    if (checkpointer?.takePause() === true) {
      // Between two batches: the worker copies the last WAL frames with no commit in between, then resumes us.
      pausedForCheckpoint = true
      return
    }
    running = true
    const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch)
    queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch)
    const results: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = []
    let fatal: unknown = failed
    let committed = false
    rowCache?.beginBatch()
    try {
      if (fatal === undefined) {
        try {
          begin.run()
        } catch (err) {
          fatal = err
        }
      }
      if (fatal === undefined) {
        for (const op of batch) {
          if (fatal !== undefined) {
            results.push({ ok: false, error: fatal })
            continue
          }
          try {
            savepoint.run()
          } catch (err) {
            // Cannot even open the op's savepoint (I/O trouble): the batch is lost, as for a failed COMMIT.
            fatal = err
            results.push({ ok: false, error: err })
            continue
          }
          try {
            const value = await op.fn(writeRepos)
            release.run()
            rowCache?.endOp(true)
            results.push({ ok: true, value })
          } catch (error) {
            rowCache?.endOp(false)
            if (db.inTransaction) {
              try {
                rollbackOp.run()
                release.run()
              } catch (e) {
                fatal = e
              }
            } else {
              // SQLite rolled back the whole transaction (I/O error, disk full): the batch is lost.
              fatal = error
            }
            results.push({ ok: false, error })
          }
        }
        if (fatal === undefined) {
          try {
            commit.run()
            committed = true
          } catch (err) {
            fatal = err
          }
        }
        if (fatal !== undefined && db.inTransaction) {
          try {
            rollback.run()
          } catch {
            /* already rolled back */
          }
        }
      }
    } finally {
      // Synchronously after COMMIT or ROLLBACK (no await in between): every key the batch wrote leaves the cache
      // before anything can read again.
      rowCache?.endBatch(committed)
    }
    running = false
    const settle = (): void => {
      for (let i = 0; i < batch.length; i++) {
        const op = batch[i]!
        const r = results[i]
        if (fatal !== undefined) op.reject(unavailable(fatal))
        else if (r?.ok) op.resolve(r.value)
        else op.reject(mapError(r?.error))
      }
    }
    if (asyncSync) {
      // Settle after the next fsync that starts after this COMMIT, in order with the batches before (even when this
      // one failed: its ops may have read what those wrote).
      unsynced.push(settle)
      unsyncedFail.push((err) => {
        for (const op of batch) op.reject(err)
      })
      kickSync()
    } else {
      settle()
    }
    notifyIdle()
    if (queue.length > 0) schedule()
  }

  function notifyIdle(): void {
    if (running || syncing || unsynced.length > 0) return
    const waiters = idleWaiters
    idleWaiters = []
    for (const w of waiters) w()
  }

  /** Starts an fsync covering every batch committed so far, unless one is in flight (its end starts the next). */
  function kickSync(): void {
    if (syncing || unsynced.length === 0) return
    const settles = unsynced
    const fails = unsyncedFail
    unsynced = []
    unsyncedFail = []
    if (failed !== undefined) {
      for (const f of fails) f(failed)
      notifyIdle()
      return
    }
    let fd: number
    try {
      if (walFd === undefined && !openWal())
        throw new Error(`${walPath} does not exist after a commit`)
      // The path must still name the file we sync (SQLite never replaces it while open: see the module doc). A
      // belt-and-braces check, so at most every WAL_IDENTITY_CHECK_MS rather than a stat before every fsync.
      const t = performance.now()
      if (t - walCheckedAt >= WAL_IDENTITY_CHECK_MS) {
        if (statSync(walPath).ino !== walIno)
          throw new Error(`${walPath} was replaced while the database was open`)
        walCheckedAt = t
      }
      fd = walFd!
    } catch (err) {
      syncFailed(err, fails)
      return
    }
    syncing = true
    const syncStart = performance.now()
    doFsync(fd).then(
      () => {
        const ms = performance.now() - syncStart
        syncStats.syncs++
        syncStats.totalMs += ms
        if (ms > syncStats.maxMs) syncStats.maxMs = ms
        if (ms > 10) syncStats.over10Ms++
        syncing = false
        for (const s of settles) s()
        // Writes that piled up during the fsync: run them now; the end of that batch starts the next fsync (covering
        // it and any pipelined batch). Otherwise sync the pipelined batches, if any.
        if (queue.length > 0) schedule()
        else kickSync()
        notifyIdle()
      },
      (err: unknown) => {
        syncing = false
        syncFailed(err, fails)
      },
    )
  }

  /** Fail-stop: the batches of a failed fsync and every one committed after it reject; so does every later write. */
  function syncFailed(err: unknown, fails: ((err: unknown) => void)[]): void {
    failed ??= new ChatError(
      52001,
      'Store unavailable: syncing the write-ahead log to disk failed; writes are stopped until restart',
      { cause: err },
    )
    const all = [...fails, ...unsyncedFail]
    unsynced = []
    unsyncedFail = []
    for (const f of all) f(failed)
    // Writes queued behind the fsync: their batch now rejects them with `failed`.
    if (queue.length > 0) schedule()
    notifyIdle()
  }

  const walLimit = options.walCheckpointBytes ?? DEFAULT_WAL_CHECKPOINT_BYTES
  const walBytes = (): number => {
    if (memory) return 0
    try {
      return statSync(walPath).size
    } catch {
      return 0
    }
  }
  const checkpoint = (busyMs: number): CheckpointResult | undefined => {
    if (memory) return undefined
    if (busyMs !== BUSY_TIMEOUT_MS) db.pragma(`busy_timeout = ${busyMs}`)
    try {
      return (db.pragma('wal_checkpoint(TRUNCATE)') as CheckpointResult[])[0]
    } finally {
      if (busyMs !== BUSY_TIMEOUT_MS) db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    }
  }
  // Size-triggered checkpoints run between batches only (never inside an open transaction); a busy or failed one
  // leaves the WAL as it is until the next check.
  const walTimer =
    memory || !(walLimit > 0)
      ? undefined
      : setInterval(
          () => {
            if (closed || running || db.inTransaction || walBytes() <= walLimit) return
            try {
              checkpoint(CHECKPOINT_BUSY_MS)
            } catch {
              /* I/O trouble shows up on the next write; retried at the next check */
            }
          },
          Math.max(1, options.walCheckIntervalMs ?? 5000),
        )
  walTimer?.unref()

  let checkpointer: Checkpointer | undefined
  const checkpointerStarted =
    memory || options.checkpointWorker === false
      ? Promise.resolve()
      : startCheckpointer({
          filename,
          onResume() {
            pausedForCheckpoint = false
            if (queue.length > 0) schedule()
            else notifyIdle()
          },
        }).then(
          (cp) => {
            if (closed) return cp.stop()
            checkpointer = cp
            // From now on the worker checkpoints; COMMIT on the event loop no longer does.
            db.pragma('wal_autocheckpoint = 0')
            return undefined
          },
          () => {
            /* the worker could not start: SQLite's automatic checkpoint stays on */
          },
        )

  /** Resolves when no batch is open or waiting for its fsync (and, if nothing is queued either, the store is idle). */
  function whenIdle(): Promise<void> {
    if (!running && !scheduled && queue.length === 0 && !syncing && unsynced.length === 0)
      return Promise.resolve()
    return new Promise((resolve) => idleWaiters.push(resolve))
  }

  const store: SqliteStore = {
    filename,
    durability,
    write<T>(fn: (tx: WriteRepos) => Promise<T>): Promise<T> {
      if (closed) return Promise.reject(new ChatError(52001, 'Store closed'))
      if (failed !== undefined) return Promise.reject(failed)
      return new Promise<T>((resolve, reject) => {
        queue.push({ fn, resolve: resolve as (v: unknown) => void, reject })
        schedule()
      })
    },
    async read<T>(fn: (tx: ReadRepos) => Promise<T>): Promise<T> {
      if (closed) throw new ChatError(52001, 'Store closed')
      // One connection in memory mode: never read inside an open batch (it would see uncommitted savepoints).
      if (memory && running) await whenIdle()
      try {
        return await fn(readRepos)
      } catch (err) {
        throw mapError(err)
      }
    },
    async close() {
      if (closed) return
      // Drain every queued write (possibly several batches) and wait for their fsyncs before closing.
      while (running || scheduled || queue.length > 0 || syncing || unsynced.length > 0)
        await whenIdle()
      closed = true
      if (walTimer !== undefined) clearInterval(walTimer)
      await checkpointerStarted
      await checkpointer?.stop()
      checkpointer = undefined
      try {
        if (walFd !== undefined) {
          closeSync(walFd)
          walFd = undefined
        }
        if (!memory) {
          reader.close()
          checkpoint(BUSY_TIMEOUT_MS)
        }
        db.close()
      } finally {
        if (lockPath !== null) releaseLock(lockPath)
      }
    },
    integrityCheck() {
      return String(db.pragma('integrity_check', { simple: true }))
    },
    checkpoint: () => checkpoint(BUSY_TIMEOUT_MS),
    walBytes,
    checkpointerStats: () => checkpointer?.stats(),
    syncStats: () => ({ ...syncStats }),
  }
  return store
}

// ---------------------------------------------------------------------------------------------------------------
// Lock file
// ---------------------------------------------------------------------------------------------------------------

function acquireLock(lockPath: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    let pid: number | null = null
    try {
      const n = Number.parseInt(readFileSync(lockPath, 'utf8').trim(), 10)
      pid = Number.isSafeInteger(n) && n > 0 ? n : null
    } catch {
      /* unreadable: treat as stale */
    }
    if (pid !== null && pid !== process.pid && isAlive(pid))
      throw new StoreLockedError(lockPath, pid)
    if (pid === process.pid) throw new StoreLockedError(lockPath, pid)
    // Stale lock (the owner died, e.g. kill -9): take it over.
    try {
      unlinkSync(lockPath)
    } catch {
      /* raced with another process; retry */
    }
  }
  throw new StoreLockedError(lockPath, null)
}

/** Creates `path` with mode 0600 if it does not exist (an empty file is an empty SQLite database). */
function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function releaseLock(lockPath: string): void {
  try {
    const pid = Number.parseInt(readFileSync(lockPath, 'utf8').trim(), 10)
    if (pid === process.pid) unlinkSync(lockPath)
  } catch {
    /* already gone */
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Migrations and errors
// ---------------------------------------------------------------------------------------------------------------

function migrate(db: DB): void {
  const current = Number(db.pragma('user_version', { simple: true }))
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue
    db.transaction(() => {
      db.exec(m.sql)
      db.pragma(`user_version = ${m.version}`)
    }).immediate()
  }
}

function isSqliteError(err: unknown): err is Error & { code: string } {
  return err instanceof Database.SqliteError
}

function mapError(err: unknown): unknown {
  if (isChatError(err) || err instanceof StoreConflictError) return err
  if (isSqliteError(err)) return unavailable(err)
  return err
}

function unavailable(err: unknown): unknown {
  if (isChatError(err)) return err
  return new ChatError(52001, 'Store unavailable', { cause: err })
}

function conflictName(err: unknown): string | undefined {
  if (
    !isSqliteError(err) ||
    (err.code !== 'SQLITE_CONSTRAINT_UNIQUE' && err.code !== 'SQLITE_CONSTRAINT_PRIMARYKEY')
  )
    return undefined
  const m = /constraint failed: (.*)$/.exec(err.message)
  const cols = m?.[1] ?? ''
  if (cols.includes('users.identity')) return 'users.identity'
  if (cols.includes('channels.unique_name')) return 'channels.unique_name'
  if (cols.includes('members.identity')) return 'members.identity'
  if (cols.includes('messages.client_id')) return 'messages.client_id'
  if (cols.includes('messages.idx')) return 'messages.index'
  if (cols.includes('invites.identity')) return 'invites.identity'
  if (cols.includes('events.stream_seq')) return 'events.stream_seq'
  return cols || 'unknown'
}

// ---------------------------------------------------------------------------------------------------------------
// Repositories
// ---------------------------------------------------------------------------------------------------------------

interface TableSpec<T> {
  table: string
  /** Primary key columns. */
  pk: readonly string[]
  /** Every column but `data`, with its value from a row. */
  cols: Readonly<Record<string, (row: T) => Param>>
  /** Keyset sort columns. */
  sort: readonly string[]
  /** Unique lookups answered through the row cache: name → columns (of `cols`), as `lookup(name, ...values)`. */
  lookups?: Readonly<Record<string, readonly string[]>>
}

/**
 * The repositories over one connection. `view` is that connection's access to the row cache (none: uncached): the
 * point reads `get` and `lookup` go through it; every write marks the keys it may change dirty first.
 */
function makeRepos(db: DB, view: CacheView | undefined): WriteRepos {
  const statements = new Map<string, Database.Statement>()
  const prep = (sql: string): Database.Statement => {
    let s = statements.get(sql)
    if (s === undefined) {
      s = db.prepare(sql)
      statements.set(sql, s)
    }
    return s
  }
  /** Runs a write; a unique-constraint violation becomes a {@link StoreConflictError} naming the constraint. */
  const runUnique = (sql: string, params: Param[]): Database.RunResult => {
    try {
      return prep(sql).run(...params)
    } catch (err) {
      const c = conflictName(err)
      if (c !== undefined) throw new StoreConflictError(c, { cause: err })
      throw err
    }
  }
  const parse = <T>(r: unknown): T | undefined =>
    r === undefined ? undefined : (JSON.parse((r as { data: string }).data) as T)
  const parseAll = <T>(rows: unknown[]): T[] =>
    rows.map((r) => JSON.parse((r as { data: string }).data) as T)

  function table<T>(spec: TableSpec<T>) {
    const colNames = Object.keys(spec.cols)
    const getters = Object.values(spec.cols)
    const colIndex = new Map(colNames.map((c, i) => [c, i]))
    const nonPk = colNames.filter((c) => !spec.pk.includes(c))
    const upsertSql =
      `INSERT INTO ${spec.table} (${colNames.join(', ')}, data) VALUES (${colNames.map(() => '?').join(', ')}, ?) ` +
      `ON CONFLICT (${spec.pk.join(', ')}) DO UPDATE SET ${[...nonPk, 'data'].map((c) => `${c} = excluded.${c}`).join(', ')}`
    const where = (cols: readonly string[]): string => cols.map((c) => `${c} = ?`).join(' AND ')
    const pkWhere = where(spec.pk)
    const getSql = `SELECT data FROM ${spec.table} WHERE ${pkWhere}`
    const pkTag = `${spec.table}|pk|`
    const lookups = Object.entries(spec.lookups ?? {}).map(([name, cols]) => ({
      name,
      cols,
      tag: `${spec.table}|${name}|`,
      sql: `SELECT data FROM ${spec.table} WHERE ${where(cols)} LIMIT 1`,
    }))
    // A put that changes only `data` of an existing row updates that column alone: the upsert would also delete and
    // re-insert the row's entries in every index (a channel's, on every message), dirtying their pages for the COMMIT.
    const nonPkIndex = nonPk.map((c) => colIndex.get(c)!)
    const currentSql = `SELECT ${nonPk.join(', ')} FROM ${spec.table} WHERE ${pkWhere}`
    const updateDataSql = `UPDATE ${spec.table} SET data = ? WHERE ${pkWhere}`

    /** A point read through the row cache: at most one row, by `params` of the lookup tagged `tag`. */
    const cachedGet = (tag: string, sql: string, params: Param[]): T | undefined => {
      const key = view === undefined ? undefined : cacheKey(tag, params)
      if (key !== undefined) {
        const hit = view!.get(spec.table, key)
        if (hit !== undefined) return hit === null ? undefined : hit.decode<T>()
      }
      const r = prep(sql).get(...params) as { data: string } | undefined
      // Synchronously after the statement: what it answered is still what this connection sees.
      if (key !== undefined) view!.set(spec.table, key, r === undefined ? null : r.data)
      return r === undefined ? undefined : (JSON.parse(r.data) as T)
    }
    const markDirty = (tag: string, params: Param[]): void => {
      const key = cacheKey(tag, params)
      if (key !== undefined) view!.dirty(key)
    }
    /** Marks a key dirty that holds `data` once the batch commits (installed then if the key is hot). */
    const wrote = (tag: string, params: Param[], data: string): void => {
      const key = cacheKey(tag, params)
      if (key !== undefined) view!.wrote(spec.table, key, data)
    }
    /** Marks dirty the lookup keys of a row whose column values `col` gives. */
    const dirtyLookups = (col: (c: string) => Param): void => {
      for (const l of lookups) markDirty(l.tag, l.cols.map(col))
    }
    /**
     * The non-key columns of the row with primary key `pk` as this connection sees it, for tables with lookups (the
     * ones whose rows are updated in place); `undefined` for other tables, or when there is no such row.
     */
    const current = (pk: Param[]): Record<string, Param> | undefined =>
      lookups.length === 0
        ? undefined
        : (prep(currentSql).get(...pk) as Record<string, Param> | undefined)
    /**
     * With a write of the row with primary key `pk` (before it, or right after it succeeded): marks dirty that key and
     * the lookup keys of its version `old` from before the write (a put may change them; a delete frees them). A
     * lookup's primary-key column is `pk`'s.
     */
    const dirtyRow = (pk: Param[], old: Record<string, Param> | undefined): void => {
      markDirty(pkTag, pk)
      if (old !== undefined)
        dirtyLookups((c) => (c in old ? (old[c] ?? null) : pk[spec.pk.indexOf(c)]!))
    }

    return {
      async get(...key: Param[]): Promise<T | undefined> {
        return cachedGet(pkTag, getSql, key)
      },
      /** A unique lookup of `spec.lookups`, through the row cache. */
      async lookup(name: string, ...params: Param[]): Promise<T | undefined> {
        const l = lookups.find((x) => x.name === name)
        if (l === undefined) throw new Error(`no lookup ${spec.table}.${name}`)
        return cachedGet(l.tag, l.sql, params)
      },
      async put(row: T): Promise<void> {
        const params: Param[] = getters.map((g) => g(row))
        const col = (c: string): Param => params[colIndex.get(c)!]!
        const pk = spec.pk.map(col)
        // The current columns: the cache needs the old lookup keys, and they show whether only `data` changes.
        const old = current(pk)
        const data = JSON.stringify(row)
        if (old !== undefined && nonPk.every((c, i) => old[c] === params[nonPkIndex[i]!])) {
          prep(updateDataSql).run(data, ...pk)
        } else {
          params.push(data)
          runUnique(upsertSql, params)
        }
        // Written (a statement that failed changed nothing): the old version's keys are dirty; the new version's
        // too, and those that were hot get it when the batch commits.
        if (view !== undefined) {
          dirtyRow(pk, old)
          wrote(pkTag, pk, data)
          for (const l of lookups) wrote(l.tag, l.cols.map(col), data)
        }
      },
      async delete(...key: Param[]): Promise<void> {
        if (view !== undefined) dirtyRow(key, current(key))
        prep(`DELETE FROM ${spec.table} WHERE ${pkWhere}`).run(...key)
      },
      async one(where: string, ...params: Param[]): Promise<T | undefined> {
        return parse<T>(
          prep(`SELECT data FROM ${spec.table} WHERE ${where} LIMIT 1`).get(...params),
        )
      },
      async all(where: string, ...params: Param[]): Promise<T[]> {
        return parseAll<T>(prep(`SELECT data FROM ${spec.table} WHERE ${where}`).all(...params))
      },
      async count(where: string, ...params: Param[]): Promise<number> {
        return (
          prep(`SELECT COUNT(*) AS n FROM ${spec.table} WHERE ${where}`).get(...params) as {
            n: number
          }
        ).n
      },
      async deleteWhere(where: string, ...params: Param[]): Promise<void> {
        view?.dirtyTable(spec.table)
        prep(`DELETE FROM ${spec.table} WHERE ${where}`).run(...params)
      },
      /** Keyset page: `scope` equalities and `IN` filters, ordered by `spec.sort`. */
      async list(
        scope: Record<string, Param>,
        filters: Record<string, readonly Param[] | undefined>,
        q: PageQuery,
      ): Promise<T[]> {
        const where: string[] = []
        const params: Param[] = []
        for (const [c, v] of Object.entries(scope)) {
          where.push(`${c} = ?`)
          params.push(v)
        }
        for (const [c, vs] of Object.entries(filters)) {
          if (vs === undefined || vs.length === 0) continue
          where.push(`${c} IN (${vs.map(() => '?').join(', ')})`)
          params.push(...vs)
        }
        const desc = q.desc === true
        const key = q.after ?? q.before
        // Walk backwards for `before`: flip the direction, then reverse the rows.
        const backwards = q.before !== undefined
        const descending = desc !== backwards
        if (key !== undefined) {
          if (key.length !== spec.sort.length) throw new RangeError('sort key length mismatch')
          const lhs = spec.sort.length === 1 ? spec.sort[0] : `(${spec.sort.join(', ')})`
          const rhs = spec.sort.length === 1 ? '?' : `(${spec.sort.map(() => '?').join(', ')})`
          where.push(`${lhs} ${descending ? '<' : '>'} ${rhs}`)
          params.push(...(key as Param[]))
        }
        const order = spec.sort.map((c) => `${c} ${descending ? 'DESC' : 'ASC'}`).join(', ')
        const sql = `SELECT data FROM ${spec.table} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY ${order} LIMIT ?`
        params.push(Math.max(0, Math.floor(q.limit)))
        const rows = parseAll<T>(prep(sql).all(...params))
        if (backwards) rows.reverse()
        return rows
      },
    }
  }

  /** The usual table: primary key `sid`, keyset by `[created_at, sid]`, plus the given lookup columns. */
  function entity<T extends { sid: string; createdAt: number }>(
    name: string,
    lookup: Readonly<Record<string, (row: T) => Param>> = {},
    lookups: Readonly<Record<string, readonly string[]>> = {},
  ) {
    return table<T>({
      table: name,
      pk: ['sid'],
      cols: { sid: (r) => r.sid, ...lookup, created_at: (r) => r.createdAt },
      sort: ['created_at', 'sid'],
      lookups,
    })
  }
  const accounts = entity<AccountRow>('accounts')
  const apiKeys = entity<ApiKeyRow>('api_keys', { account_sid: (r) => r.accountSid })
  const services = entity<Service>('services', { account_sid: (r) => r.accountSid })
  const roles = entity<Role>('roles', { service_sid: (r) => r.serviceSid })
  const users = entity<User>(
    'users',
    { service_sid: (r) => r.serviceSid, identity: (r) => r.identity },
    { identity: ['service_sid', 'identity'] },
  )
  const channels = entity<Channel>(
    'channels',
    { service_sid: (r) => r.serviceSid, unique_name: (r) => r.uniqueName, type: (r) => r.type },
    { unique_name: ['service_sid', 'unique_name'] },
  )
  const members = entity<Member>(
    'members',
    { channel_sid: (r) => r.channelSid, identity: (r) => r.identity },
    { identity: ['channel_sid', 'identity'] },
  )
  const messages = table<Message>({
    table: 'messages',
    pk: ['sid'],
    cols: {
      sid: (r) => r.sid,
      channel_sid: (r) => r.channelSid,
      idx: (r) => r.index,
      from_identity: (r) => r.from,
      client_id: (r) => r.clientMessageId,
    },
    sort: ['idx'],
  })
  const invites = entity<Invite>(
    'invites',
    { channel_sid: (r) => r.channelSid, identity: (r) => r.identity },
    { identity: ['channel_sid', 'identity'] },
  )
  const userChannels = table<UserChannel>({
    table: 'user_channels',
    pk: ['user_sid', 'channel_sid'],
    cols: {
      user_sid: (r) => r.userSid,
      channel_sid: (r) => r.channelSid,
      created_at: (r) => r.createdAt,
    },
    sort: ['created_at', 'channel_sid'],
  })
  const credentials = entity<CredentialRow>('credentials', { account_sid: (r) => r.accountSid })
  const bindings = entity<Binding>('bindings', {
    service_sid: (r) => r.serviceSid,
    binding_type: (r) => r.bindingType,
    identity: (r) => r.identity,
  })
  const webhooks = entity<ChannelWebhook>('webhooks', { channel_sid: (r) => r.channelSid })

  const none = {}
  interface EventRow {
    seq: number
    stream: string
    stream_seq: number
    type: string
    key: string | null
    account_sid: string
    service_sid: string | null
    created_at: number
    data: string
  }
  const toEvent = (r: EventRow): ChatEvent => ({
    seq: r.seq,
    stream: r.stream,
    streamSeq: r.stream_seq,
    type: r.type as EventType,
    key: r.key,
    data: JSON.parse(r.data) as unknown,
    accountSid: r.account_sid,
    serviceSid: r.service_sid,
    createdAt: r.created_at,
  })
  const lastSeqSql = 'SELECT MAX(stream_seq) AS s FROM events WHERE stream = ?'
  /** The last `lastSeq` answer or append of this connection (see `append`). */
  let lastKnown: { stream: string; seq: number } | undefined
  const readStreamSql =
    'SELECT * FROM events WHERE stream = ? AND stream_seq > ? ORDER BY stream_seq LIMIT ?'
  const readAfterSql = 'SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?'
  const headSql = 'SELECT MAX(seq) AS s FROM events'
  const appendSql =
    'INSERT INTO events (stream, stream_seq, type, key, account_sid, service_sid, created_at, data) ' +
    'VALUES (?, ?, ?, ?, ?, ?, ?, ?)'

  type Table<T> = ReturnType<typeof table<T>>
  /** get, put and delete by SID. */
  const bySid = <T>(t: Table<T>) => ({
    get: (s: string) => t.get(s),
    put: t.put,
    delete: (s: string) => t.delete(s),
  })
  /** {@link bySid} plus the keyset list of the rows whose `col` equals a value. */
  const scoped = <T>(t: Table<T>, col: string) => ({
    ...bySid(t),
    list: (v: string, q: PageQuery) => t.list({ [col]: v }, none, q),
  })
  const deleteByChannel =
    <T>(t: Table<T>) =>
    (ch: string) =>
      t.deleteWhere('channel_sid = ?', ch)

  const repos: WriteRepos = {
    accounts: { ...bySid(accounts), list: (q) => accounts.list(none, none, q) },
    apiKeys: scoped(apiKeys, 'account_sid'),
    services: scoped(services, 'account_sid'),
    roles: scoped(roles, 'service_sid'),
    users: {
      ...scoped(users, 'service_sid'),
      getByIdentity: (sv, id) => users.lookup('identity', sv, id),
    },
    channels: {
      ...bySid(channels),
      getByUniqueName: (sv, n) => channels.lookup('unique_name', sv, n),
      list: (sv, f, q) => channels.list({ service_sid: sv }, { type: f.types }, q),
    },
    members: {
      ...bySid(members),
      getByIdentity: (ch, id) => members.lookup('identity', ch, id),
      list: (ch, f, q) => members.list({ channel_sid: ch }, { identity: f.identities }, q),
    },
    messages: {
      ...scoped(messages, 'channel_sid'),
      getByIndex: (ch, i) => messages.one('channel_sid = ? AND idx = ?', ch, i),
      getByClientId: (ch, from, id) =>
        messages.one('channel_sid = ? AND from_identity = ? AND client_id = ?', ch, from, id),
      countAfter: (ch, i) => messages.count('channel_sid = ? AND idx > ?', ch, i),
      deleteByChannel: deleteByChannel(messages),
    },
    invites: {
      ...bySid(invites),
      getByIdentity: (ch, id) => invites.lookup('identity', ch, id),
      list: (ch, f, q) => invites.list({ channel_sid: ch }, { identity: f.identities }, q),
      deleteByChannel: deleteByChannel(invites),
    },
    userChannels: {
      get: (u, ch) => userChannels.get(u, ch),
      list: (u, q) => userChannels.list({ user_sid: u }, none, q),
      listByChannel: (ch) => userChannels.all('channel_sid = ?', ch),
      put: userChannels.put,
      delete: (u, ch) => userChannels.delete(u, ch),
    },
    credentials: scoped(credentials, 'account_sid'),
    bindings: {
      ...bySid(bindings),
      list: (sv, f, q) =>
        bindings.list(
          { service_sid: sv },
          { binding_type: f.bindingTypes, identity: f.identities },
          q,
        ),
    },
    webhooks: { ...scoped(webhooks, 'channel_sid'), deleteByChannel: deleteByChannel(webhooks) },
    events: {
      async lastSeq(stream) {
        const key = view === undefined ? undefined : cacheKey(LAST_SEQ_TAG, [stream])
        const hit = key === undefined ? undefined : view!.get('events', key)
        let seq: number
        if (hit !== undefined && hit !== null) {
          seq = Number(hit.data)
        } else {
          seq = (prep(lastSeqSql).get(stream) as { s: number | null }).s ?? 0
          if (key !== undefined) view!.set('events', key, String(seq))
        }
        lastKnown = { stream, seq }
        return seq
      },
      async readStream(stream, after, limit) {
        return (prep(readStreamSql).all(stream, after, limit) as EventRow[]).map(toEvent)
      },
      async readAfter(after, limit) {
        return (prep(readAfterSql).all(after, limit) as EventRow[]).map(toEvent)
      },
      async head() {
        return (prep(headSql).get() as { s: number | null }).s ?? 0
      },
      async append(ev: NewEvent): Promise<ChatEvent> {
        const data = JSON.stringify(ev.data)
        const info = runUnique(appendSql, [
          ev.stream,
          ev.streamSeq,
          ev.type,
          ev.key,
          ev.accountSid,
          ev.serviceSid,
          ev.createdAt,
          data,
        ])
        // The stream's cached last sequence number: `lastKnown` is at least the stream's greatest (it can only be
        // above it, after a rolled-back append), so an append right after it is the new greatest.
        const isNext = lastKnown?.stream === ev.stream && lastKnown.seq === ev.streamSeq - 1
        lastKnown = isNext ? { stream: ev.stream, seq: ev.streamSeq } : undefined
        const key = view === undefined ? undefined : cacheKey(LAST_SEQ_TAG, [ev.stream])
        if (key !== undefined) {
          if (isNext) view!.wrote('events', key, String(ev.streamSeq))
          else view!.dirty(key)
        }
        return { ...ev, seq: Number(info.lastInsertRowid) }
      },
    },
  }
  return repos
}
