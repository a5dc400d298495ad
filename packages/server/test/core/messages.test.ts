import assert from 'node:assert/strict'
import { test } from 'node:test'
import { harness, rejectsCode } from './harness.ts'

test('REST messages default from to system, body to "", and get contiguous indexes', async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  const a = await h.core.messages.create(h.admin, h.serviceSid, 'g', {})
  const b = await h.core.messages.create(h.admin, h.serviceSid, 'g', {
    from: 'alice',
    body: 'hi',
    attributes: '{"x":1}',
  })
  assert.equal(a.message.from, 'system')
  assert.equal(a.message.body, '')
  assert.equal(a.message.index, 0)
  assert.equal(a.message.type, 'text')
  assert.equal(a.message.wasEdited, false)
  assert.equal(b.message.index, 1)
  assert.equal(b.message.from, 'alice')
  assert.match(b.message.sid, /^IM[0-9a-f]{32}$/)
  const c = await h.core.channels.fetch(h.admin, h.serviceSid, ch.sid)
  assert.equal(c.messagesCount, 2)
  assert.equal(c.lastMessageIndex, 1)
  await h.close()
})

test("a message carries its author's member SID when the author is a member, else null", async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'm' })
  await h.core.users.create(h.admin, h.serviceSid, { identity: 'alice' })
  const member = await h.core.members.create(h.admin, h.serviceSid, ch.sid, { identity: 'alice' })
  const byUser = await h.core.messages.create(h.user('alice'), h.serviceSid, 'm', { body: 'hi' })
  assert.equal(byUser.message.memberSid, member.sid)
  const byRest = await h.core.messages.create(h.admin, h.serviceSid, 'm', {
    from: 'alice',
    body: 'as alice',
  })
  assert.equal(byRest.message.memberSid, member.sid)
  const system = await h.core.messages.create(h.admin, h.serviceSid, 'm', { body: 'system' })
  assert.equal(system.message.memberSid, null)
  const stranger = await h.core.messages.create(h.admin, h.serviceSid, 'm', {
    from: 'nobody',
    body: 'x',
  })
  assert.equal(stranger.message.memberSid, null)
  await h.close()
})

test('4 concurrent writers × 500 messages get indexes 0..1999 with no gap or duplicate', async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, {})
  const writer = async (w: number) => {
    const idx: number[] = []
    for (let i = 0; i < 500; i++) {
      const r = await h.core.messages.create(h.admin, h.serviceSid, ch.sid, {
        from: `w${w}`,
        body: `${w}:${i}`,
      })
      idx.push(r.message.index)
    }
    return idx
  }
  const results = await Promise.all([0, 1, 2, 3].map(writer))
  // Each writer's own sequence is monotonic.
  for (const r of results) for (let i = 1; i < r.length; i++) assert.ok(r[i]! > r[i - 1]!)
  const all = results.flat().sort((x, y) => x - y)
  assert.deepEqual(
    all,
    Array.from({ length: 2000 }, (_, i) => i),
  )
  const c = await h.core.channels.fetch(h.admin, h.serviceSid, ch.sid)
  assert.equal(c.messagesCount, 2000)
  assert.equal(c.nextMessageIndex, 2000)
  assert.equal(await h.core.events.lastSeq(`messages:${ch.sid}`), 2000)
  await h.close()
})

test('body of exactly 32 KiB is accepted, one byte more → 50504; attributes 4 KiB', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'x'.repeat(32768) })
  await rejectsCode(
    h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'x'.repeat(32769) }),
    50504,
  )
  const attrs = JSON.stringify({ k: 'x'.repeat(4096 - 8) })
  await h.core.messages.create(h.admin, h.serviceSid, 'g', { attributes: attrs })
  await rejectsCode(
    h.core.messages.create(h.admin, h.serviceSid, 'g', { attributes: attrs + ' ' }),
    20001,
  )
  await rejectsCode(h.core.messages.create(h.admin, h.serviceSid, 'g', { attributes: '{' }), 20001)
  // A rejected message does not consume an index.
  const r = await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'ok' })
  assert.equal(r.message.index, 2)
  await h.close()
})

test('update sets was_edited on body change and last_updated_by; delete keeps counters exact', async () => {
  const h = await harness()
  const ch = await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  const { message } = await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'a' })
  const attrOnly = await h.core.messages.update(h.admin, h.serviceSid, 'g', message.sid, {
    attributes: '{"r":1}',
  })
  assert.equal(attrOnly.wasEdited, false)
  assert.equal(attrOnly.lastUpdatedBy, 'system')
  const edited = await h.core.messages.update(h.admin, h.serviceSid, 'g', message.sid, {
    body: 'b',
    lastUpdatedBy: 'mod',
  })
  assert.equal(edited.wasEdited, true)
  assert.equal(edited.lastUpdatedBy, 'mod')
  assert.equal(edited.index, 0)
  const second = await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'c' })
  await h.core.messages.delete(h.admin, h.serviceSid, 'g', second.message.sid)
  let c = await h.core.channels.fetch(h.admin, h.serviceSid, ch.sid)
  assert.equal(c.messagesCount, 1)
  assert.equal(c.lastMessageIndex, 0)
  // Indexes are never reused.
  const third = await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: 'd' })
  assert.equal(third.message.index, 2)
  await h.core.messages.delete(h.admin, h.serviceSid, 'g', message.sid)
  await h.core.messages.delete(h.admin, h.serviceSid, 'g', third.message.sid)
  c = await h.core.channels.fetch(h.admin, h.serviceSid, ch.sid)
  assert.equal(c.messagesCount, 0)
  assert.equal(c.lastMessageIndex, null)
  await rejectsCode(h.core.messages.fetch(h.admin, h.serviceSid, 'g', message.sid), 20404)
  await h.close()
})

test('client_message_id makes sends idempotent; the same id with another body → 20422', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  const results = await Promise.all(
    Array.from({ length: 50 }, () =>
      h.core.messages.create(h.admin, h.serviceSid, 'g', {
        from: 'alice',
        body: 'once',
        clientMessageId: 'k-1',
      }),
    ),
  )
  assert.equal(new Set(results.map((r) => r.message.sid)).size, 1)
  assert.equal(results.filter((r) => !r.duplicate).length, 1)
  assert.equal((await h.core.messages.list(h.admin, h.serviceSid, 'g')).items.length, 1)
  await rejectsCode(
    h.core.messages.create(h.admin, h.serviceSid, 'g', {
      from: 'alice',
      body: 'other',
      clientMessageId: 'k-1',
    }),
    20422,
  )
  // Scoped by author: another author may use the same id.
  const bob = await h.core.messages.create(h.admin, h.serviceSid, 'g', {
    from: 'bob',
    body: 'x',
    clientMessageId: 'k-1',
  })
  assert.equal(bob.duplicate, false)
  await h.close()
})

test('message pages in asc and desc order walk every message once, forwards and backwards', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  for (let i = 0; i < 23; i++)
    await h.core.messages.create(h.admin, h.serviceSid, 'g', { body: String(i) })
  for (const order of ['asc', 'desc'] as const) {
    const seen: number[] = []
    const pages: { prev: string | null; first: number }[] = []
    let token: string | undefined
    for (;;) {
      const p = await h.core.messages.list(
        h.admin,
        h.serviceSid,
        'g',
        { order },
        { pageSize: 5, pageToken: token },
      )
      pages.push({ prev: p.previousPageToken, first: p.items[0]!.index })
      seen.push(...p.items.map((m) => m.index))
      if (p.nextPageToken === null) break
      token = p.nextPageToken
    }
    const expected = Array.from({ length: 23 }, (_, i) => i)
    assert.deepEqual(seen, order === 'asc' ? expected : expected.reverse())
    // Walking back from the last page returns the pages before it.
    const last = pages[pages.length - 1]!
    const back = await h.core.messages.list(
      h.admin,
      h.serviceSid,
      'g',
      { order },
      { pageSize: 5, pageToken: last.prev ?? '' },
    )
    assert.equal(back.items[0]!.index, pages[pages.length - 2]!.first)
  }
  await h.close()
})

test('media messages carry the media and type media', async () => {
  const h = await harness()
  await h.core.channels.create(h.admin, h.serviceSid, { uniqueName: 'g' })
  const sid = 'ME' + 'a'.repeat(32)
  const r = await h.core.messages.create(h.admin, h.serviceSid, 'g', {
    mediaSid: sid,
    media: { sid, contentType: 'image/png', filename: 'a.png', size: 10 },
  })
  assert.equal(r.message.type, 'media')
  assert.equal(r.message.media?.contentType, 'image/png')
  await rejectsCode(h.core.messages.create(h.admin, h.serviceSid, 'g', { mediaSid: 'XX' }), 20001)
  await h.close()
})
