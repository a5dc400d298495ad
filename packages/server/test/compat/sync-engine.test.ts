import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createSyncEngine } from '../../src/compat/twilio/sync/engine.ts'
import {
  SyncHttpError,
  type SyncMutation,
  type SyncObjectRef,
  type SyncProjection,
} from '../../src/compat/twilio/sync/types.ts'
import type { ChatEvent } from '../../src/core/types.ts'
import { FakeLog, FakeSession, request, waitFor } from './support/fakes.ts'

/** A toy projection: object name = stream; `list:*` lists, `map:*` maps, `doc:*` documents; `secret:*` hidden. */
function toyProjection(denied: Set<string>): SyncProjection {
  const prefix = { list: 'ES', map: 'MP', document: 'ET' } as const
  return {
    async resolve(type, id, principal) {
      const name =
        id.startsWith('ES') || id.startsWith('MP') || id.startsWith('ET') ? id.slice(2) : id
      const kind = name.split(':')[0]
      const expected = kind === 'doc' ? 'document' : kind
      if (expected !== type) throw new SyncHttpError(404, 20404, 'not found')
      if (denied.has(principal.identity)) throw new SyncHttpError(403, 20403, 'forbidden')
      return { sid: prefix[type] + name, uniqueName: name, type, stream: name }
    },
    async authorize(_ref, principal) {
      return !denied.has(principal.identity)
    },
    project(ref: SyncObjectRef, ev: ChatEvent): SyncMutation[] {
      if (ref.type === 'document') return [{ op: 'document_updated', data: ev.data }]
      const key = ev.key ?? ''
      if (ev.type.endsWith('_added')) return [{ op: 'item_added', key, data: ev.data }]
      if (ev.type.endsWith('_updated')) return [{ op: 'item_updated', key, data: ev.data }]
      return [{ op: 'item_removed', key, data: ev.data }]
    },
  }
}

function setup() {
  const log = new FakeLog()
  const denied = new Set<string>()
  const engine = createSyncEngine({
    log,
    projection: toyProjection(denied),
    onError: (e) => assert.fail(String(e)),
  })
  return { log, denied, engine }
}

function addMessages(log: FakeLog, n: number, stream = 'list:A') {
  for (let i = 0; i < n; i++) log.append(stream, 'message_added', String(i), { text: `m${i}` })
}

test('list descriptor has sid, unique name, last_event_id and links.items', async () => {
  const { log, engine } = setup()
  addMessages(log, 3)
  const res = await engine.handle(request('GET', '/v3/Lists/list%3AA'), new FakeSession('alice'))
  assert.equal(res.status, 200)
  const body = res.body as any
  assert.equal(body.sid, 'ESlist:A')
  assert.equal(body.unique_name, 'list:A')
  assert.equal(body.last_event_id, 3)
  assert.equal(body.revision, '3')
  assert.equal(body.links.items, 'https://cds.us1.twilio.com/v3/Lists/ESlist:A/Items')
})

test('document descriptor carries the folded data; map Include=items lists items', async () => {
  const { log, engine } = setup()
  log.append('doc:C', 'channel_created', null, { friendlyName: 'one' })
  log.append('doc:C', 'channel_updated', null, { friendlyName: 'two' })
  log.append('map:U', 'user_channel_added', 'k1', { v: 1 })
  const s = new FakeSession('alice')
  const doc = (await engine.handle(request('GET', '/v3/Documents/doc:C'), s)).body as any
  assert.deepEqual(doc.data, { friendlyName: 'two' })
  assert.equal(doc.last_event_id, 2)
  const map = (await engine.handle(request('GET', '/v3/Maps/map:U', { Include: 'items' }), s))
    .body as any
  assert.deepEqual(
    map.items.map((i: any) => [i.key, i.data, i.last_event_id]),
    [['k1', { v: 1 }, 1]],
  )
})

test('unknown objects are 404 and unauthorized ones 403, with a Twilio-style body', async () => {
  const { denied, engine } = setup()
  const nf = await engine.handle(request('GET', '/v3/Maps/list:A'), new FakeSession('alice'))
  assert.equal(nf.status, 404)
  assert.deepEqual(nf.body, { status: 404, message: 'not found', code: 20404 })
  denied.add('mallory')
  const fb = await engine.handle(request('GET', '/v3/Lists/list:A'), new FakeSession('mallory'))
  assert.equal(fb.status, 403)
  assert.equal((fb.body as any).code, 20403)
  const w = await engine.handle(
    request('POST', '/v3/Lists/list:A/Items', {}, { data: {} }),
    new FakeSession('a'),
  )
  assert.equal(w.status, 403)
})

test('list items page backwards from the end and from an inclusive anchor', async () => {
  const { log, engine } = setup()
  addMessages(log, 10)
  const s = new FakeSession('alice')
  const get = async (params: Record<string, string>) =>
    (
      await engine.handle(
        request('GET', '/v3/Lists/list:A/Items', { HideExpired: 'true', ...params }),
        s,
      )
    ).body as any
  const last = await get({ Order: 'desc', PageSize: '3' })
  assert.deepEqual(
    last.items.map((i: any) => i.index),
    [9, 8, 7],
  )
  assert.equal(last.meta.previous_token, null)
  assert.ok(last.meta.next_token)
  assert.deepEqual(last.items[0].data, { text: 'm9' })
  assert.equal(last.items[0].last_event_id, 10)
  const next = await get({ PageToken: last.meta.next_token })
  assert.deepEqual(
    next.items.map((i: any) => i.index),
    [6, 5, 4],
  )
  const prev = await get({ PageToken: next.meta.previous_token })
  assert.deepEqual(
    prev.items.map((i: any) => i.index),
    [9, 8, 7],
  )
  const anchored = await get({ From: '5', Order: 'desc', PageSize: '10' })
  assert.deepEqual(
    anchored.items.map((i: any) => i.index),
    [5, 4, 3, 2, 1, 0],
  )
  assert.equal(anchored.meta.next_token, null)
  assert.ok(anchored.meta.previous_token)
  const fwd = await get({ From: '8', Order: 'asc', PageSize: '5' })
  assert.deepEqual(
    fwd.items.map((i: any) => i.index),
    [8, 9],
  )
  const one = await get({ Index: '4' })
  assert.deepEqual(
    one.items.map((i: any) => i.index),
    [4],
  )
  const bad = await engine.handle(request('GET', '/v3/Lists/list:A/Items', { PageSize: '0' }), s)
  assert.equal(bad.status, 400)
})

test('removed items disappear and map keys are looked up with Key', async () => {
  const { log, engine } = setup()
  log.append('map:R', 'member_added', 'MB1', { identity: 'a' })
  log.append('map:R', 'member_added', 'MB2', { identity: 'b' })
  log.append('map:R', 'member_removed', 'MB1', { identity: 'a' })
  const s = new FakeSession('alice')
  const all = (await engine.handle(request('GET', '/v3/Maps/map:R/Items'), s)).body as any
  assert.deepEqual(
    all.items.map((i: any) => i.key),
    ['MB2'],
  )
  const miss = (await engine.handle(request('GET', '/v3/Maps/map:R/Items', { Key: 'MB1' }), s))
    .body as any
  assert.deepEqual(miss.items, [])
})

async function establish(
  engine: ReturnType<typeof setup>['engine'],
  s: FakeSession,
  reqs: object[],
  cid = 42,
) {
  const res = await engine.handle(
    request(
      'POST',
      '/v4/Subscriptions',
      {},
      {
        event_protocol_version: 4,
        action: 'establish',
        correlation_id: cid,
        retried_requests: 0,
        ttl_in_s: -1,
        requests: reqs,
      },
    ),
    s,
  )
  assert.equal(res.status, 200)
  assert.ok((res.body as any).estimated_delivery_in_ms > 0)
}

test('establish replays events after last_event_id, then confirms, then streams live events', async () => {
  const { log, engine } = setup()
  addMessages(log, 5)
  const s = new FakeSession('alice')
  await establish(engine, s, [{ object_sid: 'ESlist:A', object_type: 'list', last_event_id: 2 }])
  await waitFor(() => s.control('subscription_established').length === 1)
  // 1. replay 3..5 strictly before the confirmation
  assert.deepEqual(
    s.syncEvents().map((e) => [e.type, e.id]),
    [
      ['list_item_added', 3],
      ['list_item_added', 4],
      ['list_item_added', 5],
    ],
  )
  const est = s.control('subscription_established')[0]
  assert.equal(est.correlation_id, 42)
  assert.deepEqual(est.events, [
    { object_sid: 'ESlist:A', replay_status: 'completed', last_event_id: 5 },
  ])
  // event protocol v3 (the browser bundle of twilio-chat) reads the singular `event`
  assert.deepEqual(est.event, est.events[0])
  const ev = s.syncEvents()[0]!.event
  assert.equal(ev.list_sid, 'ESlist:A')
  assert.equal(ev.item_index, 2)
  assert.deepEqual(ev.item_data, { text: 'm2' })
  // 2. live
  engine.publish([log.append('list:A', 'message_added', '5', { text: 'm5' })])
  await waitFor(() => s.syncEvents().length === 4)
  assert.deepEqual(
    s.syncEvents().map((e) => e.id),
    [3, 4, 5, 6],
  )
})

test('a document replay sends only its newest update (each carries the whole document); live updates all go out', async () => {
  const { log, engine } = setup()
  for (let i = 1; i <= 6; i++) log.append('doc:C', 'channel_updated', null, { rev: i })
  const s = new FakeSession('alice')
  await establish(engine, s, [{ object_sid: 'ETdoc:C', object_type: 'document', last_event_id: 2 }])
  await waitFor(() => s.control('subscription_established').length === 1)
  assert.deepEqual(
    s.syncEvents().map((e) => [e.type, e.id, e.event.document_data]),
    [['document_updated', 6, { rev: 6 }]],
  )
  assert.equal(s.control('subscription_established')[0].events[0].last_event_id, 6)
  engine.publish([
    log.append('doc:C', 'channel_updated', null, { rev: 7 }),
    log.append('doc:C', 'channel_updated', null, { rev: 8 }),
  ])
  await waitFor(() => s.syncEvents().length === 3)
  assert.deepEqual(
    s.syncEvents().map((e) => e.id),
    [6, 7, 8],
  )
  // Lists (and maps) replay every event: each item is its own.
  addMessages(log, 4, 'list:D')
  await establish(
    engine,
    s,
    [{ object_sid: 'ESlist:D', object_type: 'list', last_event_id: 0 }],
    43,
  )
  await waitFor(() => s.control('subscription_established').length === 2)
  assert.equal(s.syncEvents().filter((e) => e.type === 'list_item_added').length, 4)
})

test('events committed during a slow replay are delivered once, in order, without gap', async () => {
  const { log, engine } = setup()
  addMessages(log, 3)
  log.delayMs = 20
  const s = new FakeSession('alice')
  await establish(engine, s, [{ object_sid: 'ESlist:A', object_type: 'list', last_event_id: 0 }])
  // Commit and publish while the replay read is in flight, twice (also duplicates the notice).
  await new Promise((r) => setTimeout(r, 5))
  const e4 = log.append('list:A', 'message_added', '3', { text: 'm3' })
  engine.publish([e4])
  await new Promise((r) => setTimeout(r, 10))
  const e5 = log.append('list:A', 'message_added', '4', { text: 'm4' })
  engine.publish([e4, e5])
  await waitFor(
    () => s.syncEvents().length >= 5 && s.control('subscription_established').length === 1,
  )
  await new Promise((r) => setTimeout(r, 80))
  assert.deepEqual(
    s.syncEvents().map((e) => e.id),
    [1, 2, 3, 4, 5],
  )
  const estIdx = s.sent.findIndex((x) => x.payload.event_type === 'subscription_established')
  const ids3 = s.sent.findIndex((x) => x.payload.event?.id === 3)
  assert.ok(estIdx > ids3, 'confirmation comes after the replayed events')
})

test('a live event that skips ahead is back-filled from the log', async () => {
  const { log, engine } = setup()
  addMessages(log, 1)
  const s = new FakeSession('alice')
  await establish(engine, s, [{ object_sid: 'ESlist:A', object_type: 'list', last_event_id: 1 }])
  await waitFor(() => s.control('subscription_established').length === 1)
  log.append('list:A', 'message_added', '1', {}) // notice lost
  engine.publish([log.append('list:A', 'message_added', '2', {})])
  await waitFor(() => s.syncEvents().length === 2)
  assert.deepEqual(
    s.syncEvents().map((e) => e.id),
    [2, 3],
  )
})

test('fan-out reaches every subscribed session; cancel and close stop delivery', async () => {
  const { log, engine } = setup()
  const a = new FakeSession('alice')
  const b = new FakeSession('bob')
  await establish(engine, a, [{ object_sid: 'MPmap:R', object_type: 'map', last_event_id: 0 }], 1)
  await establish(engine, b, [{ object_sid: 'MPmap:R', object_type: 'map', last_event_id: 0 }], 2)
  await waitFor(
    () =>
      a.control('subscription_established').length === 1 &&
      b.control('subscription_established').length === 1,
  )
  assert.equal(engine.subscriptionCount(), 2)
  engine.publish([log.append('map:R', 'member_added', 'MB1', { identity: 'x' })])
  await waitFor(() => a.syncEvents().length === 1 && b.syncEvents().length === 1)
  assert.equal(a.syncEvents()[0]!.type, 'map_item_added')
  assert.equal(a.syncEvents()[0]!.event.item_key, 'MB1')
  // Live events go out as shared pre-encoded bytes, the same for both sessions.
  assert.ok(a.encoded >= 1 && b.encoded >= 1)
  assert.deepEqual(a.syncEvents()[0], b.syncEvents()[0])
  const res = await engine.handle(
    request(
      'POST',
      '/v4/Subscriptions',
      {},
      {
        action: 'cancel',
        correlation_id: 3,
        requests: [{ object_sid: 'MPmap:R', object_type: 'map' }],
      },
    ),
    a,
  )
  assert.equal(res.status, 200)
  await waitFor(() => a.control('subscription_canceled').length === 1)
  b.close()
  assert.equal(engine.subscriptionCount(), 0)
  engine.publish([log.append('map:R', 'member_removed', 'MB1', { identity: 'x' })])
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(a.syncEvents().length, 1)
  assert.equal(b.syncEvents().length, 1)
})

test('subscribing without access fails; losing access stops the live stream', async () => {
  const { log, denied, engine } = setup()
  denied.add('mallory')
  const m = new FakeSession('mallory')
  await establish(engine, m, [{ object_sid: 'ESlist:A', object_type: 'list', last_event_id: 0 }])
  await waitFor(() => m.control('subscription_failed').length === 1)
  assert.equal(m.control('subscription_failed')[0].events[0].error.status, 403)
  const a = new FakeSession('alice')
  await establish(engine, a, [{ object_sid: 'ESlist:A', object_type: 'list', last_event_id: 0 }])
  await waitFor(() => a.control('subscription_established').length === 1)
  denied.add('alice')
  engine.publish([log.append('list:A', 'message_added', '0', {})])
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(a.syncEvents().length, 0)
  assert.equal(engine.subscriptionCount(), 0)
})

test('a long replay is cut into slices with replay_status interrupted', async () => {
  const log = new FakeLog()
  const engine = createSyncEngine({
    log,
    projection: toyProjection(new Set()),
    maxReplayEvents: 10,
  })
  addMessages(log, 25)
  const s = new FakeSession('alice')
  let last = 0
  for (const [cid, expected] of [
    [1, 'interrupted'],
    [2, 'interrupted'],
    [3, 'completed'],
  ] as const) {
    await establish(
      engine,
      s,
      [{ object_sid: 'ESlist:A', object_type: 'list', last_event_id: last }],
      cid,
    )
    await waitFor(() => s.control('subscription_established').length === cid)
    const est = s.control('subscription_established')[cid - 1].events[0]
    assert.equal(est.replay_status, expected)
    last = est.last_event_id
  }
  assert.equal(last, 25)
  assert.deepEqual(
    s.syncEvents().map((e) => e.id),
    Array.from({ length: 25 }, (_, i) => i + 1),
  )
  assert.equal(engine.subscriptionCount(), 1)
})

test("a replay pauses (interrupted) while the client's unacknowledged bytes are over replayBacklogBytes, one event at least", async () => {
  const log = new FakeLog()
  const engine = createSyncEngine({
    log,
    projection: toyProjection(new Set()),
    replayBacklogBytes: 1000,
  })
  addMessages(log, 5)
  const s = new FakeSession('alice')
  s.unackedBytes = 5000 // far behind: one event, then a pause
  await establish(engine, s, [{ object_sid: 'ESlist:A', object_type: 'list', last_event_id: 0 }], 1)
  await waitFor(() => s.control('subscription_established').length === 1)
  let est = s.control('subscription_established')[0].events[0]
  assert.deepEqual([est.replay_status, est.last_event_id], ['interrupted', 1])
  s.unackedBytes = 0 // caught up: the re-subscription gets the rest
  await establish(engine, s, [{ object_sid: 'ESlist:A', object_type: 'list', last_event_id: 1 }], 2)
  await waitFor(() => s.control('subscription_established').length === 2)
  est = s.control('subscription_established')[1].events[0]
  assert.deepEqual([est.replay_status, est.last_event_id], ['completed', 5])
  assert.deepEqual(
    s.syncEvents().map((e) => e.id),
    [1, 2, 3, 4, 5],
  )
})

test('evicted object states are folded again from the log with the same ids', async () => {
  const log = new FakeLog()
  const engine = createSyncEngine({ log, projection: toyProjection(new Set()), maxCachedItems: 5 })
  addMessages(log, 4, 'list:A')
  addMessages(log, 4, 'list:B')
  const s = new FakeSession('alice')
  const read = async (name: string) =>
    (
      (
        await engine.handle(
          request('GET', `/v3/Lists/${name}/Items`, { Order: 'desc', PageSize: '2' }),
          s,
        )
      ).body as any
    ).items.map((i: any) => [i.index, i.last_event_id])
  assert.deepEqual(await read('list:A'), [
    [3, 4],
    [2, 3],
  ])
  assert.deepEqual(await read('list:B'), [
    [3, 4],
    [2, 3],
  ])
  log.append('list:A', 'message_updated', '2', { text: 'edited' })
  assert.deepEqual(await read('list:A'), [
    [3, 4],
    [2, 5],
  ])
})

test('a session cannot hold more subscriptions than the limit', async () => {
  const log = new FakeLog()
  const engine = createSyncEngine({
    log,
    projection: toyProjection(new Set()),
    maxSubscriptionsPerSession: 2,
  })
  const s = new FakeSession('alice')
  await establish(
    engine,
    s,
    ['A', 'B', 'C'].map((n) => ({
      object_sid: `ESlist:${n}`,
      object_type: 'list',
      last_event_id: 0,
    })),
  )
  await waitFor(
    () =>
      s.control('subscription_established').length === 2 &&
      s.control('subscription_failed').length === 1,
  )
  assert.equal(s.control('subscription_failed')[0].event.error.status, 429)
  assert.equal(engine.subscriptionCount(), 2)
  // re-establishing an existing one is not a new subscription
  await establish(
    engine,
    s,
    [{ object_sid: 'ESlist:A', object_type: 'list', last_event_id: 0 }],
    43,
  )
  await waitFor(() => s.control('subscription_established').length === 3)
  const big = await engine.handle(
    request(
      'POST',
      '/v4/Subscriptions',
      {},
      { action: 'establish', correlation_id: 1, requests: Array(101).fill({}) },
    ),
    s,
  )
  assert.equal(big.status, 400)
})

test('a cancel that arrives after a newer establish of the same object does not drop it', async () => {
  const { log, engine } = setup()
  const s = new FakeSession('alice')
  await establish(
    engine,
    s,
    [{ object_sid: 'ESlist:A', object_type: 'list', last_event_id: 0 }],
    2000,
  )
  await waitFor(() => s.control('subscription_established').length === 1)
  const cancel = await engine.handle(
    request(
      'POST',
      '/v4/Subscriptions',
      {},
      {
        action: 'cancel',
        correlation_id: 1000,
        requests: [{ object_sid: 'ESlist:A', object_type: 'list' }],
      },
    ),
    s,
  )
  assert.equal(cancel.status, 200)
  assert.equal(engine.subscriptionCount(), 1)
  engine.publish([log.append('list:A', 'message_added', '0', {})])
  await waitFor(() => s.syncEvents().length === 1)
})

test('an access check that fails at delivery time is reported once and ends that subscription only, whether it answers synchronously or not', async () => {
  for (const sync of [true, false]) {
    const log = new FakeLog()
    const errors: unknown[] = []
    let broken = false
    const base = toyProjection(new Set())
    const engine = createSyncEngine({
      log,
      projection: {
        ...base,
        authorize(ref, p) {
          if (!broken || p.identity !== 'alice') return sync ? true : base.authorize(ref, p)
          if (sync) throw new Error('store down')
          return Promise.reject(new Error('store down'))
        },
      },
      onError: (e) => errors.push(e),
    })
    const unhandled: unknown[] = []
    const onUnhandled = (e: unknown): void => void unhandled.push(e)
    process.on('unhandledRejection', onUnhandled)
    try {
      const a = new FakeSession('alice')
      const b = new FakeSession('bob')
      for (const s of [a, b]) {
        await establish(engine, s, [
          { object_sid: 'ESlist:A', object_type: 'list', last_event_id: 0 },
        ])
        await waitFor(() => s.control('subscription_established').length === 1)
      }
      engine.publish([log.append('list:A', 'message_added', '0', {})])
      await waitFor(() => a.syncEvents().length === 1 && b.syncEvents().length === 1)
      broken = true
      engine.publish([log.append('list:A', 'message_added', '1', {})])
      await waitFor(() => errors.length === 1)
      await waitFor(() => b.syncEvents().length === 2)
      assert.equal(engine.subscriptionCount(), 1, "alice's subscription ends, bob's goes on")
      await new Promise((r) => setTimeout(r, 20))
      assert.equal(a.syncEvents().length, 1)
      assert.equal(errors.length, 1)
      assert.deepEqual(unhandled, [])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  }
})
