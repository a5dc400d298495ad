/**
 * Materialised state of Sync objects, folded from the event log.
 *
 * Each object's items (or document data) are the fold of its stream's events through the projection, so reads and
 * replays agree exactly and every item carries the id of the event that last touched it (`last_event_id`). States
 * are cached per stream (bounded LRU) and caught up incrementally with `readStream(stream, lastSeq)`.
 *
 * @module
 */
import type { ChatEvent } from '../../../core/types.ts'
import type { SyncEventLog, SyncObjectRef, SyncProjection } from './types.ts'

/** One map or list item. */
export interface ItemState {
  readonly key: string
  readonly data: unknown
  /** Id (streamSeq) of the event that last wrote the item; 0 for baseline items. */
  readonly eventId: number
  /** Unix ms. */
  readonly updatedAt: number
}

const PAGE = 500
const TAIL = 256

/** The folded state of one object. */
export class ObjectState {
  readonly ref: SyncObjectRef
  /** Last applied streamSeq (the object's `last_event_id`). */
  lastSeq = 0
  updatedAt = 0
  createdAt = 0
  removed = false
  document: unknown = {}
  readonly items = new Map<string, ItemState>()
  /** The most recent log events, contiguous by streamSeq, so that live fan-out does not re-read the log. */
  readonly tail: ChatEvent[] = []
  private chain: Promise<void> = Promise.resolve()

  constructor(ref: SyncObjectRef, projection: SyncProjection) {
    this.ref = ref
    for (const b of projection.baseline?.(ref) ?? []) {
      this.items.set(b.key, { key: b.key, data: b.data, eventId: 0, updatedAt: 0 })
    }
  }

  /** Applies the next event (MUST be `lastSeq + 1`). */
  apply(ev: ChatEvent, projection: SyncProjection): void {
    if (ev.streamSeq !== this.lastSeq + 1)
      throw new RangeError(`out of order event ${ev.stream}#${ev.streamSeq}`)
    if (this.lastSeq === 0) this.createdAt = ev.createdAt
    for (const m of projection.project(this.ref, ev)) {
      switch (m.op) {
        case 'item_added':
        case 'item_updated':
          this.items.set(m.key, {
            key: m.key,
            data: m.data,
            eventId: ev.streamSeq,
            updatedAt: ev.createdAt,
          })
          break
        case 'item_removed':
          this.items.delete(m.key)
          break
        case 'document_updated':
          this.document = m.data
          this.removed = false
          break
        case 'object_removed':
          this.removed = true
          break
      }
    }
    this.lastSeq = ev.streamSeq
    this.updatedAt = ev.createdAt
    this.tail.push(ev)
    if (this.tail.length > TAIL) this.tail.splice(0, this.tail.length - TAIL)
  }

  /** Events after `afterSeq` from the tail, or undefined when the tail does not reach back that far. */
  tailAfter(afterSeq: number): ChatEvent[] | undefined {
    if (afterSeq >= this.lastSeq) return []
    const first = this.tail[0]
    if (first === undefined || first.streamSeq > afterSeq + 1) return undefined
    return this.tail.slice(afterSeq + 1 - first.streamSeq)
  }

  /** Catches up with the log (serialised per object). */
  refresh(log: SyncEventLog, projection: SyncProjection): Promise<void> {
    const run = async (): Promise<void> => {
      for (;;) {
        const events = await log.readStream(this.ref.stream, this.lastSeq, PAGE)
        for (const ev of events) if (ev.streamSeq > this.lastSeq) this.apply(ev, projection)
        if (events.length < PAGE) return
      }
    }
    const next = this.chain.then(run)
    this.chain = next.catch(() => undefined)
    return next
  }

  /** Applies live events that continue the fold exactly; returns false when there is a gap (a refresh is due). */
  offer(events: readonly ChatEvent[], projection: SyncProjection): boolean {
    for (const ev of events) {
      if (ev.streamSeq <= this.lastSeq) continue
      if (ev.streamSeq !== this.lastSeq + 1) return false
      this.apply(ev, projection)
    }
    return true
  }
}

/**
 * A bounded LRU of {@link ObjectState}s keyed by stream: at most `maxObjects` objects and about `maxItems` items in
 * all (an evicted object is simply folded again from the log when next needed).
 */
export class ObjectStates {
  private readonly states = new Map<string, ObjectState>()
  /** The most recently used state (last in {@link states}): touching it again moves nothing. */
  private mru: ObjectState | undefined
  private readonly log: SyncEventLog
  private readonly projection: SyncProjection
  private readonly max: number
  private readonly maxItems: number

  constructor(log: SyncEventLog, projection: SyncProjection, max = 2000, maxItems = 200_000) {
    this.log = log
    this.projection = projection
    this.max = max
    this.maxItems = maxItems
  }

  /** The state of `ref`, caught up with the log. */
  async fresh(ref: SyncObjectRef): Promise<ObjectState> {
    const st = this.peek(ref) ?? this.create(ref)
    await st.refresh(this.log, this.projection)
    this.trim(st)
    return st
  }

  /** Evicts least recently used states (never `keep`) while over the item budget. */
  private trim(keep: ObjectState): void {
    let total = 0
    for (const st of this.states.values()) total += st.items.size + st.tail.length
    if (total <= this.maxItems) return
    for (const [stream, st] of this.states) {
      if (total <= this.maxItems) break
      if (st === keep) continue
      this.states.delete(stream)
      total -= st.items.size + st.tail.length
    }
  }

  /** The cached state, if any (no IO). */
  peek(ref: SyncObjectRef): ObjectState | undefined {
    const st = this.states.get(ref.stream)
    // Fan-out peeks one state once per subscriber in a row: only the first moves it to the end.
    if (st !== undefined && st !== this.mru) {
      this.states.delete(ref.stream)
      this.states.set(ref.stream, st)
      this.mru = st
    }
    return st
  }

  /** Whether a state for `stream` is cached (no IO, no LRU touch). */
  peekStream(stream: string): ObjectState | undefined {
    return this.states.get(stream)
  }

  /** Feeds live events to a cached state; a state with a gap is refreshed from the log. */
  async offer(stream: string, events: readonly ChatEvent[]): Promise<void> {
    const st = this.states.get(stream)
    if (st === undefined) return
    if (!st.offer(events, this.projection)) await st.refresh(this.log, this.projection)
  }

  private create(ref: SyncObjectRef): ObjectState {
    const st = new ObjectState(ref, this.projection)
    this.states.set(ref.stream, st)
    this.mru = st
    if (this.states.size > this.max) {
      const oldest = this.states.keys().next().value
      if (oldest !== undefined) this.states.delete(oldest)
    }
    return st
  }
}
