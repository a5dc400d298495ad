/**
 * Wire shapes of the Sync (CDS) API as twilio-sync 3.x/4.x reads them (docs/internals/twilio-sdk-protocol.md §3).
 *
 * @module
 */
import type { ChatEvent } from '../../../core/types.ts'
import type { ItemState, ObjectState } from './state.ts'
import type { SyncMutation, SyncObjectRef, SyncObjectType } from './types.ts'

const COLLECTION: Record<SyncObjectType, string> = {
  document: 'Documents',
  map: 'Maps',
  list: 'Lists',
}

/** `https://{host}/v3/{Documents|Maps|Lists}/{sid}`. */
export function objectUrl(base: string, ref: SyncObjectRef): string {
  return `${base}/v3/${COLLECTION[ref.type]}/${ref.sid}`
}

/** The last date {@link isoDate} formatted (the events of one write share their time). */
let lastDateMs = Number.NaN
let lastDate = ''

/** ISO-8601 without milliseconds, as Twilio formats dates. */
export function isoDate(ms: number): string {
  if (ms === lastDateMs) return lastDate
  // toISOString always ends in `.sssZ`.
  const s = `${new Date(ms).toISOString().slice(0, -5)}Z`
  lastDateMs = ms
  lastDate = s
  return s
}

/** An item as `GET …/Items` returns it. */
export function itemJson(
  base: string,
  ref: SyncObjectRef,
  item: ItemState,
): Record<string, unknown> {
  const keyField = ref.type === 'list' ? { index: Number(item.key) } : { key: item.key }
  return {
    ...keyField,
    data: item.data,
    revision: String(item.eventId),
    last_event_id: item.eventId,
    url: `${objectUrl(base, ref)}/Items/${encodeURIComponent(item.key)}`,
    date_updated: isoDate(item.updatedAt),
    date_expires: null,
  }
}

/** The object descriptor (`GET /v3/{Documents|Maps|Lists}/{id}`). */
export function descriptorJson(
  base: string,
  st: ObjectState,
  items?: readonly ItemState[],
): Record<string, unknown> {
  const ref = st.ref
  const url = objectUrl(base, ref)
  const out: Record<string, unknown> = {
    sid: ref.sid,
    unique_name: ref.uniqueName,
    url,
    revision: String(st.lastSeq),
    last_event_id: st.lastSeq,
    date_created: isoDate(st.createdAt),
    date_updated: isoDate(st.updatedAt),
    date_expires: null,
    created_by: 'system',
  }
  if (ref.type === 'document') out['data'] = st.document
  else out['links'] = { items: `${url}/Items` }
  if (items !== undefined) out['items'] = items.map((i) => itemJson(base, ref, i))
  return out
}

/** One `twilio.sync.event` payload for one mutation of one log event. */
export function eventPayload(
  base: string,
  ref: SyncObjectRef,
  ev: ChatEvent,
  m: SyncMutation,
): { event_type: string; event: Record<string, unknown> } {
  // Once per event for all its subscribers, yet on the fan-out path: plain object literals of fixed shapes (no
  // computed keys, no spreads), which V8 builds and JSON.stringify walks fastest. The list and map literals differ
  // only in their key names, hence two of them.
  const id = ev.streamSeq
  const created = isoDate(ev.createdAt)
  if (m.op === 'object_removed') {
    // Rare (an object goes once): the fixed shapes matter only on the paths below.
    return {
      event_type: `${ref.type}_removed`,
      event: { id, date_created: created, [`${ref.type}_sid`]: ref.sid },
    }
  }
  const revision = String(id)
  if (m.op === 'document_updated') {
    return {
      event_type: 'document_updated',
      event: {
        id,
        date_created: created,
        document_sid: ref.sid,
        document_data: m.data,
        document_revision: revision,
      },
    }
  }
  const itemUrl = `${objectUrl(base, ref)}/Items/${encodeURIComponent(m.key)}`
  if (ref.type === 'list') {
    return {
      event_type: LIST_EVENT[m.op],
      event: {
        id,
        date_created: created,
        list_sid: ref.sid,
        list_unique_name: ref.uniqueName,
        item_index: Number(m.key),
        item_data: m.data,
        item_revision: revision,
        item_url: itemUrl,
        list_revision: revision,
        date_expires: null,
      },
    }
  }
  return {
    event_type: MAP_EVENT[m.op],
    event: {
      id,
      date_created: created,
      map_sid: ref.sid,
      map_unique_name: ref.uniqueName,
      item_key: m.key,
      item_data: m.data,
      item_revision: revision,
      item_url: itemUrl,
      map_revision: revision,
      date_expires: null,
    },
  }
}

type ItemOp = 'item_added' | 'item_updated' | 'item_removed'
const LIST_EVENT: Record<ItemOp, string> = {
  item_added: 'list_item_added',
  item_updated: 'list_item_updated',
  item_removed: 'list_item_removed',
}
const MAP_EVENT: Record<ItemOp, string> = {
  item_added: 'map_item_added',
  item_updated: 'map_item_updated',
  item_removed: 'map_item_removed',
}
