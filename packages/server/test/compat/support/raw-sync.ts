/**
 * Raw Twilsock clients (`test/twilsock/support.ts`'s `RawClient`) talking to the tunnelled services the way the SDKs
 * do: a tunnelled HTTP request, and a Sync list subscription. For end-to-end tests with many lean clients.
 */
import assert from 'node:assert/strict'
import type { RawClient, RawPacket } from '../../twilsock/support.ts'

export const CDS = 'cds.us1.twilio.com'
export const AIM = 'aim.us1.twilio.com'

/** What the Sync events the tests read carry. */
export interface SyncEvent {
  event_type: string
  event?: {
    object_sid?: string
    list_sid?: string
    item_index?: number
    item_data?: { text?: string }
  }
}

/** A tunnelled HTTP request from `c`, as the SDKs send them; resolves with the reply packet. */
export async function tunnel(
  c: RawClient,
  host: string,
  method: string,
  path: string,
  json: unknown,
): Promise<RawPacket> {
  const id = c.send(
    {
      method: 'message',
      active_grant: 'ip_messaging',
      payload_type: 'application/json; charset=utf-8',
      http_request: { host, path, method, params: {}, headers: {} },
    },
    JSON.stringify(json),
  )
  return c.reply(id, 10_000)
}

/** Subscribes `c` to the list `listSid` as twilio-sync does, and waits for `subscription_established`. */
export async function subscribe(c: RawClient, listSid: string): Promise<void> {
  const reply = await tunnel(c, CDS, 'POST', '/v4/Subscriptions', {
    event_protocol_version: 4,
    action: 'establish',
    correlation_id: Date.now(),
    retried_requests: 0,
    ttl_in_s: -1,
    requests: [{ object_sid: listSid, object_type: 'list', last_event_id: null }],
  })
  assert.equal((reply.header['http_status'] as { code?: number } | undefined)?.code, 200)
  await c.waitFor((p) => {
    const b = p.body as SyncEvent | undefined
    return b?.event_type === 'subscription_established' && b.event?.object_sid === listSid
  }, 10_000)
}
