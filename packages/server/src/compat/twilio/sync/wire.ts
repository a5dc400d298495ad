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

/** ISO-8601 without milliseconds, as Twilio formats dates. */
export function isoDate(ms: number): string {
  // toISOString always ends in `.sssZ`.
  return `${new Date(ms).toISOString().slice(0, -5)}Z`
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
  const id = ev.streamSeq
  const common = { id, date_created: isoDate(ev.createdAt) }
  const url = objectUrl(base, ref)
  if (m.op === 'object_removed') {
    return { event_type: `${ref.type}_removed`, event: { ...common, [`${ref.type}_sid`]: ref.sid } }
  }
  if (m.op === 'document_updated') {
    return {
      event_type: 'document_updated',
      event: {
        ...common,
        document_sid: ref.sid,
        document_data: m.data,
        document_revision: String(id),
      },
    }
  }
  const isList = ref.type === 'list'
  const prefix = isList ? 'list' : 'map'
  return {
    event_type: `${prefix}_${m.op}`,
    event: {
      ...common,
      [`${prefix}_sid`]: ref.sid,
      [`${prefix}_unique_name`]: ref.uniqueName,
      [isList ? 'item_index' : 'item_key']: isList ? Number(m.key) : m.key,
      item_data: m.data,
      item_revision: String(id),
      item_url: `${url}/Items/${encodeURIComponent(m.key)}`,
      [`${prefix}_revision`]: String(id),
      date_expires: null,
    },
  }
}
