import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Channel, ChatEvent } from '../../src/core/types.ts'
import { harness, type Harness } from './harness.ts'

/** The events of the bus notices published since `from` (one notice per committed write). */
function noticesSince(h: Harness, from: number): ChatEvent[][] {
  return h.published
    .slice(from)
    .flatMap((m) => (m.type === 'events' ? [m.events as ChatEvent[]] : []))
}

test('messages.create emits channel_updated with lastMessage and messagesCount in the same commit', async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  const mark = h.published.length
  const { message } = await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'hi' })
  // 1. One notice (one transaction) carries the message and the channel snapshot, message first.
  const [notice, ...rest] = noticesSince(h, mark)
  assert.equal(rest.length, 0)
  assert.deepEqual(
    notice!.map((e) => [e.stream, e.type]),
    [
      [`messages:${ch.sid}`, 'message_added'],
      [`channel:${ch.sid}`, 'channel_updated'],
    ],
  )
  // 2. The snapshot is the row as stored, with the revision of its event.
  const ev = notice![1] as ChatEvent<Channel>
  const row = await h.core.channels.fetch(h.admin, h.serviceSid, ch.sid)
  assert.deepEqual(ev.data, row)
  assert.equal(row.revision, ev.streamSeq)
  assert.equal(row.revision, ch.revision + 1)
  assert.equal(row.messagesCount, 1)
  assert.equal(row.lastMessageIndex, message.index)
  assert.equal(row.lastMessageAt, message.createdAt)
  // 3. Counter changes do not touch the public directory (one extra event row per message, no more).
  assert.equal(
    notice!.some((e) => e.stream.startsWith('channels:')),
    false,
  )
  await h.close()
})

test('a duplicate create (same clientMessageId) emits nothing', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  await h.core.members.create(h.admin, h.serviceSid, 'g', { identity: 'alice' })
  const alice = h.user('alice')
  await h.core.messages.create(alice, h.serviceSid, 'g', { body: 'x', clientMessageId: 'c1' })
  const mark = h.published.length
  const again = await h.core.messages.create(alice, h.serviceSid, 'g', {
    body: 'x',
    clientMessageId: 'c1',
  })
  assert.equal(again.duplicate, true)
  assert.deepEqual(noticesSince(h, mark), [])
  await h.close()
})

test('deleting the newest message moves lastMessage back and decrements messagesCount, live', async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  const first = await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'a' })
  h.clock.advance(1000)
  const second = await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'b' })
  let mark = h.published.length
  await h.core.messages.delete(h.admin, h.serviceSid, 'g', second.message.sid)
  let [notice] = noticesSince(h, mark)
  assert.deepEqual(
    notice!.map((e) => e.type),
    ['message_removed', 'channel_updated'],
  )
  let snap = notice![1]!.data as Channel
  assert.equal(snap.messagesCount, 1)
  assert.equal(snap.lastMessageIndex, 0)
  assert.equal(snap.lastMessageAt, first.message.createdAt)
  // Deleting an older message changes the count only.
  const third = await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'c' })
  mark = h.published.length
  await h.core.messages.delete(h.admin, h.serviceSid, 'g', first.message.sid)
  ;[notice] = noticesSince(h, mark)
  snap = notice![1]!.data as Channel
  assert.equal(snap.messagesCount, 1)
  assert.equal(snap.lastMessageIndex, third.message.index)
  // The last one gone: no lastMessage at all.
  mark = h.published.length
  await h.core.messages.delete(h.admin, h.serviceSid, 'g', third.message.sid)
  ;[notice] = noticesSince(h, mark)
  snap = notice![1]!.data as Channel
  assert.equal(snap.messagesCount, 0)
  assert.equal(snap.lastMessageIndex, null)
  assert.equal(snap.lastMessageAt, null)
  const row = await h.core.channels.fetch(h.admin, h.serviceSid, ch.sid)
  assert.deepEqual(row, snap)
  assert.equal(row.revision, await h.core.events.lastSeq(`channel:${ch.sid}`))
  await h.close()
})

test('an admin re-dating the newest message updates lastMessage.timestamp; editing a body does not emit', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  const old = await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'a' })
  const { message } = await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'b' })
  let mark = h.published.length
  await h.core.messages.update(h.admin, h.serviceSid, 'g', message.sid, { body: 'b2' })
  assert.deepEqual(
    noticesSince(h, mark)
      .flat()
      .map((e) => e.type),
    ['message_updated'],
  )
  await h.core.messages.update(h.admin, h.serviceSid, 'g', old.message.sid, { dateCreated: 1000 })
  mark = h.published.length
  await h.core.messages.update(h.admin, h.serviceSid, 'g', message.sid, { dateCreated: 5000 })
  const evs = noticesSince(h, mark).flat()
  assert.deepEqual(
    evs.map((e) => e.type),
    ['message_updated', 'channel_updated'],
  )
  assert.equal((evs[1]!.data as Channel).lastMessageAt, 5000)
  assert.equal((await h.core.channels.fetch(h.admin, h.serviceSid, 'g')).lastMessageAt, 5000)
  await h.close()
})

test('joining and leaving emit channel_updated with membersCount', async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  await h.core.members.create(h.admin, h.serviceSid, 'g', { identity: 'alice' })
  await h.core.members.create(h.admin, h.serviceSid, 'g', { identity: 'bob' })
  await h.core.members.delete(h.admin, h.serviceSid, 'g', 'alice')
  const counts = (await h.core.events.readStream(`channel:${ch.sid}`, 0)).map((e) => [
    e.type,
    (e.data as Channel).membersCount,
  ])
  assert.deepEqual(counts, [
    ['channel_created', 0],
    ['channel_updated', 1],
    ['channel_updated', 2],
    ['channel_updated', 1],
  ])
  await h.close()
})

test('unread counts stay exact after deletions (messages above the horizon that still exist)', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  await h.core.members.create(h.admin, h.serviceSid, 'g', { identity: 'a' })
  const sids: string[] = []
  for (let i = 0; i < 10; i++)
    sids.push(
      (await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: String(i) })).message.sid,
    )
  const unread = async () =>
    (await h.core.userChannels.fetch(h.admin, h.serviceSid, 'a', 'g')).unreadMessagesCount
  assert.equal(await unread(), null) // no horizon yet
  await h.core.userChannels.update(h.user('a'), h.serviceSid, 'a', 'g', {
    lastConsumedMessageIndex: 3,
  })
  assert.equal(await unread(), 6) // 4..9
  // 1. Deleting above the horizon: 5 and 9 (the newest) go.
  await h.core.messages.delete(h.admin, h.serviceSid, 'g', sids[5]!)
  await h.core.messages.delete(h.admin, h.serviceSid, 'g', sids[9]!)
  assert.equal(await unread(), 4) // 4, 6, 7, 8
  // 2. Deleting at or below the horizon changes nothing; the horizon itself is kept as the user set it.
  await h.core.messages.delete(h.admin, h.serviceSid, 'g', sids[0]!)
  await h.core.messages.delete(h.admin, h.serviceSid, 'g', sids[3]!)
  assert.equal(await unread(), 4)
  const uc = await h.core.userChannels.fetch(h.admin, h.serviceSid, 'a', 'g')
  assert.equal(uc.lastConsumedMessageIndex, 3)
  assert.equal(
    (await h.core.members.fetch(h.admin, h.serviceSid, 'g', 'a')).lastConsumedMessageIndex,
    3,
  )
  // 3. The old formula (newest − horizon, capped by the count) would say min(6, 8 − 3) = 5 here.
  await h.core.messages.delete(h.admin, h.serviceSid, 'g', sids[6]!)
  assert.equal(await unread(), 3) // 4, 7, 8
  // 4. A new message counts; a horizon past the newest means 0; the list agrees with fetch.
  await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'new' })
  assert.equal(await unread(), 4)
  const listed = (await h.core.userChannels.list(h.admin, h.serviceSid, 'a')).items[0]
  assert.equal(listed?.unreadMessagesCount, 4)
  const r = await h.core.userChannels.update(h.user('a'), h.serviceSid, 'a', 'g', {
    lastConsumedMessageIndex: 50,
  })
  assert.equal(r.unreadMessagesCount, 0)
  await h.close()
})
