import assert from 'node:assert/strict'
import { test } from 'node:test'
import { harness, rejectsCode } from './harness.ts'

test('channels are fetched by SID or unique name; REST creates them as system with public defaults', async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, {
    uniqueName: 'general',
    attributes: '{"a":1}',
  })
  assert.match(ch.sid, /^CH[0-9a-f]{32}$/)
  assert.equal(ch.type, 'public')
  assert.equal(ch.createdBy, 'system')
  assert.equal(ch.attributes, '{"a":1}')
  assert.equal(ch.membersCount, 0)
  assert.deepEqual(await h.core.channels.fetch(h.admin, h.serviceSid, 'general'), ch)
  assert.deepEqual(await h.core.channels.fetch(h.admin, h.serviceSid, ch.sid), ch)
  await rejectsCode(h.core.channels.fetch(h.admin, h.serviceSid, 'nope'), 50300)
  const bare = await h.core.channels.create(h.admin, h.serviceSid, {})
  assert.equal(bare.attributes, '{}')
  assert.equal(bare.uniqueName, null)
  await h.close()
})

test('unique names: SID-shaped → 50306, duplicate → 50307 (create and update)', async () => {
  const h = await harness()
  await rejectsCode(
    h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'CH' + 'a'.repeat(32) }),
    50306,
  )
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'taken' })
  await rejectsCode(h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'taken' }), 50307)
  const b = await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'b' })
  await rejectsCode(
    h.core.channels.update(h.admin, h.serviceSid, b.sid, { uniqueName: 'taken' }),
    50307,
  )
  const renamed = await h.core.channels.update(h.admin, h.serviceSid, 'b', {
    uniqueName: 'x'.repeat(256),
  })
  assert.equal(renamed.uniqueName?.length, 256)
  await rejectsCode(
    h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'x'.repeat(65) }),
    20001,
  )
  await h.close()
})

test('friendly name is limited to 64 on create and 256 on update; attributes to 16 KiB (50303)', async () => {
  const h = await harness()
  await rejectsCode(
    h.core.channels.create(h.admin, h.serviceSid, { friendlyName: 'x'.repeat(65) }),
    20001,
  )
  const ch = await h.core.channels.create(h.admin, h.serviceSid, { friendlyName: 'x'.repeat(64) })
  const u = await h.core.channels.update(h.admin, h.serviceSid, ch.sid, {
    friendlyName: 'y'.repeat(256),
  })
  assert.equal(u.friendlyName?.length, 256)
  await rejectsCode(
    h.core.channels.update(h.admin, h.serviceSid, ch.sid, { friendlyName: 'y'.repeat(257) }),
    20001,
  )
  const big = JSON.stringify({ k: 'x'.repeat(16384 - 8) })
  await h.core.channels.update(h.admin, h.serviceSid, ch.sid, { attributes: big })
  await rejectsCode(
    h.core.channels.update(h.admin, h.serviceSid, ch.sid, { attributes: big + ' ' }),
    50303,
  )
  await rejectsCode(
    h.core.channels.create(h.admin, h.serviceSid, { attributes: 'not json' }),
    20001,
  )
  await rejectsCode(h.core.channels.create(h.admin, h.serviceSid, { type: 'secret' }), 20001)
  await h.close()
})

test('channel update sets date_updated and keeps type; admins may set created_by and dates', async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, {
    dateCreated: 1000,
    createdBy: 'bob',
  })
  assert.equal(ch.createdAt, 1000)
  assert.equal(ch.createdBy, 'bob')
  h.clock.advance(5000)
  const u = await h.core.channels.update(h.admin, h.serviceSid, ch.sid, { friendlyName: 'n' })
  assert.equal(u.updatedAt, h.clock.now())
  assert.equal(u.type, 'public')
  await h.close()
})

test('channel list pages with stable tokens and filters by type', async () => {
  const h = await harness()
  for (let i = 0; i < 7; i++) {
    h.clock.advance(1)
    await h.core.channels.create(h.admin, h.serviceSid, {
      uniqueName: `c${i}`,
      type: i % 2 ? 'private' : 'public',
    })
  }
  const seen: string[] = []
  let token: string | undefined
  for (;;) {
    const p = await h.core.channels.list(
      h.admin,
      h.serviceSid,
      {},
      { pageSize: 3, pageToken: token },
    )
    seen.push(...p.items.map((c) => c.uniqueName ?? ''))
    if (p.nextPageToken === null) break
    token = p.nextPageToken
  }
  assert.deepEqual(seen, ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6'])
  const p2 = await h.core.channels.list(h.admin, h.serviceSid, {}, { pageSize: 3 })
  const p3 = await h.core.channels.list(
    h.admin,
    h.serviceSid,
    {},
    { pageSize: 3, pageToken: p2.nextPageToken ?? '' },
  )
  assert.equal(p2.previousPageToken, null)
  const back = await h.core.channels.list(
    h.admin,
    h.serviceSid,
    {},
    { pageSize: 3, pageToken: p3.previousPageToken ?? '' },
  )
  assert.deepEqual(
    back.items.map((c) => c.sid),
    p2.items.map((c) => c.sid),
  )
  const priv = await h.core.channels.list(h.admin, h.serviceSid, { types: ['private'] })
  assert.deepEqual(
    priv.items.map((c) => c.uniqueName),
    ['c1', 'c3', 'c5'],
  )
  await rejectsCode(h.core.channels.list(h.admin, h.serviceSid, {}, { pageToken: 'bogus' }), 20001)
  await h.close()
})

test('deleting a channel cascades members, invites, messages and emits removal events', async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'doomed' })
  const m = await h.core.members.create(h.admin, h.serviceSid, 'doomed', { identity: 'alice' })
  await h.core.invites.create(h.admin, h.serviceSid, 'doomed', { identity: 'bob' })
  await h.core.messages.create(h.admin, h.serviceSid, 'doomed', { body: 'x' })
  h.published.length = 0
  await h.core.channels.delete(h.admin, h.serviceSid, 'doomed')
  await rejectsCode(h.core.channels.fetch(h.admin, h.serviceSid, ch.sid), 50300)
  const alice = await h.core.users.fetch(h.admin, h.serviceSid, 'alice')
  assert.equal(alice.joinedChannelsCount, 0)
  assert.equal((await h.core.userChannels.list(h.admin, h.serviceSid, 'alice')).items.length, 0)
  assert.equal((await h.core.userChannels.list(h.admin, h.serviceSid, 'bob')).items.length, 0)
  const types = h.published.flatMap((p) =>
    p.type === 'events' ? p.events.map((e) => `${e.type}:${e.stream.split(':')[0]}`) : [],
  )
  assert.ok(types.includes('member_removed:members'))
  assert.ok(types.includes('user_channel_removed:userchannels'))
  assert.ok(types.includes('channel_removed:channel'))
  assert.ok(types.includes('directory_removed:channels'))
  const leftover = await h.store.read(async (tx) => ({
    member: await tx.members.get(m.sid),
    messages: await tx.messages.list(ch.sid, { limit: 10 }),
  }))
  assert.deepEqual(leftover, { member: undefined, messages: [] })
  await h.close()
})

test('channel webhooks: at most 5, type and configuration validated', async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, {})
  await rejectsCode(h.core.webhooks.create(h.admin, h.serviceSid, ch.sid, { type: 'nope' }), 20001)
  await rejectsCode(
    h.core.webhooks.create(h.admin, h.serviceSid, ch.sid, { type: 'webhook' }),
    20001,
  )
  await rejectsCode(
    h.core.webhooks.create(h.admin, h.serviceSid, ch.sid, {
      type: 'trigger',
      configuration: { url: 'https://x.example/h', triggers: ['a', 'b', 'c', 'd', 'e', 'f'] },
    }),
    20001,
  )
  for (let i = 0; i < 5; i++) {
    await h.core.webhooks.create(h.admin, h.serviceSid, ch.sid, {
      type: 'webhook',
      configuration: { url: `https://x.example/${i}`, filters: ['onMessageSent'], retryCount: 3 },
    })
  }
  await rejectsCode(
    h.core.webhooks.create(h.admin, h.serviceSid, ch.sid, {
      type: 'webhook',
      configuration: { url: 'https://x.example/6' },
    }),
    20001,
  )
  const list = await h.core.webhooks.list(h.admin, h.serviceSid, ch.sid)
  assert.equal(list.items.length, 5)
  const w = list.items[0]!
  assert.equal(w.configuration.method, 'POST')
  const u = await h.core.webhooks.update(h.admin, h.serviceSid, ch.sid, w.sid, {
    configuration: { method: 'GET' },
  })
  assert.equal(u.configuration.method, 'GET')
  assert.equal(u.configuration.url, w.configuration.url)
  await h.core.webhooks.delete(h.admin, h.serviceSid, ch.sid, w.sid)
  await rejectsCode(h.core.webhooks.fetch(h.admin, h.serviceSid, ch.sid, w.sid), 20404)
  await h.close()
})
