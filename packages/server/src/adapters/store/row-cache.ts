/**
 * The SQLite store's row cache: the `data` JSON of hot rows by primary key and by unique lookup key, including "not
 * found" answers (and each event stream's last sequence number), kept coherent with the database by invalidation at
 * the end of every write batch, then installation of what a committed batch wrote to cached keys. The coherence
 * argument is in the module doc of `sqlite.ts` ("Row cache"); this module is the mechanism.
 *
 * A cache key is built by {@link cacheKey} from a tag naming the table and the lookup (`users|identity|`) and the
 * lookup's parameters. The cache knows nothing of SQL: the repositories ask it through a {@link CacheView} before
 * running a statement, and tell it what the statement answered.
 *
 * @module
 */

/** Bounds of a {@link RowCache}. */
export interface RowCacheLimits {
  /** Most entries (rows and "not found" answers, over every table and lookup). */
  maxEntries: number
  /**
   * Most UTF-16 code units of keys plus cached JSON, each row's JSON counted twice: once for the text, once for the
   * decoded copy kept beside it (about as large in memory).
   */
  maxChars: number
}

/**
 * A cached row: its `data` JSON, decoded on first use and kept decoded. {@link decode} hands out a fresh copy each
 * time, equal to what `JSON.parse(data)` returns (callers may change it freely), at a fraction of the cost: objects
 * are copied with a spread, and only the values that are objects or arrays, found once when decoding, are copied
 * further (most rows are flat).
 */
export class CachedRow {
  readonly data: string
  /** The decoded row, never handed out. */
  #template: unknown
  /** How to copy it; `undefined` until decoded. */
  #plan: CopyPlan | undefined

  constructor(data: string) {
    this.data = data
  }

  /** A fresh copy of the row, as `JSON.parse(data)` would give. */
  decode<T>(): T {
    if (this.#plan === undefined) {
      this.#template = JSON.parse(this.data)
      this.#plan = copyPlan(this.#template)
    }
    return copyJson(this.#template, this.#plan) as T
  }
}

/**
 * What a copy of a decoded JSON value must do: nothing for a primitive (`null`); for an object, spread it and copy
 * further the own keys whose values are containers; for an array, copy each element.
 */
type CopyPlan = null | { keys: [string, CopyPlan][] } | { items: CopyPlan[]; flat: boolean }

function copyPlan(v: unknown): CopyPlan {
  if (typeof v !== 'object' || v === null) return null
  if (Array.isArray(v)) {
    const items = v.map(copyPlan)
    return { items, flat: items.every((p) => p === null) }
  }
  const keys: [string, CopyPlan][] = []
  for (const [k, x] of Object.entries(v)) {
    const p = copyPlan(x)
    if (p !== null) keys.push([k, p])
  }
  return { keys }
}

/**
 * A copy of `v` by its plan. A spread copies own properties as data properties, a `__proto__` key included; assigning
 * to such a key then updates that own property, so the copy has the same shape as the original.
 */
function copyJson(v: unknown, plan: CopyPlan): unknown {
  if (plan === null) return v
  if ('items' in plan) {
    const a = v as unknown[]
    return plan.flat ? a.slice() : a.map((x, i) => copyJson(x, plan.items[i]!))
  }
  const o: Record<string, unknown> = { ...(v as Record<string, unknown>) }
  for (const [k, p] of plan.keys) o[k] = copyJson(o[k], p)
  return o
}

/** What an entry counts against {@link RowCacheLimits.maxChars}: its key, and its JSON twice (text and decoded copy). */
function entrySize(key: string, data: string | null): number {
  return key.length + (data === null ? 0 : 2 * data.length)
}

/** One connection's access to the cache, used by that connection's repositories. */
export interface CacheView {
  /**
   * The cached row for `key` of `table` (`null`: known to be absent), or `undefined` when the statement must run (not
   * cached, or not what this connection would answer now).
   */
  get(table: string, key: string): CachedRow | null | undefined
  /** Records what the statement for `key` just answered on this connection (ignored where that is not committed). */
  set(table: string, key: string, data: string | null): void
  /** `key` is about to be written on this connection (write view only). */
  dirty(key: string): void
  /**
   * `key` of `table` was just written on this connection and holds `data` once the batch commits (write view only).
   * Like {@link dirty}; and if the key is cached at this moment (a row or "not found", also when filled during the
   * batch), the batch's successful COMMIT installs `data` instead of evicting the key, unless the op rolls back or a
   * later write of the batch marks the key dirty again.
   */
  wrote(table: string, key: string, data: string): void
  /** Rows of `table` are about to be written in bulk (write view only): the table's keys are all dirty. */
  dirtyTable(table: string): void
}

/**
 * The cache key of a lookup: `tag` followed by the parameters, each but the last prefixed with its length so no two
 * parameter lists share a key. `undefined` (do not cache) when a parameter is not a string, or is not well-formed
 * UTF-16: SQLite stores a lone surrogate in a form that reads back differently, so a row's key columns could not be
 * turned back into the key that finds it.
 */
export function cacheKey(tag: string, params: readonly unknown[]): string | undefined {
  let key = tag
  const last = params.length - 1
  for (let i = 0; i <= last; i++) {
    const p = params[i]
    if (typeof p !== 'string' || !isWellFormed(p)) return undefined
    key += i === last ? p : `${p.length}:${p}`
  }
  return key
}

const isWellFormedImpl = (
  String.prototype as unknown as { isWellFormed?: (this: string) => boolean }
).isWellFormed
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
/** `String.prototype.isWellFormed` (Node 20 has it; ES2023 typings do not). */
function isWellFormed(s: string): boolean {
  return isWellFormedImpl !== undefined ? isWellFormedImpl.call(s) : !LONE_SURROGATE.test(s)
}

/**
 * The cache shared by a store's connections. Entries are evicted first-in first-out past the limits.
 *
 * Batches: between {@link beginBatch} and {@link endBatch}, keys the write connection writes are recorded as dirty;
 * the write view neither answers nor records them (its connection may see uncommitted values), and `endBatch`
 * evicts them all, then installs the new values of the hot ones a committed batch wrote ({@link CacheView.wrote}), so
 * a row read and written by every message (a channel, a stream's last sequence number) stays cached. The read view
 * ignores dirtiness: its connection sees committed data only, as does every entry.
 */
export class RowCache {
  readonly reader: CacheView
  readonly writer: CacheView
  readonly #limits: RowCacheLimits
  readonly #entries = new Map<string, CachedRow | null>()
  #chars = 0
  #inBatch = false
  readonly #dirtyKeys = new Set<string>()
  readonly #dirtyTables = new Set<string>()
  /** What the batch's ended ops wrote to hot keys, installed at COMMIT. */
  readonly #installs = new Map<string, { table: string; data: string }>()
  /** The same for the op running now: joins {@link #installs} when it ends well, dropped when it rolls back. */
  readonly #opInstalls = new Map<string, { table: string; data: string }>()

  constructor(limits: RowCacheLimits) {
    this.#limits = limits
    this.reader = {
      get: (_table, key) => this.#entries.get(key),
      set: (_table, key, data) => this.#set(key, data),
      dirty: () => {
        throw new Error('row cache: the read view cannot write')
      },
      wrote: () => {
        throw new Error('row cache: the read view cannot write')
      },
      dirtyTable: () => {
        throw new Error('row cache: the read view cannot write')
      },
    }
    this.writer = {
      get: (table, key) => (this.#isDirty(table, key) ? undefined : this.#entries.get(key)),
      set: (table, key, data) => {
        if (!this.#isDirty(table, key)) this.#set(key, data)
      },
      dirty: (key) => {
        // Outside a batch (only a caller that kept `tx` past its write could do that) the write commits at once.
        if (!this.#inBatch) {
          this.#delete(key)
          return
        }
        this.#dirtyKeys.add(key)
        if (this.#opInstalls.size > 0) this.#opInstalls.delete(key)
        if (this.#installs.size > 0) this.#installs.delete(key)
      },
      wrote: (table, key, data) => {
        if (!this.#inBatch) {
          this.#delete(key)
          return
        }
        this.#dirtyKeys.add(key)
        if (this.#entries.has(key) || this.#opInstalls.has(key) || this.#installs.has(key)) {
          this.#opInstalls.set(key, { table, data })
        }
      },
      dirtyTable: (table) => {
        if (this.#inBatch) this.#dirtyTables.add(table)
        else this.#deleteTable(table)
      },
    }
  }

  /** A write batch starts: from now on the write connection may see uncommitted writes. */
  beginBatch(): void {
    this.#inBatch = true
  }

  /**
   * The op running in the batch ended: `committed` when its savepoint was released (its writes are part of the
   * batch), false when it rolled back (they are not: its keys stay dirty, and are evicted at the end of the batch).
   */
  endOp(committed: boolean): void {
    if (committed) for (const [key, v] of this.#opInstalls) this.#installs.set(key, v)
    this.#opInstalls.clear()
  }

  /**
   * The batch ended: evicts every key it wrote, then, when `committed` (its COMMIT succeeded), installs what its ops
   * wrote to keys that were hot. Must run synchronously right after the COMMIT or ROLLBACK, before anything else can
   * read.
   */
  endBatch(committed = false): void {
    for (const key of this.#dirtyKeys) this.#delete(key)
    for (const table of this.#dirtyTables) this.#deleteTable(table)
    if (committed) {
      for (const [key, { table, data }] of this.#installs) {
        if (!this.#dirtyTables.has(table)) this.#set(key, data)
      }
    }
    this.#dirtyKeys.clear()
    this.#dirtyTables.clear()
    this.#installs.clear()
    this.#opInstalls.clear()
    this.#inBatch = false
  }

  #isDirty(table: string, key: string): boolean {
    return this.#dirtyKeys.has(key) || (this.#dirtyTables.size > 0 && this.#dirtyTables.has(table))
  }

  #set(key: string, data: string | null): void {
    const size = entrySize(key, data)
    if (size > this.#limits.maxChars || this.#limits.maxEntries < 1) return
    this.#delete(key)
    this.#entries.set(key, data === null ? null : new CachedRow(data))
    this.#chars += size
    // First in, first out: a Map iterates in insertion order.
    while (this.#entries.size > this.#limits.maxEntries || this.#chars > this.#limits.maxChars) {
      const oldest = this.#entries.keys().next()
      if (oldest.done === true) break
      this.#delete(oldest.value)
    }
  }

  #delete(key: string): void {
    const data = this.#entries.get(key)
    if (data === undefined) return
    this.#entries.delete(key)
    this.#chars -= entrySize(key, data === null ? null : data.data)
  }

  /** Every key starts with its table's tag prefix `<table>|`. */
  #deleteTable(table: string): void {
    const prefix = `${table}|`
    for (const key of this.#entries.keys()) if (key.startsWith(prefix)) this.#delete(key)
  }
}
